"""Every example runs in its fast mode (``main(fast=True)``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS:UserWarning")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_is_tested():
    tested = {"robust_outcome", "inspect_posteriors", "reanalyse_netcdf"}
    assert {path.stem for path in EXAMPLES.glob("*.py")} <= tested | _others()


def _others() -> set[str]:
    """Examples other sessions own (tested elsewhere); none yet."""
    return set()


def test_robust_outcome(capsys):
    results = _load("robust_outcome").main(fast=True)
    assert len(results) == 2 and all(value >= 0 for value in results.values())
    assert "mean cumulative regret" in capsys.readouterr().out


def test_inspect_posteriors():
    summaries = _load("inspect_posteriors").main(fast=True)
    beta = summaries["poGAMBITTS"]
    assert "beta[optimism]" in beta.index and "beta[intercept]" in beta.index
    assert "mu[home/1, " in " ".join(summaries["foGAMBITTS"].index)  # stage 1, by named cell
    assert len(summaries["StdTS"].filter(like="mu[", axis=0)) == 5  # one mean per prompt


def test_reanalyse_netcdf(tmp_path):
    module = _load("reanalyse_netcdf")
    results = module.write_example_results(tmp_path / "results.nc", fast=True)
    figure = module.main(fast=True, path=str(results), out=str(tmp_path / "regret.png"))
    assert figure.exists() and figure.stat().st_size > 0


def test_robust_experiment_runs_in_gambitts_simulate(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from gambitts.agents.custom import nutpie_available
    from gambitts.cli.main import main

    if not nutpie_available():
        pytest.skip("nutpie is not installed")
    monkeypatch.chdir(EXAMPLES.parent)  # the builder path is relative to the repository root
    arguments = ["--replicates", "2", "--horizon", "30", "--workers", "1", "--no-plot"]
    result = CliRunner().invoke(
        main,
        ["simulate", "--config", "examples/robust_experiment.yaml", "--out", str(tmp_path)]
        + arguments,
    )
    assert result.exit_code == 0, result.output
    assert "student-t" in result.output
    import arviz as az

    diagnostics = az.from_netcdf(tmp_path / "robust_experiment.nc").fit_diagnostics
    assert (diagnostics["wall_time"].sel(agent="student-t") > 0).all()
    assert set(diagnostics["variable"].values) == {"beta", "scale", "nu"}
