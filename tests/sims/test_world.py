"""The world: outcome models, expected-reward table, noise grid, prompt choice, delivery, regret."""

from __future__ import annotations

import numpy as np
import pytest

from gambitts.design.contexts import PAPER_CONTEXTS
from gambitts.sims.worlds.outcomes import (
    load_outcome_model,
    outcome_model_names,
    total_squared_deviation,
)
from gambitts.sims.worlds.world import GeneratorWorld, select_prompts

N_CELLS = PAPER_CONTEXTS.n_cells
CELL_CURR_LOC = PAPER_CONTEXTS.cell_level_labels("curr_loc")
CELL_PREV_STEPS = [int(s) for s in PAPER_CONTEXTS.cell_level_labels("prev_steps")]


@pytest.fixture(scope="module")
def linear_3d():
    return load_outcome_model("linear_3d")


def test_expected_reward_table_is_the_mean_reward_over_each_cells_rows(standin_db, linear_3d):
    table = linear_3d.expected_reward_table(standin_db)
    assert table.shape == (standin_db.n_prompts, N_CELLS)
    dims = standin_db.dim_index(["optimism", "formality", "severity"])
    coefs = np.array([0.3523208653783577, -0.4994438905907694, -0.15796340012230414])
    for prompt, cell in [(0, 0), (17, 5), (39, 11)]:
        rows = standin_db.z[prompt, cell, : standin_db.n_draws[prompt, cell]][:, dims]
        assert table[prompt, cell] == pytest.approx(
            82.83602093916572 + np.mean(rows @ coefs), rel=1e-12
        )


def test_context_terms_of_linear_3d_context():
    model = load_outcome_model("linear_3d_context")
    offset = model.context_offset(PAPER_CONTEXTS)
    expected = [
        82.83602093916572 + {"work": 0.035, "home": -0.035, "other": 0.0}[loc] + 0.026 * steps
        for loc, steps in zip(
            CELL_CURR_LOC,
            CELL_PREV_STEPS,
            strict=True,
        )
    ]
    np.testing.assert_allclose(offset, expected)
    assert model.coefs == load_outcome_model("linear_3d").coefs


def test_noise_grid_follows_the_papers_rule(standin_db, linear_3d):
    grid = linear_3d.noise_grid(standin_db)
    rows = standin_db.z[standin_db.draw_mask()][:, standin_db.dim_index(linear_3d.dims)]
    sd_0 = np.sum(rows.var(axis=0))
    assert grid[0] == pytest.approx(sd_0, rel=1e-9)
    assert grid[-1] == pytest.approx(24.571185700716555)
    np.testing.assert_allclose(np.diff(grid), (grid[-1] - grid[0]) / 4)
    # The stand-in is calibrated so that sd_0 is close to the paper's (0.7098 within 10%).
    assert total_squared_deviation(standin_db, linear_3d.dims) == pytest.approx(
        0.7097845902500587, rel=0.1
    )


def test_unknown_or_unavailable_outcome_models_are_clear_errors():
    assert {"linear_1d", "linear_3d", "linear_3d_context", "linear_full"} <= set(
        outcome_model_names()
    )
    with pytest.raises(ValueError, match="unknown outcome model 'linear_9d'; choose one of"):
        load_outcome_model("linear_9d")
    assert load_outcome_model("nonlinear_3d").dims == ("optimism", "severity", "formality")
    with pytest.raises(ValueError, match="is not linear: it cannot be restricted"):
        load_outcome_model("nonlinear_3d", ("optimism",))


def test_prompts_are_picked_at_evenly_spaced_quantiles(standin_db, linear_3d):
    arms = select_prompts(standin_db, linear_3d, 5)
    overall = linear_3d.expected_reward_table(standin_db).mean(axis=1)
    ranking = np.argsort(overall)
    np.testing.assert_array_equal(arms, ranking[[0, 10, 20, 29, 39]])
    assert overall[arms[0]] == overall.min() and overall[arms[-1]] == overall.max()
    with pytest.raises(ValueError, match="`n_arms` must be between 2 and 40"):
        select_prompts(standin_db, linear_3d, 41)


def test_delivered_messages_are_uniform_over_the_cells_rows(tiny_prompt_db):
    model = load_outcome_model("linear_1d")
    world = GeneratorWorld(tiny_prompt_db, model, [0, 2], noise_sd=1.0)
    n = 40_000
    rng = np.random.default_rng(0)
    cells, actions = np.full(n, 3), np.full(n, 1)
    noise = rng.standard_normal(n)
    rows, rewards, regret = world.step(cells, actions, rng.random(n), noise)
    z = world.embedding(rows)
    n_draws = tiny_prompt_db.n_draws[2, 3]
    valid = tiny_prompt_db.z[2, 3, :n_draws]
    counts = np.array([np.sum(np.all(z == row, axis=1)) for row in valid])
    assert counts.sum() == n  # every delivered row is one of the cell's valid draws
    # Each count is Binomial(n, 1/n_draws): within 5 standard deviations of n / n_draws.
    assert np.all(np.abs(counts - n / n_draws) < 5 * np.sqrt(n / n_draws))
    np.testing.assert_allclose(
        rewards, 82.79491181983309 - 0.13960752325301412 * z[:, 0] + 1.0 * noise
    )
    np.testing.assert_allclose(regret, world.regret(cells, actions))
    np.testing.assert_array_equal(world.embedding_table(np.array([1]))[rows], z[:, [1]])


def test_regret_is_zero_for_the_best_arm_and_positive_otherwise(standin_db, linear_3d):
    world = GeneratorWorld(
        standin_db, linear_3d, select_prompts(standin_db, linear_3d, 5), noise_sd=0.7
    )
    cells = np.arange(N_CELLS)
    np.testing.assert_array_equal(world.regret(cells, world.optimal_arm), 0.0)
    for arm in range(world.n_arms):
        regret = world.regret(cells, np.full(N_CELLS, arm))
        assert np.all(regret[world.optimal_arm != arm] > 0)
    with pytest.raises(ValueError, match="`noise_sd` must be non-negative"):
        GeneratorWorld(standin_db, linear_3d, [0, 1], noise_sd=-1.0)


def test_world_randomness_depends_only_on_each_replicates_seed(standin_db, linear_3d):
    world = GeneratorWorld(standin_db, linear_3d, [0, 1], noise_sd=1.0)
    seeds = [np.random.SeedSequence(4, spawn_key=(r, 0)) for r in range(6)]
    whole = world.draw_randomness(seeds, 50)
    part = world.draw_randomness(seeds[2:], 50)
    np.testing.assert_array_equal(whole.cells[2:], part.cells)
    np.testing.assert_array_equal(whole.noise[2:], part.noise)
    assert whole.cells.min() >= 0 and whole.cells.max() < N_CELLS
