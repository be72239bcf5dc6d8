"""`gambitts promptdb` and `gambitts simulate` on databases of one's own context space."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from gambitts.cli.main import main
from gambitts.design.promptdb import PromptDatabaseError, load_prompt_database

STUDY = """\
contexts:
  variables:
    - {name: time_of_day, levels: [morning, evening]}
    - {name: day, levels: [weekday, weekend]}
    - {name: sleep, levels: [short, ok, long], values: [5.5, 7, 8.5]}
"""
CONTEXT_OPTIONS = ("--context", "time_of_day", "--context", "day", "--context", "sleep")


def _run(*args: object):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def _one_line_error(result, *fragments: str) -> None:
    """Assert exit code 2, nothing on stdout and one line on stderr holding ``fragments``."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("Error: ")
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.fixture
def own_csv(tmp_path: Path) -> Path:
    """Write a 3-variable long-format CSV with messages (3 prompts x 12 cells x 2 messages)."""
    rng = np.random.default_rng(np.random.SeedSequence(3))
    rows = [
        {
            "prompt": prompt,
            "time_of_day": time_of_day,
            "day": day,
            "sleep": sleep,
            "message": f"{prompt} note {draw}: sleep is {sleep}, it's {time_of_day}",
            "warmth": rng.normal(),
            "urgency": rng.normal(),
        }
        for prompt, time_of_day, day, sleep, draw in itertools.product(
            ("gentle", "firm", "plan"),
            ("morning", "evening"),
            ("weekday", "weekend"),
            ("short", "ok", "long"),
            range(2),
        )
    ]
    path = tmp_path / "own.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def study(tmp_path: Path) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(STUDY)
    return path


def test_check_with_context_options(own_csv: Path) -> None:
    """--context names the columns; levels come from the data, sorted; messages are found."""
    result = _run("promptdb", "--check", own_csv, *CONTEXT_OPTIONS)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "prompts: 3, cells: 12, draws per cell: 2, dims: 2",
        "contexts: time_of_day (evening, morning) x day (weekday, weekend) x "
        "sleep (long, ok, short): 12 cells",
        "messages: yes",
    ]


def test_check_with_a_study_file(own_csv: Path, study: Path) -> None:
    """--contexts declares the levels, their order and the numeric values."""
    result = _run("promptdb", "--check", own_csv, "--contexts", study)
    assert result.exit_code == 0, result.output
    assert (
        "contexts: time_of_day (morning, evening) x day (weekday, weekend) x "
        "sleep (short=5.5, ok=7, long=8.5): 12 cells" in result.stdout
    )
    assert "messages: yes" in result.stdout


def test_saved_database_keeps_its_space_and_messages(own_csv, study, tmp_path) -> None:
    """A NetCDF copy checks the same, without options: the file carries its context space."""
    from gambitts.design.study_file import load_context_space

    db = load_prompt_database(own_csv, contexts=load_context_space(study))
    db.save(tmp_path / "own.nc")
    from_csv = _run("promptdb", "--check", own_csv, "--contexts", study)
    from_netcdf = _run("promptdb", "--check", tmp_path / "own.nc")
    assert from_netcdf.exit_code == 0, from_netcdf.output
    assert from_netcdf.stdout == from_csv.stdout


def test_message_column_option(own_csv: Path, tmp_path: Path) -> None:
    """--message-column names a message column of another name."""
    path = tmp_path / "body.csv"
    pd.read_csv(own_csv).rename(columns={"message": "body"}).to_csv(path, index=False)
    result = _run("promptdb", "--check", path, *CONTEXT_OPTIONS, "--message-column", "body")
    assert result.exit_code == 0, result.output
    assert "dims: 2" in result.stdout and "messages: yes" in result.stdout


