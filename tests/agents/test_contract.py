"""One contract every agent kind honours, after scikit-learn's ``parametrize_with_checks``.

Every check below runs over every entry of :data:`KINDS` (test ids are the kind names): what
``select`` returns, determinism under a seed, chunk invariance over replicates, errors before
``reset``, rejection of bad inputs, ``update_sequence`` against round-by-round updates and
against a live run, and the posterior export. The world is synthetic and small: 6 replicates,
12 context cells, 4 prompts, 2 modelled dims, 30 rounds.

Custom agents compile PyMC models at their first ``reset``; one instance of each serves the
whole module (``reset`` must return it to its prior, which the determinism check also tests),
and every kind's seed-1 run over all replicates is played once and shared by the checks that
read it (:func:`played`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import pytest
import xarray as xr

from gambitts.agents import (
    Agent,
    EmbeddingAgent,
    EnsembleConfig,
    EnsPoGAMBITTS,
    FoGAMBITTS,
    PoGAMBITTS,
    StdTS,
)
from gambitts.agents.custom import CustomPoGAMBITTS
from gambitts.agents.custom_fo import CustomFoGAMBITTS
from gambitts.design.contexts import PAPER_CONTEXTS
from gambitts.models.inference_data import posterior_inference_data
from gambitts.models.priors import LinearPrior
from gambitts.models.pymc_models import build_outcome_model
from gambitts.models.random_streams import ReplicateRandom
from gambitts.sims.runner import replicate_seeds

N_ARMS, N_DIMS, N_REPLICATES, N_ROUNDS, N_DRAWS = 4, 2, 6, 30, 8
AGENT_STREAM = 2  # as the runner keys agents' streams: (replicate, 2, ...)

SMALL_ENSEMBLE = EnsembleConfig(
    n_members=4, n_hidden=8, batch_size=16, warmup_rounds=5, n_mc_draws=N_DRAWS
)

N_CELLS = PAPER_CONTEXTS.n_cells
CUSTOM = {
    "builder": build_outcome_model,
    "method": "laplace",
    "refit_every": 12,  # two refits in N_ROUNDS, and rounds that select from the second
    "draws": 50,
    "chains": 2,
    "warn_unhealthy": False,  # as the runner builds them
}


@dataclass(frozen=True)
class Kind:
    """How to build one agent kind.

    Attributes
    ----------
    build : callable
        Returns a new, un-reset agent.
    compiles : bool
        The agent compiles PyMC models at its first reset, so one instance serves the module.
    """

    build: Callable[[], Agent]
    compiles: bool = False


KINDS: dict[str, Kind] = {
    "StdTS": Kind(lambda: StdTS(N_ARMS, N_CELLS)),
    "StdTS:Contextual": Kind(lambda: StdTS(N_ARMS, N_CELLS, contextual=True)),
    "poGAMBITTS": Kind(lambda: PoGAMBITTS(N_ARMS, N_DIMS, N_CELLS)),
    "poGAMBITTS:context-hedged-unknown-noise": Kind(
        lambda: PoGAMBITTS(
            N_ARMS,
            N_DIMS,
            N_CELLS,
            context_features=PAPER_CONTEXTS.features(),
            prompt_indicators=True,
            prior=LinearPrior(noise="unknown"),
        )
    ),
    "foGAMBITTS": Kind(lambda: FoGAMBITTS(N_ARMS, N_DIMS, N_CELLS)),
    "foGAMBITTS:context-hedged-unknown-noise": Kind(
        lambda: FoGAMBITTS(
            N_ARMS,
            N_DIMS,
            N_CELLS,
            context_features=PAPER_CONTEXTS.features(),
            prompt_indicators=True,
            prior=LinearPrior(noise="unknown"),
        )
    ),
    "ens-poGAMBITTS": Kind(lambda: EnsPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, config=SMALL_ENSEMBLE)),
    "ens-poGAMBITTS:context-hedged": Kind(
        lambda: EnsPoGAMBITTS(
            N_ARMS,
            N_DIMS,
            N_CELLS,
            context_features=PAPER_CONTEXTS.features(),
            prompt_indicators=True,
            config=SMALL_ENSEMBLE,
        )
    ),
    "custom-poGAMBITTS": Kind(
        lambda: CustomPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, n_mc_draws=N_DRAWS, **CUSTOM),
        compiles=True,
    ),
    "custom-foGAMBITTS": Kind(
        lambda: CustomFoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, **CUSTOM), compiles=True
    ),
}

CUSTOM_KINDS = [name for name, kind in KINDS.items() if kind.compiles]


def _kind_params(xfail: dict[str, str] | None = None) -> list:
    """Return the kinds as pytest params, those in ``xfail`` (kind -> reason) strict xfails."""
    xfail = xfail or {}
    return [
        pytest.param(
            name,
            id=name,
            marks=[pytest.mark.xfail(strict=True, reason=xfail[name])] if name in xfail else [],
        )
        for name in KINDS
    ]


# ---------------------------------------------------------------------- the world
@dataclass(frozen=True)
class World:
    """A fixed synthetic world, every array with a replicate axis so that chunks slice it."""

    treatment_means: np.ndarray  # (cell, arm, dim): mean of Z per (cell, prompt)
    generator_draws: np.ndarray  # (replicate, cell, arm, draw, dim)
    cells: np.ndarray  # (round, replicate)
    z_noise: np.ndarray  # (round, replicate, dim)
    reward_noise: np.ndarray  # (round, replicate)
    random_actions: np.ndarray  # (round, replicate): an off-policy record's actions

    def respond(
        self, t: int, replicates: np.ndarray, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the ``Z`` and rewards of round ``t`` for the given replicates' actions."""
        cells = self.cells[t, replicates]
        z = self.treatment_means[cells, actions] + 0.5 * self.z_noise[t, replicates]
        rewards = 80.0 + z @ np.array([1.5, -1.0]) + self.reward_noise[t, replicates]
        return z, rewards


