"""The notebook API: the same numbers as the command, posteriors in ArviZ, files both ways."""

from __future__ import annotations

import subprocess
import sys

import arviz as az
import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

import gambitts
from gambitts.cli.main import main
from gambitts.errors import InputError

BLOCK = "var_decomp_linear"
SMALL = {"replicates": 3, "horizon": 25}


@pytest.fixture(scope="module")
def results():
    return gambitts.simulate(BLOCK, seed=4, save_posteriors=[0, 2], **SMALL)


def test_import_gambitts_is_light_and_names_its_public_api():
    code = "import sys, gambitts; print('gambitts.sims' in sys.modules, sorted(gambitts.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, names = out.stdout.split(" ", 1)
    assert loaded == "False"
    for name in ("simulate", "open_results", "Results", "load_prompt_database", "ContextSpace"):
        assert name in names
    with pytest.raises(AttributeError, match="has no attribute 'simulat'"):
        gambitts.simulat  # noqa: B018


def test_a_notebook_run_gives_the_command_lines_numbers(results, tmp_path):
    CliRunner().invoke(
        main,
        ["simulate", "--experiment", BLOCK, "--seed", "4", "--replicates", "3", "--horizon",
         "25", "--workers", "1", "--out", str(tmp_path), "--no-plot"],
        catch_exceptions=False,
    )  # fmt: skip
    command = gambitts.open_results(tmp_path / f"{BLOCK}.nc")
    for variable in ("regret", "action", "reward", "context_cell"):
        xr.testing.assert_equal(results.regret[variable], command.regret[variable])
    assert results.path is None and command.path == tmp_path / f"{BLOCK}.nc"


def test_the_summary_is_a_table_of_final_regret_with_intervals(results):
    table = results.summary()
    assert list(table.columns) == ["noise_level", "agent", "mean", "low", "high"]
    assert len(table) == 5 * 4
    final = results.regret["regret"].sum("t").mean("replicate")
    row = table[(table.noise_level == "sd_2") & (table.agent == "foGAMBITTS")].iloc[0]
    assert row["mean"] == pytest.approx(float(final.sel(noise_level="sd_2", agent="foGAMBITTS")))
    assert row["low"] < row["mean"] < row["high"]


def test_the_figure_is_returned_with_a_panel_per_setting(results):
    figure = results.plot()
    assert len([ax for ax in figure.axes if ax.has_data()]) == 5


def test_a_saved_posterior_opens_in_arviz_with_named_coords(results):
    idata = results.posterior("poGAMBITTS", setting="sd_1", replicate=2)
    assert isinstance(idata, az.InferenceData)
    beta = idata.posterior["beta"]
    assert list(beta["feature"].values) == ["optimism", "formality", "severity", "intercept"]
    summary = az.summary(idata, kind="stats")
    assert "beta[optimism]" in summary.index
    mu = results.posterior("foGAMBITTS", setting="sd_1", replicate=2).posterior["mu"]
    assert mu.dims == ("chain", "draw", "cell", "prompt", "dim")
    assert list(mu["cell"].values[:2]) == ["home/1", "home/2"]  # the context space's labels
    assert set(mu.coords) == {"chain", "draw", "cell", "prompt", "dim"}
    stdts = results.posterior("StdTS", setting="sd_1", replicate=2).posterior["mu"]
    assert stdts.dims == ("chain", "draw", "prompt") and stdts.sizes["prompt"] == 5


def test_asking_for_a_posterior_that_was_not_saved_says_what_was(results):
    with pytest.raises(InputError, match="has 5 settings; name one with `setting=`"):
        results.posterior("poGAMBITTS")
    with pytest.raises(InputError, match=r"no saved posterior 'posteriors/sd_1/poGAMBITTS/repl"):
        results.posterior("poGAMBITTS", setting="sd_1", replicate=1)
    with pytest.raises(InputError, match="one label per setting dim"):
        results.posterior("poGAMBITTS", setting=("sd_1", "5"))