def test_the_stand_in_reports_the_papers_space(tmp_path: Path) -> None:
    """--out describes the stand-in: the paper's space and no messages."""
    result = _run("promptdb", "--out", tmp_path / "db.nc")
    assert result.exit_code == 0, result.output
    assert "contexts: curr_loc (home, work, other) x prev_steps (1=1, 2=2, 3=3, 4=4): 12 cells" in (
        result.stdout
    )
    assert "messages: none" in result.stdout


def _hostile(own_csv: Path, tmp_path: Path, change) -> Path:
    path = tmp_path / "hostile.csv"
    change(pd.read_csv(own_csv, keep_default_na=False)).to_csv(path, index=False)
    return path


def _set(frame: pd.DataFrame, row: int, column: str, value: object) -> pd.DataFrame:
    frame = frame.astype({column: object})
    frame.loc[row, column] = value
    return frame


HOSTILE_FILES = {
    "text-column": (
        lambda f: f.assign(weekday="Mon"),
        CONTEXT_OPTIONS,
        [
            "column 'weekday' holds text ('Mon' at data row 1 (CSV line 2)), so it is not a style "
            "dimension; name it as a context variable (`--context weekday`, or in the study "
            "file's `contexts`) or as the message column (`--message-column weekday`)"
        ],
    ),
    "no-options": (
        lambda f: f,
        (),
        ["lacks the column(s) ['curr_loc', 'prev_steps']", "--context COLUMN", "--contexts"],
    ),
    "nan-score": (
        lambda f: _set(f, 4, "warmth", "nan"),
        CONTEXT_OPTIONS,
        ["column 'warmth' has an empty, NaN or infinite score at data row 5 (CSV line 6)"],
    ),
    "empty-pair": (
        lambda f: f[~((f["prompt"] == "plan") & (f["sleep"] == "ok"))],
        CONTEXT_OPTIONS,
        ["prompt 'plan' has no rows for cell evening/weekday/ok (4 empty (prompt, cell) pair(s)"],
    ),
    "missing-message-column": (
        lambda f: f,
        (*CONTEXT_OPTIONS, "--message-column", "body"),
        ["has no message column 'body' (--message-column)"],
    ),
    "empty-message": (
        lambda f: _set(f, 2, "message", ""),
        CONTEXT_OPTIONS,
        ["message column 'message' is empty at data row 3 (CSV line 4)"],
    ),
}


@pytest.mark.parametrize(
    ("change", "options", "fragments"), HOSTILE_FILES.values(), ids=HOSTILE_FILES
)
def test_check_hostile_files(own_csv, tmp_path, change, options, fragments) -> None:
    """Each problem of an own long-format file is one line on stderr, exit code 2."""
    path = _hostile(own_csv, tmp_path, change)
    _one_line_error(_run("promptdb", "--check", path, *options), *fragments)


def test_check_against_a_study_file(own_csv, study, tmp_path) -> None:
    """An unknown level and a declared level missing from the data, against a study file."""
    path = _hostile(own_csv, tmp_path, lambda f: _set(f, 6, "day", "holiday"))
    _one_line_error(
        _run("promptdb", "--check", path, "--contexts", study),
        "column 'day' has unknown level 'holiday' at data row 7 (CSV line 8); valid levels are "
        "weekday, weekend",
    )
    night = tmp_path / "night.yaml"
    night.write_text(STUDY.replace("[morning, evening]", "[morning, evening, night]"))
    _one_line_error(
        _run("promptdb", "--check", own_csv, "--contexts", night),
        "prompt 'gentle' has no rows for cell night/weekday/short",
        "level 'night' of 'time_of_day' has no rows at all",
    )


def test_duplicate_column(own_csv: Path, tmp_path: Path) -> None:
    """A header naming a column twice is refused by name."""
    header, *rows = own_csv.read_text().splitlines()
    path = tmp_path / "dup.csv"
    path.write_text("\n".join([f"{header},day", *[f"{row},weekday" for row in rows]]) + "\n")
    _one_line_error(
        _run("promptdb", "--check", path, *CONTEXT_OPTIONS), "has the column 'day' 2 times"
    )


