"""Tests of reading (and writing) the paper's long format."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gambitts.design.contexts import PAPER_CONTEXTS
from gambitts.design.longformat import read_long_format, to_long_frame
from gambitts.design.promptdb import PromptDatabase, PromptDatabaseError, load_prompt_database

N_CELLS = PAPER_CONTEXTS.n_cells


@pytest.fixture
def frame(tiny_prompt_db: PromptDatabase) -> pd.DataFrame:
    """Return the tiny database in long format."""
    return to_long_frame(tiny_prompt_db)


def write_csv(frame: pd.DataFrame, tmp_path: Path) -> Path:
    """Write ``frame`` to ``db.csv`` the way users should (no index) and return the path."""
    path = tmp_path / "db.csv"
    frame.to_csv(path, index=False)
    return path


def test_long_frame_layout(tiny_prompt_db: PromptDatabase, frame: pd.DataFrame) -> None:
    """One row per valid draw, key columns first, rows in (prompt, cell, draw) order."""
    assert list(frame.columns) == ["prompt", "curr_loc", "prev_steps", "optimism", "formality"]
    assert len(frame) == tiny_prompt_db.n_draws.sum()
    first = frame.iloc[0]
    assert (first["prompt"], first["curr_loc"], first["prev_steps"]) == ("more humor", "home", "1")
    assert first["optimism"] == tiny_prompt_db.z[0, 0, 0, 0]


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".pq"])
def test_round_trip_is_exact(tiny_prompt_db, frame, tmp_path, suffix) -> None:
    """Writing the long frame and reading it back gives the ragged database bit for bit."""
    path = tmp_path / f"db{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    db = load_prompt_database(path)
    np.testing.assert_array_equal(db.z, tiny_prompt_db.z)
    np.testing.assert_array_equal(db.n_draws, tiny_prompt_db.n_draws)
    assert db.prompts == tiny_prompt_db.prompts
    assert db.dims == tiny_prompt_db.dims
    assert db.attrs == {"source": path.name}


def test_order_of_prompts_and_draws_follows_the_rows(frame: pd.DataFrame, tmp_path) -> None:
    """Prompts come in order of first appearance, draws in row order."""
    shuffled = frame.iloc[::-1].reset_index(drop=True)
    db = read_long_format(write_csv(shuffled, tmp_path))
    assert db.prompts == ("more optimism", "less humor", "more humor")
    last = shuffled[(shuffled["prompt"] == "more humor") & (shuffled["curr_loc"] == "home")]
    first_draws = last[last["prev_steps"] == "1"][["optimism", "formality"]].to_numpy()
    np.testing.assert_array_equal(db.z[2, 0, : len(first_draws)], first_draws)


def test_cells_may_have_many_draws(tiny_prompt_db, frame: pd.DataFrame, tmp_path) -> None:
    """A cell with extra rows widens the draw axis; the others are padded."""
    extra = frame[(frame["prompt"] == "less humor") & (frame["curr_loc"] == "work")].head(1)
    cell = 4 + int(extra["prev_steps"].iloc[0]) - 1
    db = read_long_format(write_csv(pd.concat([frame, *[extra] * 6]), tmp_path))
    assert db.n_draws[1, cell] == tiny_prompt_db.n_draws[1, cell] + 6
    assert db.max_draws == max(tiny_prompt_db.max_draws, db.n_draws[1, cell])
    np.testing.assert_array_equal(db.z[1, cell, -6:].ravel(), np.tile(extra.iloc[0, 3:], 6))


def _set(frame: pd.DataFrame, row: int, column: str, value: object) -> pd.DataFrame:
    """Return a copy of ``frame`` with one cell replaced."""
    frame = frame.astype({column: object})
    frame.loc[row, column] = value
    return frame


def _drop_cell(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` without the rows of prompt 'more humor' in cell work/3."""
    cell = (frame["prompt"] == "more humor") & (frame["curr_loc"] == "work")
    return frame[~(cell & (frame["prev_steps"].astype(str) == "3"))]


