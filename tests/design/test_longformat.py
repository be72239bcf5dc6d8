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


# -- databases of your own: context columns from options or a study file, message texts ------

OWN_STUDY = """\
contexts:
  variables:
    - {name: time_of_day, levels: [morning, evening]}
    - {name: day, levels: [weekday, weekend]}
    - {name: sleep, levels: [4, 6, 10], values: [4, 6, 10]}
"""
OWN_COLUMNS = ["time_of_day", "day", "sleep"]


@pytest.fixture
def own_frame() -> pd.DataFrame:
    """Return a ragged long-format table of an own study: 2 prompts x 12 cells x 1-3 messages.

    Three context variables (time_of_day x day x a sleep bin in whole hours, whose text order
    "10" < "4" differs from its numeric order), a message column with commas, quotes, line
    breaks and "NA", and two style dimensions.
    """
    rng = np.random.default_rng(np.random.SeedSequence(11))
    rows = []
    for prompt in ("warm", "brief"):
        for time_of_day in ("morning", "evening"):
            for day in ("weekday", "weekend"):
                for sleep in (4, 6, 10):
                    for draw in range(int(rng.integers(1, 4))):
                        text = f'{prompt}, {time_of_day}: "sleep {sleep}h"\nmore ({draw})'
                        rows.append(
                            {
                                "prompt": prompt,
                                "time_of_day": time_of_day,
                                "day": day,
                                "sleep": sleep,
                                "message": "NA" if len(rows) == 5 else text,
                                "warmth": rng.normal(),
                                "urgency": rng.normal(),
                            }
                        )
    return pd.DataFrame(rows)


def write_study(tmp_path: Path, text: str = OWN_STUDY) -> Path:
    """Write a study file and return its path."""
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return path


def _expected_cells(frame: pd.DataFrame, db: PromptDatabase) -> None:
    """Assert that every row's scores and message sit in its (prompt, cell), in row order."""
    cells = db.contexts.cell_indices({name: frame[name].tolist() for name in db.contexts.names})
    seen = np.zeros(db.n_draws.shape, dtype=np.int64)
    for row, cell in zip(frame.itertuples(index=False), cells, strict=True):
        prompt = db.prompts.index(row.prompt)
        draw = seen[prompt, cell]
        seen[prompt, cell] += 1
        np.testing.assert_array_equal(db.z[prompt, cell, draw], [row.warmth, row.urgency])
        assert db.messages[prompt, cell, draw] == row.message
    np.testing.assert_array_equal(seen, db.n_draws)


def test_context_columns_infer_a_space(own_frame: pd.DataFrame, tmp_path) -> None:
    """Named columns become one-hot variables, levels sorted (numerically if whole numbers)."""
    db = read_long_format(write_csv(own_frame, tmp_path), context_columns=OWN_COLUMNS)
    assert db.contexts.to_dict() == {
        "variables": [
            {"name": "time_of_day", "levels": ["evening", "morning"]},
            {"name": "day", "levels": ["weekday", "weekend"]},
            {"name": "sleep", "levels": ["4", "6", "10"]},
        ]
    }
    assert db.contexts.cell_labels[:4] == (
        "evening/weekday/4",
        "evening/weekday/6",
        "evening/weekday/10",
        "evening/weekend/4",
    )
    assert db.dims == ("warmth", "urgency")
    assert db.prompts == ("warm", "brief")
    _expected_cells(own_frame, db)


def test_inferred_levels_do_not_depend_on_row_order(own_frame, tmp_path) -> None:
    """The same rows in another order give the same space (levels are sorted, not first-seen)."""
    first = read_long_format(write_csv(own_frame, tmp_path), context_columns=OWN_COLUMNS)
    shuffled = own_frame.sample(frac=1, random_state=3).reset_index(drop=True)
    second = read_long_format(write_csv(shuffled, tmp_path), context_columns=OWN_COLUMNS)
    assert second.contexts == first.contexts
    _expected_cells(shuffled, second)


