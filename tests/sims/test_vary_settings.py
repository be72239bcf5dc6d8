"""Blocks that vary what users vary: an agent's prior or hyper-parameter, a world's key, arrivals.

Each varied value must reach the agents or the world that has the setting (and only those),
and reach the results file as a dimension named after it.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from gambitts.cli.main import main
from gambitts.sims.experiments import ExperimentError, experiments_from_yaml
from gambitts.sims.runner import run_experiment
from gambitts.sims.sweep import run_sweep

AGENTS = """\
  horizon: 30
  replicates: 3
  agents:
    - {kind: poGAMBITTS, dims: [optimism]}
    - {kind: ens-poGAMBITTS, dims: [optimism], ensemble: {n_members: 4}}
    - {kind: StdTS}
"""
WORLD = """\
  outcome_model:
    type: linear
    coefs: {optimism: 1.0, formality: -0.5}
    intercept: 5.0
    noise_sd: [1.0]
"""
ONE_CELL_FIRST = [1.0] + [0.0] * 11
ONE_CELL_LAST = [0.0] * 11 + [1.0]


def _block(body: str, name: str = "mine") -> object:
    return experiments_from_yaml(f"{name}:\n  description: d\n{body}")[name]


def test_varying_a_prior_changes_only_the_agents_that_have_it():
    spec = _block(f"  outcome_model: linear_3d\n  vary: prior.coef_precision\n"
                  f"  values: [0.25, 4]\n{AGENTS}")  # fmt: skip
    low, high = spec.settings()
    assert [s.label for s in spec.settings()] == ["0.25", "4"]
    assert low.configs[0].agent.prior.coef_precision == 0.25
    assert high.configs[0].agent.prior.coef_precision == 4.0
    assert low.configs[1] == high.configs[1]  # the ensemble has no such prior
    assert low.configs[2] == high.configs[2]  # StdTS's prior has no coef_precision


def test_varied_priors_give_the_runs_of_blocks_that_fix_them(standin_db):
    varied = _block(f"  outcome_model: linear_3d\n  vary: prior.intercept_mean\n"
                    f"  values: [0, 77]\n{AGENTS}")  # fmt: skip
    ds = run_experiment(varied, standin_db, seed=3)
    assert ds["regret"].dims[0] == "prior.intercept_mean"
    for value, label in [(0, "0"), (77, "77")]:
        po = f"{{kind: poGAMBITTS, dims: [optimism], prior: {{intercept_mean: {value}}}}}"
        agents = AGENTS.replace("{kind: poGAMBITTS, dims: [optimism]}", po)
        fixed = _block(f"  outcome_model: linear_3d\n{agents}")
        alone = run_experiment(fixed, standin_db, seed=3)
        np.testing.assert_array_equal(
            ds["regret"].sel({"prior.intercept_mean": label}).values,
            alone["regret"].isel(setting=0).values,
        )
    po_regret = ds["regret"].sel(agent="poGAMBITTS").sum("t")
    first, second = (po_regret.isel({"prior.intercept_mean": i}) for i in (0, 1))
    assert not np.array_equal(first, second)


def test_an_ensemble_hyper_parameter_can_be_varied():
    spec = _block(f"  outcome_model: linear_3d\n  vary: ensemble.learning_rate\n"
                  f"  values: [0.001, 0.01]\n{AGENTS}")  # fmt: skip
    rates = [s.configs[1].agent.ensemble.learning_rate for s in spec.settings()]
    assert rates == [0.001, 0.01]
    assert all(s.configs[1].agent.ensemble.n_members == 4 for s in spec.settings())


def test_varying_a_world_coefficient_changes_the_expected_rewards(standin_db):
    spec = _block(f"{WORLD}  vary: world.coefs.optimism\n  values: [1.0, -1.0]\n{AGENTS}")
    ds = run_experiment(spec, standin_db, seed=0)
    table = ds["expected_reward"].sel({"world.coefs.optimism": "-1.0"})
    other = ds["expected_reward"].sel({"world.coefs.optimism": "1.0"})
    assert not np.allclose(table, other)
    flipped = spec.settings()[1].configs[0].outcome_model
    assert flipped.fields["coefs"] == {"optimism": -1.0, "formality": -0.5}


def test_varying_the_context_distribution_moves_the_contexts(standin_db):
    spec = _block(f"  outcome_model: linear_3d\n  vary: context_probabilities\n"
                  f"  values: [{ONE_CELL_FIRST}, {ONE_CELL_LAST}]\n{AGENTS}")  # fmt: skip
    ds = run_experiment(spec, standin_db, seed=0)
    cells = ds["context_cell"]
    assert cells.dims == ("context_probabilities", "replicate", "t")
    assert (cells.isel(context_probabilities=0) == 0).all()
    assert (cells.isel(context_probabilities=1) == 11).all()


def test_a_block_may_fix_its_arrival_probabilities(standin_db):
    probabilities = [0.5, 0.5] + [0.0] * 10
    spec = _block(f"  outcome_model: linear_3d\n  context_probabilities: {probabilities}\n"
                  f"  replicates: 40\n  horizon: 50\n  agents: [{{kind: StdTS}}]\n")  # fmt: skip
    cells = run_experiment(spec, standin_db, seed=0)["context_cell"].values
    assert set(np.unique(cells)) == {0, 1}
    share = (cells == 0).mean()  # 2,000 fair coin flips: sd 0.011
    assert abs(share - 0.5) < 0.045


def test_a_grid_crosses_an_agent_setting_with_a_world_setting(tmp_path, standin_db):
    spec = _block(f"{WORLD}  grid:\n    prior.coef_precision: [0.5, 2]\n"
                  f"    world.intercept: [0, 10]\n{AGENTS}")  # fmt: skip
    run_sweep([spec], standin_db, tmp_path, workers=1)
    ds = xr.open_dataset(tmp_path / "mine.nc")  # dotted names survive NetCDF
    assert ds["regret"].dims[:2] == ("prior.coef_precision", "world.intercept")
    assert list(ds["world.intercept"].values) == ["0", "10"]
    assert float(ds["expected_reward"].sel({"world.intercept": "10"}).mean()) == pytest.approx(
        float(ds["expected_reward"].sel({"world.intercept": "0"}).mean()) + 10
    )


@pytest.mark.parametrize(
    "body,message",
    [
        (
            f"  outcome_model: linear_3d\n  vary: prior.nothing\n  values: [1]\n{AGENTS}",
            "`vary` 'prior.nothing' is none of",
        ),
        (
            f"  outcome_model: linear_3d\n  vary: world.intercept\n  values: [1]\n{AGENTS}",
            "varies a key of a world defined in the file; 'linear_3d' is a shipped world",
        ),
        (
            f"{WORLD}  vary: world.slope\n  values: [1]\n{AGENTS}",
            "the world defines no key 'slope'",
        ),
        (
            f"{WORLD}  vary: world.coefs.optimism\n  values: [one]\n{AGENTS}",
            r"world.coefs.optimism = 'one': .*must be a finite number",
        ),
        (
            f"  outcome_model: linear_3d\n  vary: prior.coef_precision\n  values: [0]\n{AGENTS}",
            r"prior.coef_precision = 0: agent 'poGAMBITTS': `prior`: `coef_precision` must be "
            "positive",
        ),
        (
            "  outcome_model: linear_3d\n  vary: draws_per_cell\n  values: [5]\n"
            "  agents: [{kind: StdTS}, {kind: foGAMBITTS, dims: [optimism]}]\n",
            "changes the agents' `draws_per_cell`, which none of this block's agents has",
        ),
        (
            f"  outcome_model: linear_3d\n  vary: context_probabilities\n  values: [0.5]\n{AGENTS}",
            "must be a list of probabilities, one per context cell",
        ),
        (
            f"  outcome_model: linear_3d\n  context_probabilities: [2, -1]\n{AGENTS}",
            r"each probability must be in \[0, 1\], got 2",
        ),
    ],
    ids=[
        "no-setting",
        "shipped-world",
        "no-key",
        "bad-coef",
        "bad-prior",
        "no-draws",
        "probs",
        "prob-range",
    ],  # fmt: skip
)
def test_what_cannot_vary_is_refused_in_one_line(body, message):
    with pytest.raises(ExperimentError, match=message) as error:
        _block(body)
    assert "\n" not in str(error.value)


def test_probabilities_that_do_not_fit_the_database_fail_before_any_run(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(f"mine:\n  description: d\n  outcome_model: linear_3d\n"
                    f"  context_probabilities: [0.5, 0.5]\n{AGENTS}")  # fmt: skip
    result = CliRunner().invoke(
        main, ["simulate", "--config", str(path), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "experiment 'mine': `context_probabilities`: " in result.output
    assert "12 non-negative numbers summing to 1" in result.output
    assert not (tmp_path / "o" / "mine.nc").exists()


TWO = "  agents:\n    - {kind: poGAMBITTS, dims: [optimism]}\n    - {kind: StdTS}\n"
WORLD2 = (
    "  outcome_model: {type: linear, coefs: {optimism: 1.0, formality: 0.5}, noise_sd: [1, 2]}\n"
)


@pytest.mark.parametrize(
    "body,message",
    [
        (
            "  outcome_model: linear_3d\n  grid:\n    prior.coef_precision: [0.5, 4]\n"
            f"    prior.coef_mean: [0, 1]\n{TWO}",
            None,  # two fields of one prior cross fine
        ),
        (
            f"{WORLD2}  grid:\n    world.coefs.optimism: [2, 3]\n"
            f"    world.coefs: [{{optimism: 9}}]\n{TWO}",
            "cannot cross 'world.coefs' with 'world.coefs.optimism', a part of it",
        ),
        (
            f"  outcome_model: linear_3d\n  vary: prior\n  values: [{{coef_precision: 2}}]\n{TWO}",
            "names a whole group of settings; vary one of them, e.g. 'prior.coef_mean'",
        ),
        (f"  outcome_model: linear_3d\n  vary: label\n  values: [x, y]\n{TWO}", "is none of"),
        (
            f"{WORLD2}  vary: world.name\n  values: ['..', b]\n{TWO}",
            "value '..' of 'world.name' cannot label results",
        ),
        (
            f"{WORLD2}  vary: world.name\n  values: ['a/b', b]\n{TWO}",
            "value 'a/b' of 'world.name' cannot label results",
        ),
        (
            f"  outcome_model: linear_3d\n  vary: prior.coef_precision\n  values: [1, 1.0]\n{TWO}",
            r"repeat a setting \(1 and 1.0\)",
        ),
        (
            f"{WORLD2}  noise_level: 1\n  vary: world.noise_sd\n  values: [0.5, 3]\n{TWO}",
            "world.noise_sd = 0.5: noise levels must be 0..0",
        ),
        (
            "  outcome_model: linear_3d\n  vary: treatment_prior.dof\n  values: [-5, 3]\n"
            "  agents: [{kind: foGAMBITTS, dims: [a, b, c]}]\n",
            "`treatment_prior`: `dof` must exceed n_dims - 1 = 2, got -5.0",
        ),
        (
            "  outcome_model: linear_3d\n  agents: [{kind: [StdTS]}]\n",
            "`kind` must be one of",
        ),
        (
            "  outcome_model: linear_3d\n  agents: [{kind: poGAMBITTS, dims: [a], prior: "
            f"{{coef_precision: {'9' * 400}}}}}]\n",
            "`prior.coef_precision` must be a finite number",
        ),
    ],
    ids=[
        "fields",
        "world-part",
        "whole-prior",
        "label",
        "dots",
        "slash",
        "same",
        "noise",
        "dof",
        "kind",
        "huge",
    ],  # fmt: skip
)
def test_settings_that_would_be_misread_or_misfiled_are_refused(body, message):
    if message is None:
        assert len(_block(body).settings()) == 4
        return
    with pytest.raises(ExperimentError, match=message) as error:
        _block(body)
    assert "\n" not in str(error.value)


def test_a_world_key_holding_a_list_can_vary(standin_db):
    spec = _block(f"{WORLD2}  vary: world.noise_sd\n  values: [[0.5, 1.0], [2.0, 3.0]]\n{TWO}")
    assert [s.label for s in spec.settings()] == ["0.5 1.0", "2.0 3.0"]
    ds = run_experiment(spec.with_overrides(horizon=5, replicates=1), standin_db)
    assert ds["noise_sd"].values.tolist() == [0.5, 2.0]  # noise level 0 of each grid


def test_an_axis_named_like_a_context_variable_is_refused_before_any_run(tmp_path, standin_db):
    import dataclasses

    from gambitts.design.contexts import ContextSpace, ContextVariable
    from gambitts.errors import InputError

    contexts = ContextSpace(
        (ContextVariable("curr_loc", ("home", "work", "other")),
         ContextVariable("noise", ("1", "2", "3", "4"))),
    )  # fmt: skip
    renamed = dataclasses.replace(standin_db, contexts=contexts)
    spec = _block(f"  outcome_model: linear_3d\n  vary: noise\n  values: [known, unknown]\n{TWO}")
    with pytest.raises(InputError, match=r"varies \['noise'\], which the database's context"):
        run_sweep([spec], renamed, tmp_path, workers=1)
