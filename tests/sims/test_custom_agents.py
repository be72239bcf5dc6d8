"""Custom PyMC agents inside experiments: definitions, the regret check, diagnostics in the file.

The check: a custom agent whose stage 2 is the built-in linear model
(``gambitts.models.pymc_models:build_outcome_model``), refitted after every round, must give
the exact poGAMBITTS's regret on var_decomp_linear. Both run on the same worlds (contexts,
noise and generator subsets are keyed by replicate), so the per-replicate differences of final
cumulative regret are paired; their mean must lie within ``N_SE = 4`` standard errors of 0. The
same tolerance separates poGAMBITTS from StdTS at sd_0 (7.7 standard errors), so the check can
fail.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
import xarray as xr

from gambitts.agents.custom import nutpie_available
from gambitts.agents.registry import agent_from_dict, agent_spec
from gambitts.sims.experiments import (
    ExperimentError,
    RunConfig,
    experiments_from_yaml,
)
from gambitts.sims.sweep import FIT_DIAGNOSTICS_GROUP, read_fit_diagnostics, run_sweep
from gambitts.user_code import UserCodeError, import_function

pytestmark = pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS:UserWarning")

N_SE = 4.0
LINEAR = "gambitts.models.pymc_models:build_outcome_model"
DIMS = "[optimism, formality, severity]"


def _check_block(
    method: str, replicates: int, horizon: int, extra: str = "", levels: str = "[0, 2]"
) -> str:
    return f"""
check:
  description: a custom linear stage 2 against the exact poGAMBITTS (var_decomp_linear, reduced)
  outcome_model: linear_3d
  vary: noise_level
  values: {levels}
  replicates: {replicates}
  horizon: {horizon}
  agents:
    - {{kind: StdTS}}
    - {{kind: poGAMBITTS, dims: {DIMS}, draws_per_cell: 500}}
    - {{kind: custom-poGAMBITTS, label: custom, dims: {DIMS}, draws_per_cell: 500,
       builder: "{LINEAR}", method: {method}, refit_every: 1, mc_draws: null{extra}}}
"""


def _final_regret(ds: xr.Dataset, agent: str) -> xr.DataArray:
    return ds["regret"].sel(agent=agent).astype(float).sum("t")


def _paired_z(ds: xr.Dataset, first: str, second: str) -> np.ndarray:
    """Per setting: mean paired difference of final regret over its standard error."""
    difference = _final_regret(ds, first) - _final_regret(ds, second)
    se = difference.std("replicate", ddof=1) / np.sqrt(difference.sizes["replicate"])
    return (difference.mean("replicate") / se).values


@pytest.mark.parametrize(
    "method,replicates,horizon,extra,levels",
    [
        ("laplace", 24, 150, "", "[0, 2]"),
        pytest.param(  # ~3 minutes: 2,000 NUTS refits
            "nuts",
            20,
            100,
            ", draws: 250, tune: 300",
            "[0]",
            marks=[
                pytest.mark.slow,
                pytest.mark.skipif(not nutpie_available(), reason="nutpie is not installed"),
            ],
        ),
    ],
)
def test_custom_linear_stage2_reproduces_the_exact_agents_regret(
    tmp_path, method, replicates, horizon, extra, levels
):
    spec = experiments_from_yaml(_check_block(method, replicates, horizon, extra, levels))["check"]
    from gambitts.design.standin import make_standin_database

    path = run_sweep([spec], make_standin_database(), tmp_path, workers=1)["check"]
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        ds = ds.load()
    same = _paired_z(ds, "custom", "poGAMBITTS")
    assert np.all(np.abs(same) < N_SE), f"custom vs exact poGAMBITTS: {same} standard errors"
    # At sd_0 (at sd_2 the noise hides the difference in so few rounds).
    different = _paired_z(ds.sel(noise_level=["sd_0"]), "StdTS", "poGAMBITTS")
    assert np.all(different > N_SE), f"the check cannot tell StdTS apart: {different}"
    diagnostics = read_fit_diagnostics(path)
    assert diagnostics.sizes["refit"] == horizon  # refitted after every round
    assert (diagnostics["wall_time"].sel(agent="custom") > 0).all()


SHORT_NUTS = f"""
short:
  description: NUTS far too short to converge, twice
  outcome_model: linear_3d
  replicates: 2
  horizon: 12
  agents:
    - {{kind: poGAMBITTS, dims: {DIMS}}}
    - {{kind: custom-poGAMBITTS, label: short-a, dims: {DIMS}, builder: "BUILDER",
       refit_every: 6, draws: 6, tune: 4}}
    - {{kind: custom-foGAMBITTS, label: short-b, dims: {DIMS}, builder: "BUILDER",
       refit_every: 6, draws: 6, tune: 4}}