def test_context_columns_in_the_order_named(own_frame, tmp_path) -> None:
    """Variables follow the order of the options, not of the file's columns."""
    db = read_long_format(
        write_csv(own_frame, tmp_path), context_columns=["sleep", "day", "time_of_day"]
    )
    assert db.contexts.names == ("sleep", "day", "time_of_day")


def test_a_study_file_declares_the_space(own_frame: pd.DataFrame, tmp_path) -> None:
    """With a study file the declared level order and numeric values are used as given."""
    from gambitts.design.study_file import load_context_space

    contexts = load_context_space(write_study(tmp_path))
    db = read_long_format(write_csv(own_frame, tmp_path), contexts=contexts)
    assert db.contexts is contexts
    assert db.contexts.cell_labels[0] == "morning/weekday/4"
    assert db.contexts.feature_names[0] == "sleep"
    _expected_cells(own_frame, db)


@pytest.mark.parametrize("how", ["context_columns", "study_file"])
def test_own_database_round_trips_through_netcdf(own_frame, tmp_path, how: str) -> None:
    """Saved and loaded again, the database keeps its context space and its messages."""
    import xarray as xr

    from gambitts.design.study_file import load_context_space

    csv = write_csv(own_frame, tmp_path)
    if how == "context_columns":
        db = load_prompt_database(csv, context_columns=OWN_COLUMNS)
    else:
        db = load_prompt_database(csv, contexts=load_context_space(write_study(tmp_path)))
    db.save(tmp_path / "own.nc")
    back = load_prompt_database(tmp_path / "own.nc")
    assert back.contexts == db.contexts
    np.testing.assert_array_equal(back.messages, db.messages)
    np.testing.assert_array_equal(back.z, db.z)
    np.testing.assert_array_equal(back.n_draws, db.n_draws)
    with xr.open_dataset(tmp_path / "own.nc", engine="h5netcdf") as ds:
        evening = ds.set_xindex("time_of_day").sel(time_of_day="evening")
        assert evening.sizes["cell"] == 6
        assert set(evening["cell"].values.tolist()) == {
            f"evening/{day}/{sleep}" for day in ("weekday", "weekend") for sleep in (4, 6, 10)
        }
        assert evening["message"].sizes == {"prompt": 2, "cell": 6, "draw": db.max_draws}


def test_to_long_frame_writes_the_messages(own_frame, tmp_path) -> None:
    """The long frame of a database with messages has a message column and reads back the same."""
    db = read_long_format(write_csv(own_frame, tmp_path), context_columns=OWN_COLUMNS)
    frame = to_long_frame(db)
    assert list(frame.columns) == ["prompt", *OWN_COLUMNS, "message", "warmth", "urgency"]
    path = tmp_path / "again.csv"
    frame.to_csv(path, index=False)
    back = read_long_format(path, contexts=db.contexts)
    np.testing.assert_array_equal(back.messages, db.messages)
    np.testing.assert_array_equal(back.z, db.z)


def test_messages_are_kept_as_written(own_frame, tmp_path) -> None:
    """Texts keep commas, quotes, line breaks; "NA" is a message, not a missing value."""
    db = read_long_format(write_csv(own_frame, tmp_path), context_columns=OWN_COLUMNS)
    texts = set(db.messages[db.draw_mask()].tolist())
    assert texts == set(own_frame["message"])
    assert "NA" in texts
    assert db.messages.dtype.kind == "U"
    assert (db.messages[~db.draw_mask()] == "").all()


def test_the_papers_files_keep_a_message_column(frame: pd.DataFrame, tmp_path) -> None:
    """A `message` column in a file of the paper's space is kept, not refused as a dimension."""
    texts = [f"message {i}" for i in range(len(frame))]
    db = read_long_format(write_csv(frame.assign(message=texts), tmp_path))
    assert db.contexts == PAPER_CONTEXTS
    assert db.dims == ("optimism", "formality")
    assert sorted(db.messages[db.draw_mask()].tolist()) == sorted(texts)