def _make_world(seed: int = 0) -> World:
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(N_CELLS, N_ARMS, N_DIMS))
    draws = means[:, :, None] + 0.5 * rng.normal(
        size=(N_REPLICATES, N_CELLS, N_ARMS, N_DRAWS, N_DIMS)
    )
    return World(
        treatment_means=means,
        generator_draws=draws,
        cells=rng.integers(0, N_CELLS, (N_ROUNDS, N_REPLICATES)),
        z_noise=rng.normal(size=(N_ROUNDS, N_REPLICATES, N_DIMS)),
        reward_noise=rng.normal(size=(N_ROUNDS, N_REPLICATES)),
        random_actions=rng.integers(0, N_ARMS, (N_ROUNDS, N_REPLICATES)),
    )


WORLD = _make_world()


def _agent_rng(replicates: np.ndarray, seed: int) -> ReplicateRandom:
    """Per-replicate streams keyed by the replicate's number, as the runner keys them."""
    return ReplicateRandom(replicate_seeds(seed, replicates, AGENT_STREAM))


def _reset(agent: Agent, replicates: np.ndarray) -> Agent:
    draws = WORLD.generator_draws[replicates]
    return agent.reset(len(replicates), generator_means=draws.mean(axis=3), generator_draws=draws)


# ---------------------------------------------------------------------- runs and their state
@dataclass
class Run:
    """What a run leaves: every ``select`` output, the record, the state and the posteriors."""

    agent_name: str
    selections: list[np.ndarray]
    record: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # cells, actions, z, rewards
    state: dict[str, np.ndarray]
    exports: list[az.InferenceData]  # posterior_inference_data of each replicate of the run

    @property
    def actions(self) -> np.ndarray:
        """Every round's actions, ``(n_rounds, n_replicates)``."""
        return np.stack(self.selections)

    @property
    def posteriors(self) -> list[xr.Dataset]:
        """The ``posterior`` group of each replicate's export."""
        return [export.posterior for export in self.exports]


def _finish(agent: Agent, selections, record) -> Run:
    exports = [posterior_inference_data(agent, r, n_draws=50) for r in range(agent.n_replicates)]
    return Run(agent.name, selections, record, _learned_state(agent), exports)


