"""The nonlinear_3d stand-in: shipped numbers, scale, non-linearity, noise grid."""

from __future__ import annotations

import dataclasses
from importlib import resources

import numpy as np
import pytest
import yaml

from gambitts.sims.worlds.nonlinear import (
    NONLINEAR_DIMS,
    MlpOutcome,
    load_nonlinear_outcome,
    make_nonlinear_standin,
    nonlinear_standin_yaml,
    nonlinearity_report,
)
from gambitts.sims.worlds.outcomes import load_outcome_model
from gambitts.sims.worlds.world import GeneratorWorld, select_prompts

SD_4 = 24.379724364549272


@pytest.fixture(scope="module")
def shipped() -> MlpOutcome:
    return load_nonlinear_outcome()


@pytest.fixture(scope="module")
def rebuilt(standin_db) -> MlpOutcome:
    return make_nonlinear_standin(standin_db)


def test_shipped_numbers_are_what_the_builder_produces_for_the_standin(shipped, rebuilt):
    for name in ("W1", "b1", "w2"):
        np.testing.assert_allclose(getattr(shipped, name), getattr(rebuilt, name), rtol=1e-10)
    assert shipped.b2 == pytest.approx(rebuilt.b2, rel=1e-10, abs=1e-12)
    assert shipped.dims == rebuilt.dims == NONLINEAR_DIMS
    assert load_nonlinear_outcome() == shipped
    assert dataclasses.replace(shipped, b2=shipped.b2 + 1) != shipped  # equality sees weights


def test_data_file_is_plain_yaml_and_regenerates(rebuilt):
    text = resources.files("gambitts.sims").joinpath("data/nonlinear_3d.yaml").read_text()
    assert "!!" not in text  # no python objects, no pickles
    shipped = yaml.safe_load(text)["network"]
    regenerated = yaml.safe_load(nonlinear_standin_yaml(rebuilt))["network"]
    assert shipped.keys() == regenerated.keys()
    assert shipped["dims"] == regenerated["dims"]
    for name in ("W1", "b1", "w2", "b2"):  # equal up to BLAS rounding (threads, machine)
        np.testing.assert_allclose(shipped[name], regenerated[name], rtol=1e-10, atol=1e-14)
    assert np.array(shipped["W1"]).shape == (3, 64)


def test_treatment_effect_is_the_relu_network(shipped):
    z = np.random.default_rng(0).normal(size=(2, 5, 3))
    hidden = np.maximum(np.einsum("abd,dh->abh", z, shipped.W1) + shipped.b1, 0)
    expected = hidden @ shipped.w2 + shipped.b2
    np.testing.assert_allclose(shipped.treatment_effect(z), expected, rtol=1e-12)
    assert shipped.treatment_effect(z).shape == (2, 5)


def test_fields_come_from_environments_yaml(shipped):
    linear = load_outcome_model("linear_3d")
    assert shipped.name == "nonlinear_3d"
    assert shipped.intercept == linear.intercept
    assert shipped.rmse == SD_4
    assert shipped.context_terms == {}


def test_noise_grid_follows_the_papers_rule(shipped, standin_db):
    grid = shipped.noise_grid(standin_db)
    linear_grid = load_outcome_model("linear_3d").noise_grid(standin_db)
    assert grid[0] == pytest.approx(linear_grid[0])  # same three dims, same sd_0
    assert grid[-1] == SD_4
    np.testing.assert_allclose(np.diff(grid), np.diff(grid)[0])


def test_spread_across_prompts_matches_linear_3d(shipped, standin_db):
    spread = nonlinearity_report(shipped, standin_db)["prompt_spread"]
    linear = nonlinearity_report(load_outcome_model("linear_3d"), standin_db)["prompt_spread"]
    assert spread == pytest.approx(linear, rel=1e-9)
    rows = standin_db.z[..., standin_db.dim_index(shipped.dims)][standin_db.draw_mask()]
    assert abs(shipped.treatment_effect(rows).mean()) < 1e-9  # centred like linear_3d's


def test_expected_reward_table_is_the_exact_cell_mean(shipped, standin_db):
    table = shipped.expected_reward_table(standin_db)
    prompt, cell = 7, 4
    n = standin_db.n_draws[prompt, cell]
    rows = standin_db.z[prompt, cell, :n][:, standin_db.dim_index(shipped.dims)]
    expected = shipped.treatment_effect(rows).mean() + shipped.intercept
    assert table[prompt, cell] == pytest.approx(expected, rel=1e-12)


def test_the_outcome_is_genuinely_nonlinear(shipped, standin_db):
    """A linear fit in Z does not reproduce the best prompts; for linear_3d it does exactly."""
    report = nonlinearity_report(shipped, standin_db)
    assert report["row_r2"] == pytest.approx(0.5, abs=1e-6)  # the construction's linear share
    assert report["row_best_arm_mismatch"] >= 0.5  # of the 12 cells, over all 40 prompts
    assert report["row_regret_ratio"] >= 0.2  # vs uniform play
    assert report["cell_best_arm_mismatch"] >= 0.5
    arms = select_prompts(standin_db, shipped, 5)
    among_arms = nonlinearity_report(shipped, standin_db, arms)
    assert among_arms["row_best_arm_mismatch"] >= 0.25
    assert among_arms["row_regret_ratio"] >= 0.2
    linear = nonlinearity_report(load_outcome_model("linear_3d"), standin_db)
    assert linear["row_best_arm_mismatch"] == 0 and linear["row_r2"] == pytest.approx(1)


def test_world_runs_with_the_nonlinear_outcome(shipped, standin_db):
    arms = select_prompts(standin_db, shipped, 5)
    world = GeneratorWorld(standin_db, shipped, arms, shipped.noise_grid(standin_db)[0])
    cells = np.arange(12)
    assert np.all(world.regret(cells, world.optimal_arm) == 0)
    assert len(set(world.optimal_arm.tolist())) > 1  # the best prompt changes with the context


def test_errors_name_the_argument(standin_db):
    with pytest.raises(ValueError, match="`linear_share` must lie in"):
        make_nonlinear_standin(standin_db, linear_share=1.5)
    with pytest.raises(ValueError, match="not an MLP outcome model"):
        load_nonlinear_outcome("linear_3d")
    with pytest.raises(ValueError, match="`W1` must have shape"):
        MlpOutcome(
            name="x",
            intercept=0.0,
            context_terms={},
            rmse=1.0,
            input_dims=("optimism",),
            W1=np.zeros((2, 4)),
            b1=np.zeros(4),
            w2=np.zeros(4),
            b2=0.0,
        )