def test_a_text_column_or_a_named_message_column(own_frame, tmp_path) -> None:
    """A `text` column is the messages too; `message_column` names any other column."""
    renamed = own_frame.rename(columns={"message": "text"})
    db = read_long_format(write_csv(renamed, tmp_path), context_columns=OWN_COLUMNS)
    assert set(db.messages[db.draw_mask()].tolist()) == set(own_frame["message"])
    renamed = own_frame.rename(columns={"message": "body"})
    path = write_csv(renamed, tmp_path)
    db = read_long_format(path, context_columns=OWN_COLUMNS, message_column="body")
    assert set(db.messages[db.draw_mask()].tolist()) == set(own_frame["message"])


def test_a_confirmed_message_column_may_hold_digits(own_frame, tmp_path) -> None:
    """Messages that look like numbers are read as text once the column is named."""
    digits = own_frame.assign(message=[f"0{i}" for i in range(len(own_frame))])
    path = write_csv(digits, tmp_path)
    db = read_long_format(path, context_columns=OWN_COLUMNS, message_column="message")
    assert set(db.messages[db.draw_mask()].tolist()) == set(digits["message"])


def test_parquet_own_database(own_frame, tmp_path) -> None:
    """Parquet: an integer context column gives numeric-order levels; int messages give digits."""
    path = tmp_path / "own.parquet"
    own_frame.to_parquet(path, index=False)
    db = read_long_format(path, context_columns=OWN_COLUMNS)
    assert db.contexts.variable("sleep").levels == ("4", "6", "10")
    _expected_cells(own_frame, db)
    own_frame.assign(message=np.arange(len(own_frame))).to_parquet(path, index=False)
    db = read_long_format(path, context_columns=OWN_COLUMNS, message_column="message")
    assert db.messages[0, 0, 0].isdigit()