def _play(agent: Agent, replicates=range(N_REPLICATES), seed: int = 1) -> Run:
    """Let the agent choose for ``N_ROUNDS`` rounds in :data:`WORLD`, replicates in lockstep."""
    replicates = np.asarray(replicates)
    rng = _agent_rng(replicates, seed)
    _reset(agent, replicates)
    selections, record = [], []
    for t in range(N_ROUNDS):
        cells = WORLD.cells[t, replicates]
        chosen = agent.select(cells, rng)
        selections.append(chosen)
        # The world plays the nearest valid arm, so that a bad selection fails the select check
        # rather than the run (valid selections pass unchanged).
        played = np.clip(np.asarray(chosen).astype(np.int64), 0, N_ARMS - 1)
        z, rewards = WORLD.respond(t, replicates, played)
        agent.update(cells, played, z, rewards)
        record.append((cells, played, z, rewards))
    stacked = tuple(np.stack(column) for column in zip(*record, strict=True))
    return _finish(agent, selections, stacked)


def _recorded(replicates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return an off-policy record of :data:`WORLD` (uniformly random actions)."""
    actions = WORLD.random_actions[:, replicates]
    responses = [WORLD.respond(t, replicates, actions[t]) for t in range(N_ROUNDS)]
    z, rewards = zip(*responses, strict=True)
    return WORLD.cells[:, replicates], actions, np.stack(z), np.stack(rewards)


#: Learned attributes that hold wall-clock times (fit diagnostics include them), not data.
_WALL_CLOCK = {"fit_times_", "diagnostics_"}


def _learned_state(agent: Agent) -> dict[str, np.ndarray]:
    """Copy every array and number of the agent's learned state (attributes ending in _).

    Descends into lists, dicts and the package's own posterior objects; skips what is not data
    (PyMC models, xarray diagnostics) and wall-clock times.
    """
    state: dict[str, np.ndarray] = {}

    def collect(name: str, value: Any) -> None:
        if isinstance(value, np.ndarray | np.generic | int | float):
            state[name] = np.array(value, copy=True)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                collect(f"{name}[{i}]", item)
        elif isinstance(value, dict):
            for key, item in value.items():
                collect(f"{name}[{key!r}]", item)
        elif type(value).__module__.startswith("gambitts."):
            for key, item in vars(value).items():
                collect(f"{name}.{key}", item)

    for name in dir(agent):
        if name.endswith("_") and not name.startswith("_") and name not in _WALL_CLOCK:
            try:
                value = getattr(agent, name)
            except AttributeError:  # a property that does not apply to this configuration
                continue
            collect(name, copy.deepcopy(value) if isinstance(value, list | dict) else value)
    return state


def _assert_same_state(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> None:
    assert first.keys() == second.keys()
    for name, value in first.items():
        np.testing.assert_array_equal(value, second[name], err_msg=f"learned state `{name}`")


def _assert_same_posterior(first: xr.Dataset, second: xr.Dataset, what: str = "") -> None:
    assert set(first.data_vars) == set(second.data_vars), what
    for name, variable in first.data_vars.items():
        assert variable.dims == second[name].dims, f"{what} `{name}`"
        np.testing.assert_array_equal(
            variable.values, second[name].values, err_msg=f"{what} posterior `{name}`"
        )


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def _module_cache() -> dict[str, dict]:
    """Per kind: the compiled agent (custom kinds) and the seed-1 run (see :func:`played`)."""
    return {"agents": {}, "runs": {}}


@pytest.fixture(params=_kind_params())
def kind(request) -> str:
    return request.param


@pytest.fixture
def make_agent(kind: str, _module_cache: dict[str, dict]) -> Callable[[], Agent]:
    """Return a factory of the kind's agents (for custom kinds, the module's one instance)."""
    agents = _module_cache["agents"]

    def make() -> Agent:
        if not KINDS[kind].compiles:
            return KINDS[kind].build()
        if kind not in agents:
            agents[kind] = KINDS[kind].build()
        return agents[kind]

    return make


@pytest.fixture
def played(kind: str, make_agent, _module_cache: dict[str, dict]) -> Run:
    """Return the kind's run over all replicates with seed 1, played once per module."""
    runs = _module_cache["runs"]
    if kind not in runs:
        runs[kind] = _play(make_agent(), seed=1)
    return runs[kind]


# ---------------------------------------------------------------------- the checks
def test_select_returns_one_valid_integer_arm_per_replicate(played):
    run = played
    for t, chosen in enumerate(run.selections):
        assert isinstance(chosen, np.ndarray) and chosen.shape == (N_REPLICATES,), f"round {t}"
        assert chosen.dtype.kind in "iu", f"round {t}: dtype {chosen.dtype}"
        assert np.all((chosen >= 0) & (chosen < N_ARMS)), f"round {t}: {chosen}"
    assert len(np.unique(run.actions)) > 1  # it does choose