BAD_FRAMES = {
    "missing-key-column": (
        lambda f: f.drop(columns="curr_loc"),
        r"lacks the column\(s\) \['curr_loc'\]; it needs \['prompt', 'curr_loc', 'prev_steps'\]",
    ),
    "no-dim-columns": (
        lambda f: f[["prompt", "curr_loc", "prev_steps"]],
        r"has no style-dimension columns",
    ),
    "non-numeric-dim": (
        lambda f: _set(f, 2, "formality", "high"),
        r"column 'formality' is not numeric: value 'high' at data row 3 \(CSV line 4\)",
    ),
    "empty-score": (
        lambda f: _set(f, 4, "optimism", None),
        r"column 'optimism' has an empty, NaN or infinite score at data row 5 \(CSV line 6\)",
    ),
    "infinite-score": (
        lambda f: _set(f, 1, "formality", np.inf),
        r"column 'formality' has an empty, NaN or infinite score at data row 2 ",
    ),
    "unknown-curr_loc": (
        lambda f: _set(f, 6, "curr_loc", "office"),
        r"column 'curr_loc' has unknown level 'office' at data row 7 \(CSV line 8\); "
        r"valid levels are home, work, other",
    ),
    "unknown-prev_steps": (
        lambda f: _set(f, 0, "prev_steps", 5),
        r"column 'prev_steps' has unknown level 5 at data row 1 \(CSV line 2\); "
        r"valid levels are 1, 2, 3, 4",
    ),
    "text-prev_steps": (
        lambda f: _set(f, 1, "prev_steps", "many"),
        r"unknown level 'many' at data row 2",
    ),
    "empty-prompt": (lambda f: _set(f, 3, "prompt", None), r"'prompt' is empty at data row 4"),
    "blank-prompt": (lambda f: _set(f, 3, "prompt", "  "), r"'prompt' is empty at data row 4"),
    "huge-score": (
        lambda f: _set(f, 4, "formality", 1e150),
        r"column 'formality' has the score 1e\+150 at data row 5 \(CSV line 6\); scores must be "
        r"at most 1e\+100 in magnitude",
    ),
    "huge-negative-score": (
        lambda f: _set(f, 0, "optimism", -3e101),
        r"column 'optimism' has the score -3e\+101 at data row 1 \(CSV line 2\)",
    ),
    "bool-dim": (
        lambda f: f.assign(formality=f["formality"] > 0),
        r"column 'formality' is not numeric: value (True|False) at data row 1",
    ),
    "empty-cell": (_drop_cell, r"prompt 'more humor' has no rows for cell work/3 \(1 empty"),
}