OWN_ERRORS = {
    "text-column-not-named": (
        lambda f: f.assign(weekday="Mon"),
        {"context_columns": OWN_COLUMNS},
        r"^column 'weekday' holds text \('Mon' at data row 1 \(CSV line 2\)\), so it is not a "
        r"style dimension; "
        r"name it as a context variable \(`--context weekday`, or in the study file's "
        r"`contexts`\) or as the message column \(`--message-column weekday`\)",
    ),
    "context-column-left-out": (
        lambda f: f,
        {"context_columns": ["day", "sleep"]},
        r"^column 'time_of_day' holds text \('morning' at data row 1 \(CSV line 2\)\)"
        r".*`--context time_of_day`",
    ),
    "both-contexts-and-columns": (
        lambda f: f,
        {"context_columns": OWN_COLUMNS, "contexts": PAPER_CONTEXTS},
        r"give either `contexts` \(.*--contexts STUDY.yaml\) or `context_columns` \(.*--context "
        r"COLUMN\), not both",
    ),
    "missing-context-column": (
        lambda f: f,
        {"context_columns": [*OWN_COLUMNS, "mood"]},
        r"lacks the column\(s\) \['mood'\]; it needs \['prompt', 'time_of_day', 'day', 'sleep', "
        r"'mood'\]",
    ),
    "context-column-twice": (
        lambda f: f,
        {"context_columns": ["day", "sleep", "day"]},
        r"context column 'day' is named twice \(--context day\)",
    ),
    "context-column-is-a-file": (
        lambda f: f,
        {"context_columns": ["study.yaml"]},
        r"--context names a column, got the file 'study.yaml'; give a study file with --contexts",
    ),
    "context-column-not-an-identifier": (
        lambda f: f.rename(columns={"day": "day type"}),
        {"context_columns": ["time_of_day", "day type", "sleep"]},
        r"context column 'day type' \(--context\) cannot name a context variable: .*rename the "
        r"column, e.g. 'day_type'",
    ),
    "prompt-as-context": (
        lambda f: f,
        {"context_columns": ["prompt"]},
        r"column 'prompt' names the prompts and cannot be a context variable",
    ),
    "empty-context-field": (
        lambda f: _set(f, 4, "day", ""),
        {"context_columns": OWN_COLUMNS},
        r"context column 'day' is empty at data row 5 \(CSV line 6\); give every row its level",
    ),
    "padded-level": (
        lambda f: _set(f, 4, "day", " weekday"),
        {"context_columns": OWN_COLUMNS},
        r"context column 'day' holds the level ' weekday' at data row 5 \(CSV line 6\); a level "
        r"is a non-blank",
    ),
    "an-id-as-context": (
        lambda f: f.assign(row_id=range(len(f))),
        {"context_columns": [*OWN_COLUMNS, "row_id"]},
        r"the context columns 'time_of_day' \(2 levels\) x 'day' \(2 levels\) x 'sleep' \(3 "
        r"levels\) x 'row_id' \(\d+ levels\) make \d+ cells, so 2 prompt\(s\) need at least \d+ "
        r"rows, but the file has \d+;",
    ),
    "empty-pair": (
        lambda f: f[~((f["prompt"] == "brief") & (f["sleep"] == 6) & (f["day"] == "weekend"))],
        {"context_columns": OWN_COLUMNS},
        r"prompt 'brief' has no rows for cell evening/weekend/6 \(2 empty \(prompt, cell\) "
        r"pair\(s\) in all\); every prompt needs draws in all 12 cells \(time_of_day x day x "
        r"sleep\)$",
    ),
    "nan-score": (
        lambda f: _set(f, 7, "urgency", np.nan),
        {"context_columns": OWN_COLUMNS},
        r"column 'urgency' has an empty, NaN or infinite score at data row 8 \(CSV line 9\);",
    ),
    "inf-score": (
        lambda f: _set(f, 2, "warmth", -np.inf),
        {"context_columns": OWN_COLUMNS},
        r"column 'warmth' has an empty, NaN or infinite score at data row 3 \(CSV line 4\);",
    ),
    "named-message-column-missing": (
        lambda f: f,
        {"context_columns": OWN_COLUMNS, "message_column": "body"},
        r"has no message column 'body' \(--message-column\); its columns are \['prompt',",
    ),
    "message-and-text": (
        lambda f: f.assign(text=f["message"]),
        {"context_columns": OWN_COLUMNS},
        r"has both a 'message' and a 'text' column; say which holds the messages' text with "
        r"--message-column",
    ),
    "message-column-is-a-key": (
        lambda f: f,
        {"context_columns": OWN_COLUMNS, "message_column": "day"},
        r"column 'day' cannot be both the message column \(--message-column\) and a key column",
    ),
    "empty-message": (
        lambda f: _set(f, 3, "message", ""),
        {"context_columns": OWN_COLUMNS},
        r"message column 'message' is empty at data row 4 \(CSV line 5\); every row needs",
    ),
    "blank-message": (
        lambda f: _set(f, 3, "message", "   "),
        {"context_columns": OWN_COLUMNS},
        r"message column 'message' holds the blank message '   ' at data row 4 \(CSV line 5\);",
    ),
    "numbers-in-a-text-column": (
        lambda f: f.drop(columns="message").assign(text=f["warmth"]),
        {"context_columns": OWN_COLUMNS},
        r"column 'text' is read as the messages' text by its name but holds only numbers .*; "
        r"rename it if it is a style dimension, or confirm it with --message-column text",
    ),
    "no-dims-beside-the-messages": (
        lambda f: f.drop(columns=["warmth", "urgency"]),
        {"context_columns": OWN_COLUMNS},
        r"has no style-dimension columns; add one numeric column per dimension besides "
        r"\['prompt', 'time_of_day', 'day', 'sleep', 'message'\]",
    ),
}


@pytest.mark.parametrize(("change", "options", "message"), OWN_ERRORS.values(), ids=OWN_ERRORS)
def test_own_database_errors(own_frame, tmp_path, change, options, message) -> None:
    """Each problem of an own database is a one-line error naming the column, row or option."""
    path = write_csv(change(own_frame.drop(columns="message").assign(message="hi")), tmp_path)
    with pytest.raises(PromptDatabaseError, match=message) as info:
        read_long_format(path, **options)
    assert "\n" not in str(info.value)