def test_same_seed_same_run_other_seed_other_actions(make_agent, played):
    """Two runs with the same seed agree in every action, state array and posterior draw.

    The second seed-1 run comes after a seed-2 run of the same instance: ``reset`` must forget
    it. (The first is :func:`played`, by a fresh instance unless the kind compiles models.)
    """
    agent = make_agent()
    other = _play(agent, seed=2)
    again = _play(agent, seed=1)
    np.testing.assert_array_equal(played.actions, again.actions)
    _assert_same_state(played.state, again.state)
    for r in range(N_REPLICATES):
        _assert_same_posterior(played.posteriors[r], again.posteriors[r], f"replicate {r}")
    assert not np.array_equal(played.actions, other.actions)


def test_replicate_chunks_give_the_trajectories_of_the_whole_batch(make_agent, played):
    """Replicates 0..5 together equal replicates 0..2 and 3..5 run on their own."""
    whole = played
    half = N_REPLICATES // 2
    parts = [_play(make_agent(), range(0, half)), _play(make_agent(), range(half, N_REPLICATES))]
    np.testing.assert_array_equal(whole.actions, np.concatenate([p.actions for p in parts], 1))
    for r, posterior in enumerate(parts[0].posteriors + parts[1].posteriors):
        _assert_same_posterior(whole.posteriors[r], posterior, f"replicate {r}")


def test_calls_before_reset_say_what_to_call_first(kind):
    agent = KINDS[kind].build()
    cells, z = np.zeros(2, dtype=int), np.zeros((2, N_DIMS))
    calls = {
        "select": lambda: agent.select(cells, np.random.default_rng(0)),
        "update": lambda: agent.update(cells, cells, z, np.ones(2)),
        "update_sequence": lambda: agent.update_sequence(
            cells[None], cells[None], z[None], np.ones((1, 2)), rng=np.random.default_rng(0)
        ),
        "n_replicates": lambda: agent.n_replicates,
        "posterior_inference_data": lambda: posterior_inference_data(agent),
    }
    for name, call in calls.items():
        with pytest.raises(RuntimeError, match=r"call `reset\(n_replicates\)` first") as error:
            call()
        assert name in str(error.value), f"the message of {name} does not name it"


def test_update_needs_a_select_exactly_when_the_agent_says_so(make_agent):
    agent = _reset(make_agent(), np.arange(2))
    cells, actions, z, rewards = (column[0, :2] for column in _recorded(np.arange(2)))
    if agent.update_needs_select:
        with pytest.raises(RuntimeError, match=r"call `select\(cells, rng\)` before each"):
            agent.update(cells, actions, z, rewards)
    else:
        assert agent.update(cells, actions, z, rewards) is agent