@pytest.mark.parametrize(("change", "message"), BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_csv_errors(frame, tmp_path, change, message) -> None:
    """Each malformed CSV raises a one-line error naming the column, row or cell."""
    path = write_csv(change(frame), tmp_path)
    with pytest.raises(PromptDatabaseError, match=message) as info:
        read_long_format(path)
    assert "\n" not in str(info.value)


def test_saved_index_column(frame: pd.DataFrame, tmp_path) -> None:
    """A CSV saved with its index is refused rather than read as an extra dim."""
    path = tmp_path / "db.csv"
    frame.to_csv(path)  # index=True adds a column without a header
    with pytest.raises(PromptDatabaseError, match=r"header \('Unnamed: 0', likely a saved"):
        read_long_format(path)


def test_parquet_errors_name_the_data_row(frame: pd.DataFrame, tmp_path) -> None:
    """Parquet errors give the 1-based data row (there are no CSV lines)."""
    path = tmp_path / "db.parquet"
    frame = frame.astype({"formality": str})  # Parquet columns hold one type
    _set(frame, 2, "formality", "high").to_parquet(path, index=False)
    with pytest.raises(PromptDatabaseError, match=r"value 'high' at data row 3;"):
        read_long_format(path)


@pytest.mark.parametrize(
    "content", ["", "prompt,curr_loc,prev_steps,optimism\n"], ids=["empty", "header-only"]
)
def test_empty_files(tmp_path, content) -> None:
    """An empty file and a header-only file are errors."""
    path = tmp_path / "db.csv"
    path.write_text(content)
    with pytest.raises(PromptDatabaseError, match=r"db.csv' (is empty|has no data rows)"):
        read_long_format(path)


def test_parquet_without_pyarrow(frame, tmp_path, monkeypatch) -> None:
    """Without pyarrow, reading Parquet says which extra to install."""
    path = tmp_path / "db.parquet"
    frame.to_parquet(path, index=False)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail
    with pytest.raises(PromptDatabaseError, match=r"pip install 'gambitts\[parquet\]'"):
        read_long_format(path)


def test_every_cell_is_filled(frame: pd.DataFrame, tmp_path) -> None:
    """A complete file gives at least one draw per (prompt, cell)."""
    db = read_long_format(write_csv(frame, tmp_path))
    assert db.n_draws.shape == (3, N_CELLS)
    assert db.n_draws.min() >= 1


def _one_line_error(path: Path, message: str) -> None:
    """Assert that reading ``path`` raises a one-line PromptDatabaseError matching ``message``."""
    with pytest.raises(PromptDatabaseError, match=message) as info:
        read_long_format(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "names", [("1", "01", "1.0"), ("NA", "null", " 1")], ids=["numeric-looking", "na-looking"]
)
def test_prompts_are_kept_as_written(frame: pd.DataFrame, tmp_path, names) -> None:
    """Prompts "1" and "01" are two prompts, not one number; "NA" and "null" are names too."""
    renamed = dict(zip(["more humor", "less humor", "more optimism"], names, strict=True))
    db = read_long_format(write_csv(frame.assign(prompt=frame["prompt"].map(renamed)), tmp_path))
    assert db.prompts == names
    assert db.n_prompts == 3


def test_na_like_prompt_does_not_hide_an_empty_one(frame: pd.DataFrame, tmp_path) -> None:
    """With a prompt named "NA" in the file, an empty prompt field is still refused."""
    frame = _set(frame.assign(prompt=frame["prompt"].replace("more humor", "NA")), 7, "prompt", "")
    _one_line_error(write_csv(frame, tmp_path), r"'prompt' is empty at data row 8 \(CSV line 9\)")


def test_parquet_prompt_column_types(frame: pd.DataFrame, tmp_path) -> None:
    """A Parquet integer prompt column gives its digits; floats and bools are refused."""
    path = tmp_path / "db.parquet"
    codes = {"more humor": 1, "less humor": 10, "more optimism": 2}
    frame.assign(prompt=frame["prompt"].map(codes)).to_parquet(path, index=False)
    assert read_long_format(path).prompts == ("1", "10", "2")
    frame.assign(prompt=frame["prompt"].map(codes) / 2).to_parquet(path, index=False)
    _one_line_error(path, r"column 'prompt' holds the float 0.5 at data row 1; prompt names must")
    frame.assign(prompt=frame["prompt"] == "less humor").to_parquet(path, index=False)
    _one_line_error(path, r"column 'prompt' holds the bool False at data row 1;")


def _csv_lines(frame: pd.DataFrame) -> list[str]:
    """Return ``frame`` as CSV lines, header first."""
    return frame.to_csv(index=False).splitlines()


@pytest.mark.parametrize("column", ["optimism", "prompt"])
def test_duplicate_csv_column(frame: pd.DataFrame, tmp_path, column: str) -> None:
    """A repeated header name is refused, not read as a new dimension named ``optimism.1``."""
    header, *rows = _csv_lines(frame)
    path = tmp_path / "db.csv"
    path.write_text("\n".join([f"{header},{column}"] + [f"{row},0.5" for row in rows]) + "\n")
    _one_line_error(path, rf"has the column '{column}' 2 times; every column needs its own name")


def test_duplicate_parquet_column(frame: pd.DataFrame, tmp_path) -> None:
    """Parquet may store two columns of one name; that is refused by name too."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    path = tmp_path / "db.parquet"
    pq.write_table(table.append_column("optimism", table["optimism"]), path)
    _one_line_error(path, r"has the column 'optimism' 2 times")


def test_dotted_column_name_is_a_dimension(frame: pd.DataFrame, tmp_path) -> None:
    """A column really named ``optimism.1`` (no duplicate) is read as that dimension."""
    db = read_long_format(write_csv(frame.rename(columns={"formality": "optimism.1"}), tmp_path))
    assert db.dims == ("optimism", "optimism.1")


@pytest.mark.parametrize(
    ("prefix", "suffix"), [("", ","), ("r{row},", "")], ids=["trailing-comma", "row-names"]
)
def test_more_fields_than_header(frame: pd.DataFrame, tmp_path, prefix, suffix) -> None:
    """Rows longer than the header are refused (pandas would drop their first field as index)."""
    header, *rows = _csv_lines(frame)
    path = tmp_path / "db.csv"
    rows = [prefix.format(row=i) + row + suffix for i, row in enumerate(rows)]
    path.write_text("\n".join([header, *rows]) + "\n")
    _one_line_error(path, r"data rows with more fields than the 5 names of its header row")


def test_blank_header_name(frame: pd.DataFrame, tmp_path) -> None:
    """A column whose header is only blanks is refused like a column without a header."""
    header, *rows = _csv_lines(frame)
    path = tmp_path / "db.csv"
    path.write_text("\n".join([f"{header}, "] + [f"{row},0.5" for row in rows]) + "\n")
    _one_line_error(path, r"has a column without a header \(' ', likely a saved index\)")


def test_bool_parquet_columns(frame: pd.DataFrame, tmp_path) -> None:
    """Bool dims and bool prev_steps in Parquet are refused, not read as 0 and 1."""
    path = tmp_path / "db.parquet"
    frame.assign(optimism=frame["optimism"] > 0).to_parquet(path, index=False)
    _one_line_error(path, r"column 'optimism' is not numeric: value (True|False) at data row 1;")
    frame.assign(prev_steps=frame["prev_steps"] == "1").to_parquet(path, index=False)
    _one_line_error(path, r"column 'prev_steps' has unknown level (True|False) at data row 1;")


def test_huge_parquet_score(frame: pd.DataFrame, tmp_path) -> None:
    """The score bound names the Parquet column and data row."""
    path = tmp_path / "db.parquet"
    _set(frame, 9, "optimism", 1e150).astype({"optimism": float}).to_parquet(path, index=False)
    _one_line_error(path, r"column 'optimism' has the score 1e\+150 at data row 10; scores must")


def test_to_long_frame_refuses_a_key_column_as_dim(tiny_prompt_db: PromptDatabase) -> None:
    """A dimension named ``prompt`` would give the table two prompt columns."""
    db = PromptDatabase(
        z=tiny_prompt_db.z,
        n_draws=tiny_prompt_db.n_draws,
        prompts=tiny_prompt_db.prompts,
        dims=("prompt", "formality"),
    )
    with pytest.raises(PromptDatabaseError, match=r"style dimension 'prompt' has the name of a"):
        to_long_frame(db)
