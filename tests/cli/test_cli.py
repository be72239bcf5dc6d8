"""The ``gambitts`` command, through click's CliRunner."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from gambitts.cli.main import main


def _run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_simulate_writes_results_a_figure_and_a_summary(tmp_path):
    result = _run(
        "simulate",
        "--experiment",
        "var_decomp_linear",
        "--replicates",
        "3",
        "--horizon",
        "15",
        "--seed",
        "5",
        "--out",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert "Final cumulative regret at T=15" in result.output
    for agent in ("StdTS", "poGAMBITTS", "foGAMBITTS"):
        assert agent in result.output
    with xr.open_dataset(tmp_path / "var_decomp_linear.nc", engine="h5netcdf") as ds:
        assert dict(ds["regret"].sizes) == {"noise_level": 5, "agent": 3, "replicate": 3, "t": 15}
        assert ds.attrs["seed"] == 5
    assert (tmp_path / "var_decomp_linear.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--experiment", "nope"],
            "unknown experiment 'nope'; choose one of ['var_decomp_linear']",
        ),
        (
            ["--experiment", "var_decomp_linear", "--replicates", "0"],
            "must be a positive integer, got 0",
        ),
        (
            ["--experiment", "var_decomp_linear", "--horizon", "-3"],
            "must be a positive integer, got -3",
        ),
        (["--experiment", "var_decomp_linear", "--prompt-db", "missing.csv"], "missing.csv"),
    ],
    ids=["unknown-experiment", "zero-replicates", "negative-horizon", "missing-db"],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, message):
    result = _run("simulate", *args, "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not list((tmp_path).glob("**/*.nc"))


def test_unwritable_output_is_refused_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = _run("simulate", "--experiment", "var_decomp_linear", "--out", str(blocker / "sub"))
    assert result.exit_code == 2
    assert result.output.startswith("Error: cannot write to output directory")
    assert len(result.output.strip().splitlines()) == 1


def test_promptdb_writes_and_checks_the_stand_in(tmp_path):
    path = tmp_path / "db.nc"
    written = _run("promptdb", "--out", str(path))
    assert written.exit_code == 0, written.output
    checked = _run("promptdb", "--check", str(path))
    assert checked.exit_code == 0
    assert "prompts: 40, cells: 12, draws per cell: 950, dims: 20" in checked.output


def test_promptdb_check_reports_the_first_problem(tmp_path):
    path = tmp_path / "db.csv"
    pd.DataFrame(
        {"prompt": ["p"], "curr_loc": ["garden"], "prev_steps": [1], "optimism": [0.1]}
    ).to_csv(path, index=False)
    result = _run("promptdb", "--check", str(path))
    assert result.exit_code == 2
    assert "garden" in result.output and len(result.output.strip().splitlines()) == 1


def test_promptdb_needs_exactly_one_action():
    assert _run("promptdb").exit_code == 2


def test_simulate_runs_on_a_users_long_format_database(tmp_path, standin_db):
    # A user's database: the stand-in's first 6 prompts, 30 draws per cell, as long-format CSV.
    rows = []
    for p in range(6):
        for cell, (loc, steps) in enumerate(
            [(loc, s) for loc in ("home", "work", "other") for s in (1, 2, 3, 4)]
        ):
            scores = standin_db.z[p, cell, :30]
            frame = pd.DataFrame(scores, columns=list(standin_db.dims))
            frame.insert(0, "prev_steps", steps)
            frame.insert(0, "curr_loc", loc)
            frame.insert(0, "prompt", standin_db.prompts[p])
            rows.append(frame)
    path = tmp_path / "mine.csv"
    pd.concat(rows).to_csv(path, index=False)
    result = _run(
        "simulate",
        "--experiment",
        "var_decomp_linear",
        "--replicates",
        "2",
        "--horizon",
        "5",
        "--prompt-db",
        str(path),
        "--out",
        str(tmp_path / "out"),
        "--no-plot",
    )
    assert result.exit_code == 0, result.output
    with xr.open_dataset(tmp_path / "out" / "var_decomp_linear.nc", engine="h5netcdf") as ds:
        assert set(ds["arm_prompt"].values) <= set(standin_db.prompts[:6])
        assert np.all(np.isfinite(ds["reward"].values))