def test_saving_and_reopening_keeps_everything(results, tmp_path):
    path = results.save(tmp_path / "mine.nc")
    again = gambitts.open_results(path)
    xr.testing.assert_identical(again.regret, results.regret)
    assert sorted(again.posteriors) == sorted(results.posteriors)
    key = "posteriors/sd_0/foGAMBITTS/replicate_0"
    xr.testing.assert_identical(again.posteriors[key], results.posteriors[key])
    result = CliRunner().invoke(main, ["inspect", str(path)])  # the command reads it too
    assert result.exit_code == 0 and "/posteriors/sd_0/foGAMBITTS/replicate_0" in result.output


def test_a_custom_agents_diagnostics_come_with_the_results():
    spec = gambitts.load_experiment_file("examples/robust_experiment.yaml")
    name, block = next(iter(spec.items()))
    laplace = [
        agent.with_setting("method", "laplace").with_setting("refit_every", 4)
        if agent.refits
        else agent
        for agent in block.agents
    ]
    block = block.with_overrides(agents=tuple(laplace))
    run = gambitts.simulate(block, replicates=2, horizon=12)
    assert run.diagnostics is not None and "wall_time" in run.diagnostics
    assert np.isfinite(run.diagnostics["wall_time"]).any()


def test_a_yaml_file_and_a_block_name_are_resolved_or_refused(tmp_path):
    two = tmp_path / "two.yaml"
    two.write_text(
        "".join(
            f"{name}:\n  description: d\n  outcome_model: linear_3d\n  horizon: 8\n"
            "  replicates: 2\n  agents: [{kind: StdTS}]\n"
            for name in ("a", "b")
        )
    )
    with pytest.raises(InputError, match=r"holds blocks \['a', 'b'\]; choose one with `block=`"):
        gambitts.simulate(two)
    assert gambitts.simulate(two, block="b").name == "b"
    with pytest.raises(InputError, match="no block 'c'"):
        gambitts.simulate(two, block="c")
    with pytest.raises(InputError, match="unknown experiment 'var_decomp'"):
        gambitts.simulate("var_decomp")
    with pytest.raises(InputError, match="`database` must be a PromptDatabase"):
        gambitts.simulate(BLOCK, database="db.csv")


def test_opening_a_file_that_is_not_a_block_is_one_line(tmp_path):
    (tmp_path / "notes.nc").write_text("not netcdf")
    with pytest.raises(InputError, match="cannot be read as NetCDF"):
        gambitts.open_results(tmp_path / "notes.nc")
    xr.Dataset({"x": ("a", [1])}).to_netcdf(tmp_path / "other.nc", engine="h5netcdf")
    with pytest.raises(InputError, match="not a gambitts results file .*; give a block"):
        gambitts.open_results(tmp_path / "other.nc")


def test_misused_arguments_are_one_line(results):
    with pytest.raises(InputError, match=r"no agent 'UCB' in 'var_decomp_linear'; its agents"):
        results.posterior("UCB", setting="sd_0")
    for bad in (0, ["0"], [True]):
        with pytest.raises(InputError, match="`save_posteriors` must be a list of replicate"):
            gambitts.simulate(BLOCK, save_posteriors=bad, **SMALL)
    with pytest.raises(InputError, match="`block=` picks a block of a YAML experiment file"):
        gambitts.simulate(BLOCK, block="other", **SMALL)


def test_a_setting_may_be_given_as_a_number(tmp_path):
    block = tmp_path / "arms.yaml"
    block.write_text(
        "arms:\n  description: d\n  outcome_model: linear_3d\n  vary: n_prompts\n"
        "  values: [3, 4]\n  replicates: 1\n  horizon: 5\n  agents: [{kind: StdTS}]\n"
    )
    run = gambitts.simulate(block, save_posteriors=[0])
    assert run.posterior("StdTS", setting=4).posterior["mu"].sizes["prompt"] == 4


@pytest.mark.parametrize(
    "options,message",
    [
        ({"noise_level": -1}, "`noise_level` must be 0..4 for this world, got -1"),
        ({"noise_level": 1.0}, "`noise_level` must be a whole number"),
        ({"database": "db.nc"}, "`database` must be a PromptDatabase"),
        ({"seed": -1}, "`seed` must be a whole number from 0 to 2\\*\\*63 - 1"),
    ],
)
def test_a_trial_refuses_what_it_cannot_run(options, message):
    with pytest.raises(InputError, match=message):
        gambitts.Trial(**options)
