"""ens-poGAMBITTS: gradients, diverse members, determinism, chunking, learning a nonlinear world."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from gambitts.agents.ensemble import (
    EnsembleConfig,
    EnsPoGAMBITTS,
    loss_and_gradient,
    network_output,
    parameter_count,
)
from gambitts.design.contexts import PAPER_CONTEXTS
from gambitts.design.promptdb import PromptDatabase
from gambitts.models.random_streams import ReplicateRandom
from gambitts.sims.generator_samples import generator_draws
from gambitts.sims.loop import simulate
from gambitts.sims.runner import replicate_seeds
from gambitts.sims.worlds.outcomes import OutcomeModel
from gambitts.sims.worlds.world import GeneratorWorld

N_CELLS = PAPER_CONTEXTS.n_cells

N_ARMS, N_DIMS = 4, 2
SMALL = EnsembleConfig(n_members=6, n_hidden=8, batch_size=16, warmup_rounds=5, n_mc_draws=10)


# ---------------------------------------------------------------------- a tiny nonlinear world
@dataclass(frozen=True)
class BowlOutcome(OutcomeModel):
    """``E[Y | Z] = 80 - |Z - 0.3|^2``: the best prompt is the one whose messages land nearest."""

    @property
    def dims(self) -> tuple[str, ...]:  # noqa: D102
        return ("optimism", "formality")

    def treatment_effect(self, z: np.ndarray) -> np.ndarray:  # noqa: D102
        return -np.sum((z - 0.3) ** 2, axis=-1)


@pytest.fixture(scope="module")
def bowl_world() -> GeneratorWorld:
    """4 prompts x 12 cells x 300 draws; the cell shifts the prompts so the best one varies."""
    rng = np.random.default_rng(11)
    prompt_means = np.array([[-1.0, 0.2], [0.9, 0.8], [0.2, -0.9], [0.0, 0.0]])
    cell_shift = rng.normal(scale=0.6, size=(N_CELLS, 2))
    centres = prompt_means[:, None, None, :] + cell_shift[None, :, None, :]
    z = centres + 0.5 * rng.standard_normal((N_ARMS, N_CELLS, 300, 2))
    db = PromptDatabase(
        z=z,
        n_draws=np.full((N_ARMS, N_CELLS), 300),
        prompts=tuple(f"prompt {a}" for a in range(N_ARMS)),
        dims=("optimism", "formality"),
    )
    outcome = BowlOutcome(name="bowl", intercept=80.0, context_terms={}, rmse=1)
    return GeneratorWorld(db, outcome, np.arange(N_ARMS), noise_sd=0.5)


def _draws(world: GeneratorWorld, replicates, n_draws: int = 100) -> np.ndarray:
    seeds = replicate_seeds(3, replicates, 1)
    return generator_draws(world.db, world.arm_prompts, np.arange(N_DIMS), n_draws, seeds)


def _run(world, agent, replicates, horizon: int, seed: int = 0):
    randomness = world.draw_randomness(replicate_seeds(seed, replicates, 0), horizon)
    rng = ReplicateRandom(replicate_seeds(seed, replicates, 2))
    return simulate(
        world,
        agent,
        randomness,
        rng,
        dim_index=np.arange(N_DIMS),
        generator_draws=_draws(world, replicates),
    )


# ---------------------------------------------------------------------- gradients
@pytest.mark.parametrize("n_features", [3, 9], ids=["dims", "dims-context-prompts"])
def test_kernel_gradient_matches_finite_differences(n_features):
    rng = np.random.default_rng(1)
    n_hidden = 7
    params = rng.normal(size=parameter_count(n_features, n_hidden))
    x = rng.normal(size=(25, n_features))
    x[:, 3:] = rng.integers(0, 2, size=(25, n_features - 3))  # indicator-like inputs, many zeros
    y = rng.normal(size=25)
    loss, gradient = loss_and_gradient(params, x, y)
    assert loss == pytest.approx(0.5 * np.mean((network_output(params, x) - y) ** 2), rel=1e-12)
    step = 1e-6
    numeric = np.empty_like(params)
    for k in range(len(params)):
        shift = np.zeros_like(params)
        shift[k] = step
        up, _ = loss_and_gradient(params + shift, x, y)
        down, _ = loss_and_gradient(params - shift, x, y)
        numeric[k] = (up - down) / (2 * step)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-8)


def test_float32_kernel_agrees_with_float64():
    rng = np.random.default_rng(2)
    params = rng.normal(size=parameter_count(3, 16))
    x, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    _, exact = loss_and_gradient(params, x, y)
    _, single = loss_and_gradient(params.astype(np.float32), x, y)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, exact, rtol=1e-3, atol=1e-4)


# ---------------------------------------------------------------------- members, randomness
def _played_agent(world, config=SMALL, replicates=range(3), horizon=40, **kwargs):
    agent = EnsPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, config=config, **kwargs)
    trace = _run(world, agent, replicates, horizon)
    return agent, trace


def test_members_differ_and_their_perturbations_are_independent(bowl_world):
    agent, _ = _played_agent(bowl_world, horizon=60)
    params = agent.params_
    spread = params.std(axis=1).mean(axis=1)  # across members, per replicate
    assert np.all(spread > 0.05)
    perturbations = agent.perturbation_buffer_[:, :, : agent.n_observed_]  # (rep, member, obs)
    flat = perturbations.transpose(1, 0, 2).reshape(SMALL.n_members, -1)
    correlation = np.corrcoef(flat)
    off_diagonal = correlation[~np.eye(SMALL.n_members, dtype=bool)]
    tolerance = 4 / np.sqrt(flat.shape[1])  # 4 standard errors of a null correlation
    assert np.all(np.abs(off_diagonal) < tolerance)
    assert abs(flat.std() - 1) < 4 / np.sqrt(2 * flat.size)
    predictions = agent.predict()
    assert np.all(predictions.std(axis=1).mean(axis=(1, 2)) > 0)


def test_same_seed_same_trajectory_other_seed_other(bowl_world):
    first = _run(bowl_world, EnsPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, config=SMALL), range(3), 40)
    again = _run(bowl_world, EnsPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, config=SMALL), range(3), 40)
    other = _run(
        bowl_world, EnsPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, config=SMALL), range(3), 40, seed=9
    )
    np.testing.assert_array_equal(first.action, again.action)
    np.testing.assert_array_equal(first.reward, again.reward)
    assert not np.array_equal(first.action, other.action)


def test_replicate_chunks_give_identical_trajectories(bowl_world):
    config = SMALL.replace(warmup_rounds=3)
    full_agent = EnsPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, config=config)
    full = _run(bowl_world, full_agent, range(6), 50)
    part_agent = EnsPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, config=config)
    part = _run(bowl_world, part_agent, range(2, 6), 50)
    np.testing.assert_array_equal(full.action[2:], part.action)
    np.testing.assert_array_equal(full_agent.params_[2:], part_agent.params_)


def test_update_needs_a_select_first(bowl_world):
    agent = EnsPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, config=SMALL)
    agent.reset(2, generator_draws=_draws(bowl_world, range(2)))
    rng = np.random.default_rng(0)
    cells, z, rewards = np.array([0, 1]), np.zeros((2, N_DIMS)), np.array([80.0, 80.0])
    actions = agent.select(cells, rng)
    agent.update(cells, actions, z, rewards)
    with pytest.raises(RuntimeError, match=r"call `select\(cells, rng\)` before each `update`"):
        agent.update(cells, actions, z, rewards)


def test_select_before_reset_says_what_to_call():
    with pytest.raises(RuntimeError, match=r"call `reset\(n_replicates\)` first"):
        EnsPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS).select(
            np.zeros(2, dtype=int), np.random.default_rng(0)
        )


def test_reset_checks_generator_draws():
    agent = EnsPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS)
    with pytest.raises(ValueError, match="needs `generator_draws`"):
        agent.reset(2)
    with pytest.raises(ValueError, match=r"\(replicate, cell, arm, draw, dim\)"):
        agent.reset(2, generator_draws=np.zeros((2, N_CELLS, N_ARMS, 5, 3)))
    shared = agent.reset(3, generator_draws=np.ones((N_CELLS, N_ARMS, 5, N_DIMS)))
    assert shared.draws_.shape == (3, N_CELLS, N_ARMS, 5, N_DIMS)


def test_config_validation_and_paper_preset():
    with pytest.raises(ValueError, match="`n_members` must be a positive integer"):
        EnsembleConfig(n_members=0)
    with pytest.raises(ValueError, match="`learning_rate` must be positive"):
        EnsembleConfig(learning_rate=-1.0)
    with pytest.raises(ValueError, match="`perturbation_sd` must be non-negative"):
        EnsembleConfig(perturbation_sd=-0.5)
    paper = EnsembleConfig.paper(0.71)
    assert (paper.n_members, paper.n_hidden, paper.buffer_size, paper.batch_size) == (
        60,
        64,
        1024,
        100,
    )
    assert (paper.learning_rate, paper.warmup_rounds, paper.n_mc_draws) == (0.1, 100, 100)
    assert paper.perturbation_sd == 0.71 and paper.reset_optimizer_every_round
    assert EnsembleConfig().perturbation_sd is None  # the default never reads the true noise


def test_fresh_optimizer_makes_every_step_a_sign_step(bowl_world):
    """The paper's code re-created Adam every round: each weight then moves by about lr."""
    config = EnsembleConfig.paper(0.5).replace(n_members=3, n_hidden=8, warmup_rounds=2)
    agent = EnsPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, config=config)
    agent.reset(2, generator_draws=_draws(bowl_world, range(2)))
    rng = np.random.default_rng(0)
    for _ in range(3):
        cells = np.array([0, 5])
        actions = agent.select(cells, rng)
        before = agent.params_.copy()
        agent.update(cells, actions, rng.normal(size=(2, N_DIMS)), 80 + rng.normal(size=2))
    moved = np.abs(agent.params_ - before)
    moved = moved[moved > 1e-6]
    np.testing.assert_allclose(moved, config.learning_rate, rtol=1e-3)