STUDY_ERRORS = {
    "unknown-level": (
        lambda f: _set(f, 6, "day", "holiday"),
        OWN_STUDY,
        r"^column 'day' has unknown level 'holiday' at data row 7 \(CSV line 8\); valid levels "
        r"are weekday, weekend; fix the row, or declare the level in the context space",
    ),
    "number-written-otherwise": (
        lambda f: _set(f, 0, "sleep", "04"),
        OWN_STUDY,
        r"column 'sleep' has unknown level '04' at data row 1 \(CSV line 2\); valid levels are "
        r"4, 6, 10",
    ),
    "declared-level-without-rows": (
        lambda f: f,
        OWN_STUDY.replace("[morning, evening]", "[morning, evening, night]"),
        r"prompt 'warm' has no rows for cell night/weekday/4 \(12 empty \(prompt, cell\) pair\(s\)"
        r" in all\); every prompt needs draws in all 18 cells \(time_of_day x day x sleep\); "
        r"level 'night' of 'time_of_day' has no rows at all",
    ),
    "declared-variable-not-a-column": (
        lambda f: f.drop(columns="day"),
        OWN_STUDY,
        r"lacks the column\(s\) \['day'\]; it needs \['prompt', 'time_of_day', 'day', 'sleep'\] "
        r"plus one numeric column per style dimension$",
    ),
    "undeclared-text-column": (
        lambda f: f.assign(weather="rain"),
        OWN_STUDY,
        r"^column 'weather' holds text \('rain' at data row 1 \(CSV line 2\)\), so it is not a "
        r"style dimension",
    ),
}


@pytest.mark.parametrize(("change", "study", "message"), STUDY_ERRORS.values(), ids=STUDY_ERRORS)
def test_study_file_database_errors(own_frame, tmp_path, change, study, message) -> None:
    """Against a declared space, unknown and missing levels are one-line errors."""
    from gambitts.design.study_file import load_context_space

    contexts = load_context_space(write_study(tmp_path, study))
    path = write_csv(change(own_frame.drop(columns="message").assign(message="hi")), tmp_path)
    with pytest.raises(PromptDatabaseError, match=message) as info:
        read_long_format(path, contexts=contexts)
    assert "\n" not in str(info.value)


def test_duplicate_columns_with_own_contexts(own_frame, tmp_path) -> None:
    """A repeated column is refused with named context columns too."""
    header, *rows = _csv_lines(own_frame.drop(columns="message"))
    path = tmp_path / "db.csv"
    path.write_text("\n".join([f"{header},day"] + [f"{row},weekday" for row in rows]) + "\n")
    with pytest.raises(PromptDatabaseError, match=r"has the column 'day' 2 times") as info:
        read_long_format(path, context_columns=OWN_COLUMNS)
    assert "\n" not in str(info.value)


def test_rows_spanning_lines_are_named_by_data_row(own_frame, tmp_path) -> None:
    """With a message spanning two CSV lines, a CSV line number would be wrong: only the row."""
    path = write_csv(_set(own_frame, 9, "warmth", "high"), tmp_path)
    with pytest.raises(PromptDatabaseError, match=r"value 'high' at data row 10; every") as info:
        read_long_format(path, context_columns=OWN_COLUMNS)
    assert "CSV line" not in str(info.value)


def test_parquet_fractional_context_level(own_frame, tmp_path) -> None:
    """A fractional number cannot be a level: bin the column first."""
    path = tmp_path / "own.parquet"
    own_frame.assign(sleep=own_frame["sleep"] + 0.5).to_parquet(path, index=False)
    _one_line_error_with(
        path,
        {"context_columns": OWN_COLUMNS},
        r"context column 'sleep' holds the float 4.5 at data row 1; .*bin the column",
    )


def _one_line_error_with(path: Path, options: dict, message: str) -> None:
    with pytest.raises(PromptDatabaseError, match=message) as info:
        read_long_format(path, **options)
    assert "\n" not in str(info.value)


def test_papers_file_without_its_columns_names_the_options(own_frame, tmp_path) -> None:
    """Without options an own file is read as the paper's, and the error says what to give."""
    _one_line_error_with(
        write_csv(own_frame, tmp_path),
        {},
        r"lacks the column\(s\) \['curr_loc', 'prev_steps'\]; .*for your own, name their columns "
        r"with --context COLUMN or give a study file with --contexts STUDY.yaml\)$",
    )