"""


@pytest.mark.skipif(not nutpie_available(), reason="nutpie is not installed")
def test_simulate_stores_diagnostics_arviz_reads_them_and_warns_once(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from gambitts.cli.main import main

    builder = tmp_path / "my_models.py"
    builder.write_text(
        "from gambitts.models.pymc_models import build_outcome_model\n\n"
        "def linear(features, rewards):\n"
        "    return build_outcome_model(features, rewards)\n"
    )
    config = tmp_path / "short.yaml"
    config.write_text(SHORT_NUTS.replace("BUILDER", "my_models.py:linear"))
    monkeypatch.chdir(tmp_path)  # the builder file is relative to the working directory
    # The default two worker processes: the builder file must resolve in them too.
    result = CliRunner().invoke(
        main, ["simulate", "--config", str(config), "--out", "out", "--no-plot"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("warning: an unhealthy fit") == 1
    path = tmp_path / "out" / "short.nc"
    idata = az.from_netcdf(path)
    diagnostics = idata[FIT_DIAGNOSTICS_GROUP]
    assert dict(diagnostics["rhat_max"].sizes) == {
        "setting": 1, "agent": 3, "refit": 2, "replicate": 2, "variable": 1
    }  # fmt: skip
    custom = diagnostics.sel(agent=["short-a", "short-b"])
    assert (custom["divergences"] >= 0).all() and (custom["wall_time"] > 0).all()
    assert np.isnan(diagnostics["rhat_max"].sel(agent="poGAMBITTS")).all()
    assert list(diagnostics["refit_round"].values) == [6, 12]  # rounds seen by each refit
    inspect = CliRunner().invoke(main, ["inspect", str(path)])
    assert inspect.exit_code == 0, inspect.output
    assert "short-a" in inspect.output and "unhealthy:" in inspect.output
    # The two workers ran one replicate each; in one process the results are the same.
    serial = CliRunner().invoke(
        main,
        ["simulate", "--config", str(config), "--out", "serial", "--no-plot", "--workers", "1"],
    )
    assert serial.exit_code == 0, serial.output
    with xr.open_dataset(path, engine="h5netcdf") as a:
        with xr.open_dataset(tmp_path / "serial" / "short.nc", engine="h5netcdf") as b:
            xr.testing.assert_equal(a["regret"], b["regret"])
    xr.testing.assert_equal(
        diagnostics["ess_bulk_min"],
        read_fit_diagnostics(tmp_path / "serial" / "short.nc")["ess_bulk_min"],
    )


@pytest.mark.parametrize(
    "entry,message",
    [
        ({"kind": "custom-poGAMBITTS", "dims": ["optimism"]}, "`builder` must name a PyMC builder"),
        (
            {"kind": "custom-poGAMBITTS", "dims": ["optimism"], "builder": "no_colon"},
            "'package.module:function' or 'path/to/file.py:function', got 'no_colon'",
        ),
        (
            {"kind": "custom-poGAMBITTS", "dims": ["optimism"], "builder": LINEAR, "method": "x"},
            "`method` must be one of ['nuts', 'nuts-pymc', 'laplace', 'advi']",
        ),
        (
            {"kind": "custom-foGAMBITTS", "dims": ["optimism"], "builder": LINEAR, "mc_draws": 8},
            "custom-foGAMBITTS has no setting(s) ['mc_draws']",
        ),
        (
            {
                "kind": "custom-poGAMBITTS",
                "dims": ["x"],
                "builder": LINEAR,
                "treatment_builder": LINEAR,
            },
            "custom-poGAMBITTS has no setting(s) ['treatment_builder']",
        ),
        (
            {"kind": "custom-poGAMBITTS", "dims": ["x"], "builder": LINEAR, "refit_every": 0},
            "`refit_every` must be a whole number >= 1, got 0",
        ),
        (
            {"kind": "poGAMBITTS", "dims": ["x"], "builder": LINEAR},
            "poGAMBITTS has no setting(s) ['builder']",
        ),
    ],
    ids=["no-builder", "malformed", "method", "mc-draws-fo", "treatment-po", "refit", "exact"],
)
def test_bad_custom_agent_definitions_say_what_is_wrong(entry, message):
    with pytest.raises(ValueError, match=None) as error:
        agent_from_dict(entry)
    assert message in str(error.value)
    assert isinstance(error.value, ExperimentError | UserCodeError)


def test_builders_import_from_modules_and_files(tmp_path):
    from gambitts.models.pymc_models import build_outcome_model

    assert import_function(LINEAR) is build_outcome_model
    file = tmp_path / "models.py"
    file.write_text("def build(features, rewards):\n    return 42\n")
    assert import_function(f"{file}:build")(None, None) == 42
    for reference, message in [
        ("gambitts.no_such_module:f", "cannot import module 'gambitts.no_such_module'"),
        ("gambitts.models.pymc_models:nope", "`nope` does not exist in"),
        ("gambitts.models.pymc_models:pm", "`pm` is not callable"),
        (f"{tmp_path / 'missing.py'}:build", "no such file"),
    ]:
        with pytest.raises(UserCodeError, match=None) as error:
            import_function(reference)
        assert message in str(error.value)
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(UserCodeError, match="importing .* failed: RuntimeError: boom"):
        import_function(f"{broken}:build")


def test_a_missing_builder_fails_before_anything_runs(tmp_path):
    spec = experiments_from_yaml(_check_block("laplace", 2, 3).replace(LINEAR, "nowhere.py:f"))
    from gambitts.design.standin import make_standin_database

    with pytest.raises(UserCodeError, match="no such file"):
        run_sweep(list(spec.values()), make_standin_database(), tmp_path, workers=1)
    assert not list((tmp_path / "configs").glob("*.nc"))


def test_editing_a_builder_file_changes_the_results_key(tmp_path):
    file = tmp_path / "models.py"
    file.write_text("def build(features, rewards):\n    return None\n")
    spec = agent_spec("custom-poGAMBITTS", dims=("optimism",), builder=f"{file}:build")
    config = RunConfig("linear_3d", None, 5, 0, 10, spec)
    before = config.key(0, 2, "db")
    file.write_text("def build(features, rewards):\n    return 1\n")
    assert config.key(0, 2, "db") != before
    # Built-in agents' specs have no custom fields (the key also covers the package's own
    # code, so no fixed value can be pinned here).
    assert set(agent_spec("StdTS").to_dict()) == {"kind", "label", "prior"}


def test_editing_a_module_the_builder_imports_changes_the_results_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "priors.py").write_text("SCALE = 1.0\n")
    (tmp_path / "models.py").write_text(
        "from priors import SCALE\n\ndef build(features, rewards):\n    return None\n"
    )
    spec = agent_spec("custom-poGAMBITTS", dims=("optimism",), builder="models.py:build")
    config = RunConfig("linear_3d", None, 5, 0, 10, spec)
    before = config.key(0, 2, "db")
    (tmp_path / "notes.py").write_text("unrelated = True\n")
    assert config.key(0, 2, "db") == before
    (tmp_path / "priors.py").write_text("SCALE = 2.0\n")
    assert config.key(0, 2, "db") != before


@pytest.mark.parametrize(
    "body,message",
    [
        ("return None", "builder 'models.py:build' returned None (a missing `return model`?)"),
        ("sys.exit(3)", "builder 'models.py:build' called sys.exit(3) (models.py, line 5)"),
        ("raise KeyError('beta')", "builder 'models.py:build' raised KeyError: 'beta' (models.py"),
    ],
    ids=["none", "exit", "raises"],
)
def test_a_failing_builder_stops_the_sweep_with_one_line(tmp_path, monkeypatch, body, message):
    from gambitts.agents.custom import BuilderError
    from gambitts.design.standin import make_standin_database

    monkeypatch.chdir(tmp_path)
    (tmp_path / "models.py").write_text(
        f"import sys\n\n\ndef build(features, rewards):\n    {body}\n"
    )
    block = _check_block("laplace", 2, 3).replace(LINEAR, "models.py:build")
    spec = experiments_from_yaml(block)["check"]
    with pytest.raises(BuilderError) as error:  # not SystemExit: the run must not end silently
        run_sweep([spec], make_standin_database(), tmp_path / "out", workers=1)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_fit_methods_of_experiment_files_are_the_agents_methods():
    import typing

    from gambitts.agents.custom import METHODS, CustomStage2Spec

    assert typing.get_args(typing.get_type_hints(CustomStage2Spec)["method"]) == METHODS


def test_nuts_without_nutpie_fails_before_anything_runs(monkeypatch):
    import gambitts.agents.custom as custom

    monkeypatch.setattr(custom, "nutpie_available", lambda: False)
    spec = agent_spec("custom-poGAMBITTS", dims=("optimism",), builder=LINEAR)
    with pytest.raises(ExperimentError, match="`method: nuts` needs nutpie"):
        spec.load_builders()
    laplace = agent_spec(
        kind="custom-poGAMBITTS", dims=("optimism",), builder=LINEAR, method="laplace"
    )
    assert set(laplace.load_builders()) == {"builder"}