def test_context_features_and_prompt_indicators_are_inputs(bowl_world):
    agent, trace = _played_agent(
        bowl_world, context_features=PAPER_CONTEXTS.features(), prompt_indicators=True
    )
    assert agent.n_features == N_DIMS + PAPER_CONTEXTS.features().shape[1] + N_ARMS - 1
    assert agent.x_buffer_.shape[2] == agent.n_features
    observed = agent.x_buffer_[:, : agent.n_observed_]
    np.testing.assert_array_equal(observed[..., -(N_ARMS - 1) :].sum(axis=2), trace.action > 0)
    assert np.all(np.isfinite(agent.params_))


def test_a_single_replicate_runs_with_a_plain_generator(bowl_world):
    agent = EnsPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, config=SMALL)
    agent.reset(1, generator_draws=_draws(bowl_world, range(1)))
    rng = np.random.default_rng(0)
    for _ in range(8):
        arm = agent.select(np.array([3]), rng)
        agent.update(np.array([3]), arm, np.ones((1, N_DIMS)), np.array([80.0]))
    assert arm.shape == (1,) and 0 <= arm[0] < N_ARMS


# ---------------------------------------------------------------------- it learns
def test_default_ensemble_learns_a_nonlinear_truth(bowl_world):
    """T=1000, 8 replicates: regret well below uniform play's, predictions near the truth."""
    replicates = range(8)
    agent = EnsPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS)
    trace = _run(bowl_world, agent, replicates, 1000)
    mu = bowl_world.expected_reward  # (cell, arm)
    uniform_regret = 1000 * np.mean(mu.max(axis=1) - mu.mean(axis=1))
    regret = trace.regret.sum(axis=1)
    assert regret.mean() < 0.25 * uniform_regret
    late, early = trace.regret[:, -200:].sum(axis=1), trace.regret[:, 20:220].sum(axis=1)
    assert late.mean() < 0.5 * early.mean()  # the regret curve flattens
    predicted = agent.predict().mean(axis=1)  # ensemble mean, (replicate, cell, arm)
    error = np.sqrt(np.mean((predicted - mu) ** 2, axis=(1, 2)))
    spread = mu.std(axis=1).mean()
    assert np.median(error) < 0.3 * spread
