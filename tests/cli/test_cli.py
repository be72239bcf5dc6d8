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


SMALL = ("--replicates", "3", "--horizon", "15", "--seed", "5", "--workers", "1")


def test_simulate_writes_results_figures_and_a_summary_and_resumes(tmp_path):
    out = ("--out", str(tmp_path))
    result = _run("simulate", "--experiment", "var_decomp_linear", *SMALL, *out)
    assert result.exit_code == 0, result.output
    assert "final cumulative regret at T=15" in result.output
    for agent in ("StdTS", "poGAMBITTS", "ens-poGAMBITTS", "foGAMBITTS"):
        assert agent in result.output
    with xr.open_dataset(tmp_path / "var_decomp_linear.nc", engine="h5netcdf") as ds:
        assert dict(ds["regret"].sizes) == {"noise_level": 5, "agent": 4, "replicate": 3, "t": 15}
        assert ds.attrs["seed"] == 5
    assert (tmp_path / "plots" / "var_decomp_linear.png").stat().st_size > 10_000
    assert (tmp_path / "plots" / "var_decomp_linear.pdf").exists()
    again = _run("simulate", "--experiment", "var_decomp_linear", *SMALL, *out, "--no-plot")
    assert "20 configurations, 20 already finished" in again.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["--experiment", "nope"], "unknown experiment 'nope'; choose one of ['one_d_sim'"),
        (["--experiment", "covariates", "--all"], "give --experiment NAME, --all or --config FILE"),
        (["--config", "missing.yaml"], "cannot read experiment file 'missing.yaml'"),
        (["--experiment", "covariates", "--replicates", "0"], "must be a positive integer, got 0"),
        (["--experiment", "covariates", "--horizon", "-3"], "must be a positive integer, got -3"),
        (["--experiment", "covariates", "--prompt-db", "missing.csv"], "missing.csv"),
    ],
    ids=[
        "unknown-experiment",
        "experiment-and-all",
        "missing-config",
        "zero-replicates",
        "negative-horizon",
        "missing-db",
    ],
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
        "simulate", "--experiment", "var_decomp_linear", "--replicates", "2", "--horizon", "5",
        "--prompt-db", str(path), "--out", str(tmp_path / "out"), "--no-plot", "--workers", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with xr.open_dataset(tmp_path / "out" / "var_decomp_linear.nc", engine="h5netcdf") as ds:
        assert set(ds["arm_prompt"].values.ravel()) <= set(standin_db.prompts[:6])
        assert np.all(np.isfinite(ds["reward"].values))


def test_experiments_lists_every_block_with_a_line_each():
    result = _run("experiments")
    lines = result.output.strip().splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("one_d_sim") and "misspecification" in lines[0]


def test_a_users_config_runs_and_plot_and_report_read_its_results(tmp_path):
    config = tmp_path / "mine.yaml"
    config.write_text(
        "tiny_block:\n"
        "  description: two prompts, two agents\n"
        "  outcome_model: linear_1d\n"
        "  n_prompts: 2\n"
        "  vary: noise_level\n"
        "  values: [0, 4]\n"
        "  agents: [{kind: StdTS}, {kind: poGAMBITTS, dims: [optimism]}]\n"
    )
    out = tmp_path / "out"
    result = _run(
        "simulate",
        "--config",
        str(config),
        "--replicates",
        "4",
        "--horizon",
        "20",
        "--out",
        str(out),
        "--workers",
        "1",
        "--no-plot",
    )
    assert result.exit_code == 0, result.output
    plotted = _run("plot", str(out))
    assert plotted.exit_code == 0, plotted.output
    assert (out / "plots" / "tiny_block.png").exists() and (
        out / "plots" / "tiny_block.pdf"
    ).exists()
    reported = _run("report", str(out))
    assert reported.exit_code == 0
    assert "## tiny_block" in reported.output and "| sd_4 | poGAMBITTS |" in reported.output
    text = (out / "report.md").read_text()
    assert "ratio to StdTS" in text and "| sd_0 | StdTS |" in text
    assert "| 1.00 |" in text  # StdTS's ratio to itself


def test_plot_and_report_say_when_there_is_nothing_to_read(tmp_path):
    for command in ("plot", "report"):
        result = _run(command, str(tmp_path))
        assert result.exit_code == 2
        assert "no results (*.nc)" in result.output


def test_saved_posteriors_open_in_arviz_and_inspect_prints_them(tmp_path):
    import arviz as az

    out = tmp_path / "out"
    args = (
        "--replicates",
        "3",
        "--horizon",
        "30",
        "--workers",
        "1",
        "--no-plot",
        "--out",
        str(out),
    )
    result = _run("simulate", "--experiment", "covariates", *args, "--save-posteriors", "0,2")
    assert result.exit_code == 0, result.output
    tree = xr.open_datatree(out / "covariates.nc", engine="h5netcdf")
    posterior = tree["posteriors/default/poGAMBITTS/replicate_2"].to_dataset()
    summary = az.summary(posterior, kind="stats")
    assert "beta[optimism]" in summary.index and "beta[curr_loc[work]]" in summary.index
    assert set(tree["posteriors/default"].children) == {
        "poGAMBITTS", "ens-poGAMBITTS", "foGAMBITTS", "StdTS", "StdTS:Contextual"
    }  # fmt: skip
    inspected = _run("inspect", str(out / "covariates.nc"))
    assert inspected.exit_code == 0
    assert "/posteriors/default/foGAMBITTS/replicate_0" in inspected.output
    assert "beta[intercept]" in inspected.output
    bad = _run("simulate", "--experiment", "covariates", *args, "--save-posteriors", "7")
    assert bad.exit_code == 2 and "outside 0..2" in bad.output


def test_replayed_posteriors_are_the_runs_final_posteriors(standin_db):
    from gambitts.sims.experiments import load_experiment
    from gambitts.sims.replay import final_posteriors
    from gambitts.sims.runner import prepare_run

    config = (
        load_experiment("var_decomp_linear").with_overrides(horizon=60).settings()[0].configs[1]
    )
    replayed = final_posteriors(config, standin_db, seed=4, replicates=[2])[2]
    run = prepare_run(config, standin_db, 4, np.arange(4))
    run.simulate()
    exact_mean = run.agent.stage2_.mean_[2]
    draws = replayed["beta"].values.reshape(-1, exact_mean.size)
    # 1000 draws: the sample mean is within 5 standard errors of the exact posterior mean.
    standard_error = draws.std(axis=0) / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - exact_mean) < 5 * standard_error)