def _bad_inputs(agent: Agent) -> list[tuple[str, Callable[[], Any], type, str]]:
    """Return ``(what, call, error, message pattern)`` for a reset agent of 2 replicates."""
    good = {
        "cells": np.array([0, 5]),
        "actions": np.array([1, 2]),
        "z": np.zeros((2, N_DIMS)),
        "rewards": np.array([80.0, 81.0]),
    }
    sequence = {name: np.stack([value] * 3) for name, value in good.items()}

    def update(**bad):
        return lambda: agent.update(**{**good, **bad})

    def update_sequence(**bad):
        return lambda: agent.update_sequence(**{**sequence, **bad}, rng=np.random.default_rng(0))

    def later_round(name: str, value: Any) -> np.ndarray:
        array = sequence[name].astype(float if name in ("z", "rewards") else int).copy()
        array[2, 1] = value
        return array

    def select(cells, rng=None):
        return lambda: agent.select(np.asarray(cells), rng or np.random.default_rng(0))

    cells_shape, cells_range = r"`cells` must have shape \(2,\)", r"`cells` must lie in \[0, 12\)"
    observation_shape = r"`actions` and `rewards` must have shape \(2,\)"
    actions_range = r"`actions` must lie in \[0, 4\)"
    cases = [
        ("select: 3 cells for 2 replicates", select([0, 1, 2]), ValueError, cells_shape),
        ("select: cell 12 of 12", select([0, N_CELLS]), ValueError, cells_range),
        ("select: negative cell", select([-1, 0]), ValueError, cells_range),
        (
            "select: rng for 3 replicates",
            select([0, 1], ReplicateRandom(np.random.SeedSequence(0).spawn(3))),
            ValueError,
            "`rng` serves 3 replicates but the agent has 2",
        ),
        ("select: rng not a generator", select([0, 1], 7), TypeError, "`rng` must be a numpy"),
        ("update: cell 12 of 12", update(cells=np.array([0, 12])), ValueError, cells_range),
        ("update: fractional cell", update(cells=np.array([0.5, 1])), ValueError, cells_range),
        ("update: 3 cells", update(cells=np.array([0, 1, 2])), ValueError, cells_shape),
        ("update: action 4 of 4", update(actions=np.array([0, 4])), ValueError, actions_range),
        ("update: negative action", update(actions=np.array([-1, 0])), ValueError, actions_range),
        ("update: 1 action", update(actions=np.array([0])), ValueError, observation_shape),
        ("update: 3 rewards", update(rewards=np.ones(3)), ValueError, observation_shape),
        (
            "update: NaN reward",
            update(rewards=np.array([80.0, np.nan])),
            ValueError,
            "`rewards` must be finite",
        ),
        (
            "update: infinite reward",
            update(rewards=np.array([np.inf, 80.0])),
            ValueError,
            "`rewards` must be finite",
        ),
        (
            "update_sequence: 2 rounds of actions for 3 rounds",
            update_sequence(actions=sequence["actions"][:2]),
            ValueError,
            r"`actions` must have the shape of `cells`, \(3, 2\)",
        ),
        (
            "update_sequence: one round without its round axis",
            update_sequence(**good),
            ValueError,
            r"`cells` must have shape \(n_rounds, n_replicates=2\)",
        ),
        (
            "update_sequence: action 4 in round 2",
            update_sequence(actions=later_round("actions", N_ARMS)),
            ValueError,
            r"`actions` must lie in \[0, 4\), got values \[1 4\] in round 2",
        ),
        (
            "update_sequence: NaN reward in round 2",
            update_sequence(rewards=later_round("rewards", np.nan)),
            ValueError,
            "`rewards` must be finite, got NaN or inf in round 2",
        ),
    ]
    if isinstance(agent, EmbeddingAgent):  # StdTS does not read Z, so it does not check it
        z_nan = np.array([[0.0, np.nan], [0.0, 0.0]])
        cases += [
            ("update: NaN in z", update(z=z_nan), ValueError, "`z` must be finite"),
            (
                "update: z with 3 dims",
                update(z=np.zeros((2, N_DIMS + 1))),
                ValueError,
                r"`z` must have shape \(n_replicates=2, n_dims=2\)",
            ),
            (
                "update_sequence: NaN in z in round 2",
                update_sequence(z=later_round("z", np.nan)),
                ValueError,
                "`z` must be finite, got NaN or inf in round 2",
            ),
        ]
    return cases


def test_bad_inputs_raise_a_clear_error_and_change_nothing(make_agent):
    agent = _reset(make_agent(), np.arange(2))
    agent.select(np.array([0, 1]), np.random.default_rng(0))  # what ens-poGAMBITTS updates need
    before = _learned_state(agent)
    problems = []
    for what, call, error, pattern in _bad_inputs(agent):
        try:
            with pytest.raises(error, match=pattern):
                call()
        except (Exception, pytest.fail.Exception) as failure:  # noqa: BLE001 - report them all
            problems.append(f"{what}: {type(failure).__name__}: {failure}")
            continue
        try:
            _assert_same_state(before, _learned_state(agent))
        except AssertionError as failure:
            problems.append(f"{what}: the rejected call changed the state: {failure}")
    assert not problems, "\n".join(problems)
    agent.update(np.array([0, 5]), np.array([1, 2]), np.zeros((2, N_DIMS)), np.ones(2))


