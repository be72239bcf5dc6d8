"""One contract every agent honours: shapes, valid actions, determinism, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from gambitts.agents import FoGAMBITTS, PoGAMBITTS, StdTS
from gambitts.models.priors import LinearPrior
from gambitts.models.random_streams import ReplicateRandom
from gambitts.sims.contexts import N_CELLS, context_features

N_ARMS, N_DIMS, N_REPLICATES = 4, 3, 6

AGENTS = {
    "StdTS": lambda: StdTS(N_ARMS),
    "StdTS:Contextual": lambda: StdTS(N_ARMS, contextual=True),
    "po": lambda: PoGAMBITTS(N_ARMS, N_DIMS),
    "po-context-hedged": lambda: PoGAMBITTS(
        N_ARMS, N_DIMS, context_features=context_features(), prompt_indicators=True
    ),
    "po-unknown-noise": lambda: PoGAMBITTS(N_ARMS, N_DIMS, prior=LinearPrior(noise="unknown")),
    "fo": lambda: FoGAMBITTS(N_ARMS, N_DIMS),
    "fo-context-hedged-unknown": lambda: FoGAMBITTS(
        N_ARMS,
        N_DIMS,
        context_features=context_features(),
        prompt_indicators=True,
        prior=LinearPrior(noise="unknown"),
    ),
}


def _generator_means() -> np.ndarray:
    return np.random.default_rng(5).normal(size=(N_REPLICATES, N_CELLS, N_ARMS, N_DIMS))


def _play(agent, seed: int, n_rounds: int = 60) -> np.ndarray:
    """Play a fixed synthetic world and return the actions, shape (n_rounds, n_replicates)."""
    world = np.random.default_rng(seed)
    rng = ReplicateRandom(np.random.SeedSequence(seed).spawn(N_REPLICATES))
    agent.reset(N_REPLICATES, generator_means=_generator_means())
    actions = []
    for _ in range(n_rounds):
        cells = world.integers(0, N_CELLS, N_REPLICATES)
        chosen = agent.select(cells, rng)
        z = world.normal(size=(N_REPLICATES, N_DIMS)) + chosen[:, None]
        agent.update(cells, chosen, z, 80 + z.sum(axis=1) + world.normal(size=N_REPLICATES))
        actions.append(chosen)
    return np.array(actions)


@pytest.fixture(params=list(AGENTS), ids=list(AGENTS))
def make_agent(request):
    return AGENTS[request.param]


def test_actions_are_valid_arms_one_per_replicate(make_agent):
    actions = _play(make_agent(), seed=1)
    assert actions.shape == (60, N_REPLICATES)
    assert actions.min() >= 0 and actions.max() < N_ARMS
    assert np.issubdtype(actions.dtype, np.integer)


def test_same_seed_same_actions_other_seed_other_actions(make_agent):
    first, again, other = (_play(make_agent(), seed) for seed in (1, 1, 2))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def _posterior_arrays(agent) -> dict[str, np.ndarray]:
    """Every learned posterior array of an agent, by name."""
    arrays = {}
    for stage in ("posterior_", "stage1_", "stage2_"):
        if not hasattr(agent, stage):
            continue
        for name, value in vars(getattr(agent, stage)).items():
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                arrays[f"{stage}.{name}"] = value
    return arrays


def test_learned_state_is_finite(make_agent):
    agent = make_agent()
    _play(agent, seed=3)
    arrays = _posterior_arrays(agent)
    assert arrays, "the agent exposes no posterior arrays"
    for name, value in arrays.items():
        assert np.all(np.isfinite(value)), name


def test_select_before_reset_says_what_to_call(make_agent):
    with pytest.raises(RuntimeError, match=r"call `reset\(n_replicates\)` first"):
        make_agent().select(np.zeros(2, dtype=int), np.random.default_rng(0))


def test_bad_observations_are_rejected_with_the_argument_named(make_agent):
    agent = make_agent().reset(2, generator_means=_generator_means()[:2])
    cells, actions, z = np.array([0, 1]), np.array([0, 1]), np.zeros((2, N_DIMS))
    with pytest.raises(ValueError, match="`cells` must lie in"):
        agent.update(np.array([0, N_CELLS]), actions, z, np.ones(2))
    with pytest.raises(ValueError, match="`actions` must lie in"):
        agent.update(cells, np.array([0, N_ARMS]), z, np.ones(2))
    with pytest.raises(ValueError, match="`rewards` must be finite"):
        agent.update(cells, actions, z, np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="`cells` must have shape"):
        agent.select(np.array([0, 1, 2]), np.random.default_rng(0))


def test_a_single_replicate_runs_with_a_plain_generator(make_agent):
    agent = make_agent().reset(1, generator_means=_generator_means()[:1])
    rng = np.random.default_rng(0)
    for _ in range(5):
        arm = agent.select(np.array([3]), rng)
        agent.update(np.array([3]), arm, np.ones((1, N_DIMS)), np.array([80.0]))
    assert arm.shape == (1,)


@pytest.mark.parametrize("agent_class", [PoGAMBITTS, FoGAMBITTS], ids=["po", "fo"])
def test_two_stage_agents_check_z(agent_class):
    agent = agent_class(N_ARMS, N_DIMS).reset(2, generator_means=_generator_means()[:2])
    with pytest.raises(ValueError, match=r"`z` must have shape \(n_replicates=2, n_dims=3\)"):
        agent.update(np.array([0, 1]), np.array([0, 1]), np.zeros((2, 2)), np.ones(2))


def test_po_needs_generator_means_of_the_right_shape():
    agent = PoGAMBITTS(N_ARMS, N_DIMS)
    with pytest.raises(ValueError, match="needs `generator_means`"):
        agent.reset(2)
    with pytest.raises(ValueError, match=r"\(replicate, cell, arm, dim\)"):
        agent.reset(2, generator_means=np.zeros((2, N_CELLS, N_ARMS, 1)))
    shared = agent.reset(3, generator_means=np.zeros((N_CELLS, N_ARMS, N_DIMS)))
    assert shared.treatment_means_.shape == (3, N_CELLS, N_ARMS, N_DIMS)


def test_configuration_errors_name_the_argument():
    with pytest.raises(ValueError, match="`n_arms` must be at least 2"):
        StdTS(1)
    with pytest.raises(ValueError, match="`n_dims` must be at least 1"):
        PoGAMBITTS(3, 0)
    with pytest.raises(ValueError, match="`context_features` must have shape"):
        FoGAMBITTS(3, 2, context_features=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="`noise` must be 'known' or 'unknown'"):
        LinearPrior(noise="fixed")