def test_option_errors(own_csv: Path, study: Path, tmp_path: Path) -> None:
    """Options that do not fit together, or do not fit the file, are one-line errors."""
    _one_line_error(
        _run("promptdb", "--check", own_csv, "--context", "day", "--contexts", study),
        "give --context COLUMN (levels from the data) or --contexts STUDY.yaml",
    )
    _one_line_error(
        _run("promptdb", "--check", own_csv, "--context", "study.yaml"),
        "--context names a column, got the file 'study.yaml'; give a study file with --contexts",
    )
    _one_line_error(
        _run("promptdb", "--out", tmp_path / "db.nc", "--context", "day"),
        "use them with --check FILE, not --out",
    )
    assert not (tmp_path / "db.nc").exists()
    _run("promptdb", "--out", tmp_path / "standin.nc")
    _one_line_error(
        _run("promptdb", "--check", tmp_path / "standin.nc", "--contexts", study),
        "is NetCDF, which carries its own context space and messages",
        "--contexts (`contexts`)",
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(STUDY + "world: linear\n")
    _one_line_error(
        _run("promptdb", "--check", own_csv, "--contexts", bad),
        f"study file '{bad}' has unknown top-level key(s) ['world']",
    )


# Tiny, so that a regression that runs the simulation instead of refusing fails fast.
SIMULATE = (
    "simulate",
    "--experiment",
    "var_decomp_linear",
    "--replicates",
    "1",
    "--horizon",
    "2",
    "--workers",
    "1",
    "--no-plot",
)


def test_simulate_options_need_a_long_format_database(own_csv, study, tmp_path) -> None:
    """Without --prompt-db, or with a NetCDF one, the reading options are one-line errors."""
    out = ("--out", tmp_path / "out")
    _one_line_error(
        _run(*SIMULATE, *out, "--contexts", study),
        "--context, --contexts and --message-column say how to read a long-format --prompt-db",
    )
    _run("promptdb", "--out", tmp_path / "standin.nc")
    _one_line_error(
        _run(*SIMULATE, *out, "--prompt-db", tmp_path / "standin.nc", "--message-column", "m"),
        "is NetCDF, which carries its own context space and messages",
    )
    text_column = _hostile(own_csv, tmp_path, lambda f: f.assign(weekday="Mon"))
    _one_line_error(
        _run(*SIMULATE, *out, "--prompt-db", text_column, *CONTEXT_OPTIONS),
        "column 'weekday' holds text",
    )


@pytest.mark.parametrize("how", ["context", "contexts"])
def test_simulate_reads_the_database_with_the_options(own_csv, study, tmp_path, monkeypatch, how):
    """`gambitts simulate` hands the reading options to load_prompt_database."""
    import gambitts.design.promptdb as promptdb

    original = promptdb.load_prompt_database
    seen = {}

    def spy(path, **options):
        seen.update(options, database=original(path, **options))
        raise PromptDatabaseError("stop here: the database was read")

    monkeypatch.setattr(promptdb, "load_prompt_database", spy)
    options = CONTEXT_OPTIONS if how == "context" else ("--contexts", study)
    result = _run(
        *SIMULATE,
        "--out",
        tmp_path / "out",
        "--prompt-db",
        own_csv,
        *options,
        "--message-column",
        "message",
    )
    _one_line_error(result, "stop here")
    assert seen["message_column"] == "message"
    db = seen["database"]
    assert db.contexts.names == ("time_of_day", "day", "sleep")
    assert db.messages is not None
    if how == "context":
        assert seen["context_columns"] == ["time_of_day", "day", "sleep"]
        assert seen["contexts"] is None
    else:
        assert seen["context_columns"] is None
        assert db.contexts.variable("sleep").values == (5.5, 7.0, 8.5)