def test_update_sequence_equals_updates_one_by_one(make_agent):
    """An off-policy record replayed in one call and round by round ends in the same state.

    Without ``rng`` the rounds are plain updates; agents whose updates use ``select``'s draws
    (``update_needs_select``) refuse that and, with ``rng``, stand for ``select`` then ``update``.
    """
    replicates = np.arange(3)
    record = _recorded(replicates)
    agent = _reset(make_agent(), replicates)
    if agent.update_needs_select:
        with pytest.raises(TypeError, match=r"update_sequence needs `rng`"):
            agent.update_sequence(*record)
        assert agent.update_sequence(*record, rng=_agent_rng(replicates, 5)) is agent
    else:
        assert agent.update_sequence(*record) is agent
    sequenced = _finish(agent, [], record)

    agent = _reset(make_agent(), replicates)
    rng = _agent_rng(replicates, 5)
    for cells, actions, z, rewards in zip(*record, strict=True):
        if agent.update_needs_select:
            agent.select(cells, rng)
        agent.update(cells, actions, z, rewards)
    one_by_one = _finish(agent, [], record)

    _assert_same_state(sequenced.state, one_by_one.state)
    for r in replicates:
        _assert_same_posterior(sequenced.posteriors[r], one_by_one.posteriors[r], f"replicate {r}")


@pytest.mark.parametrize("kind", _kind_params())
def test_replaying_a_live_run_with_its_stream_rebuilds_its_state(make_agent, played):
    """The record of a run, replayed by update_sequence with the run's stream, ends in its state.

    This is what lets a study's log rebuild an agent: ``update_sequence(..., rng=r)`` stands for
    ``select(cells, r)`` then ``update`` in every round.
    """
    live = played
    agent = _reset(make_agent(), np.arange(N_REPLICATES))
    agent.update_sequence(*live.record, rng=_agent_rng(np.arange(N_REPLICATES), 1))
    replay = _finish(agent, [], live.record)
    _assert_same_state(live.state, replay.state)
    for r in range(N_REPLICATES):
        _assert_same_posterior(live.posteriors[r], replay.posteriors[r], f"replicate {r}")


def test_learned_state_and_posterior_export_are_finite(played):
    run = played
    assert run.state, "the agent exposes no learned state"
    for name, value in run.state.items():
        if value.dtype.kind in "fc":
            assert np.all(np.isfinite(value)), f"learned state `{name}` is not finite"
    for replicate, export in enumerate(run.exports):
        assert export.attrs["agent"] == run.agent_name
        assert export.attrs["replicate"] == replicate
        posterior = export.posterior
        assert posterior.data_vars, "the posterior export is empty"
        for name, variable in posterior.data_vars.items():
            assert variable.dims[:2] == ("chain", "draw"), name
            assert variable.sizes["draw"] > 1, name
            assert np.all(np.isfinite(variable.values)), f"posterior `{name}` has NaN or inf"


def test_a_single_replicate_runs_with_a_plain_generator(make_agent):
    agent = _reset(make_agent(), np.arange(1))
    rng = np.random.default_rng(0)
    for t in range(12):
        arm = agent.select(WORLD.cells[t, :1], rng)
        z, rewards = WORLD.respond(t, np.arange(1), arm)
        agent.update(WORLD.cells[t, :1], arm, z, rewards)
    assert arm.shape == (1,) and 0 <= arm[0] < N_ARMS


# ---------------------------------------------------------------------- kind-specific checks
def test_po_needs_generator_means_of_the_right_shape():
    agent = PoGAMBITTS(N_ARMS, N_DIMS, N_CELLS)
    with pytest.raises(ValueError, match="needs `generator_means`"):
        agent.reset(2)
    with pytest.raises(ValueError, match=r"\(replicate, cell, arm, dim\)"):
        agent.reset(2, generator_means=np.zeros((2, N_CELLS, N_ARMS, 1)))
    shared = agent.reset(3, generator_means=np.zeros((N_CELLS, N_ARMS, N_DIMS)))
    assert shared.treatment_means_.shape == (3, N_CELLS, N_ARMS, N_DIMS)


def test_configuration_errors_name_the_argument():
    with pytest.raises(ValueError, match="`n_arms` must be at least 2"):
        StdTS(1, N_CELLS)
    with pytest.raises(ValueError, match="`n_dims` must be at least 1"):
        PoGAMBITTS(3, 0, N_CELLS)
    with pytest.raises(ValueError, match="`context_features` must have shape"):
        FoGAMBITTS(3, 2, N_CELLS, context_features=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="`noise` must be 'known' or 'unknown'"):
        LinearPrior(noise="fixed")
