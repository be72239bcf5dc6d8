"""Running configurations: seeds per replicate, the world and agent of a run, its traces.

Randomness is keyed by replicate: replicate ``r`` of a run with seed ``s`` draws its world from
``SeedSequence(s, spawn_key=(r, 0))``, its generator subsets from ``(r, 1, draws_per_cell)`` and
each agent's Thompson draws from ``(r, 2, crc32(agent label))``. A replicate's trajectory is
therefore the same however many replicates run beside it and however they are chunked.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from gambitts.agents import Agent
from gambitts.agents.spec import AgentSpec
from gambitts.design.promptdb import PromptDatabase
from gambitts.errors import InputError
from gambitts.models.random_streams import BatchRandom, ReplicateRandom
from gambitts.sims.block_results import FIT_PREFIX, experiment_dataset
from gambitts.sims.experiments import ExperimentSpec, RunConfig
from gambitts.sims.generator_samples import generator_draws, generator_means
from gambitts.sims.loop import ProgressCallback, Trace, simulate
from gambitts.sims.worlds.custom import OutcomeDefinition
from gambitts.sims.worlds.outcomes import build_outcome
from gambitts.sims.worlds.world import GeneratorWorld, WorldRandomness, select_prompts

#: Random streams of a replicate (see the module notes).
WORLD_STREAM, GENERATOR_STREAM, AGENT_STREAM = 0, 1, 2


def replicate_seeds(
    seed: int, replicates: Sequence[int], *stream: int
) -> list[np.random.SeedSequence]:
    """One :class:`numpy.random.SeedSequence` per replicate for the given stream."""
    return [np.random.SeedSequence(seed, spawn_key=(int(r), *stream)) for r in replicates]


def _label_key(agent_spec: AgentSpec) -> int:
    return zlib.crc32(agent_spec.label.encode())


def build_world(config: RunConfig, db: PromptDatabase) -> GeneratorWorld:
    """Build the world of one configuration on ``db``."""
    return make_world(
        db,
        config.outcome_model,
        n_prompts=config.n_prompts,
        noise_level=config.noise_level,
        outcome_dims=config.outcome_dims,
        context_probabilities=config.context_probabilities,
    )


def make_world(
    db: PromptDatabase,
    outcome_model: str | OutcomeDefinition,
    *,
    n_prompts: int,
    noise_level: int,
    outcome_dims: tuple[str, ...] | None = None,
    context_probabilities: tuple[float, ...] | None = None,
) -> GeneratorWorld:
    """Build a world on ``db``: its outcome model, the paper's choice of prompts, a noise level.

    ``context_probabilities`` (one per cell) replace the database's arrival distribution.
    """
    outcome = build_outcome(outcome_model, outcome_dims)
    arm_prompts = select_prompts(db, outcome, n_prompts)
    grid = outcome.noise_grid(db)
    if isinstance(noise_level, bool) or not isinstance(noise_level, int | np.integer):
        raise InputError(f"`noise_level` must be a whole number, got {noise_level!r}")
    if not 0 <= noise_level < len(grid):
        raise InputError(
            f"`noise_level` must be 0..{len(grid) - 1} for this world, got {noise_level}"
        )
    noise_sd = grid[noise_level]
    contexts = db.contexts
    if context_probabilities is not None:
        contexts = contexts.with_probabilities(context_probabilities)
    return GeneratorWorld(db, outcome, arm_prompts, noise_sd, contexts)


def run_config(
    config: RunConfig,
    db: PromptDatabase,
    *,
    seed: int,
    replicates: Sequence[int],
    progress: ProgressCallback | None = None,
) -> xr.Dataset:
    """Run one configuration for the given replicates.

    Parameters
    ----------
    config : RunConfig
    db : PromptDatabase
    seed : int
        Root seed of the run.
    replicates : sequence of int
        Which replicates to run; any subset gives exactly those replicates' trajectories.
    progress : callable, optional
        Called with the number of replicate-rounds completed.

    Returns
    -------
    xarray.Dataset
        ``regret``, ``action``, ``reward``, ``optimal_action``, ``context_cell`` over
        ``(replicate, t)``; ``expected_reward`` over ``(cell, arm)``; ``arm_prompt``; ``noise_sd``.
        Agents that refit a model (custom agents) add their fit diagnostics, named
        ``fit_<name>`` over ``(refit, replicate[, variable])`` (see
        :func:`gambitts.models.diagnostics.stack_diagnostics`).
    """
    replicates = np.asarray(replicates, dtype=np.int64)
    run = prepare_run(config, db, seed, replicates)
    trace = run.simulate(progress)
    ds = _trace_dataset(config, db, run, trace, replicates)
    diagnostics = getattr(run.agent, "diagnostics_", None)
    if diagnostics is not None:
        diagnostics = diagnostics.assign_coords(replicate=replicates)
        ds = ds.merge(diagnostics.rename({n: FIT_PREFIX + n for n in diagnostics.data_vars}))
    return ds


def _trace_dataset(
    config: RunConfig,
    db: PromptDatabase,
    run: PreparedRun,
    trace: Trace,
    replicates: np.ndarray,
) -> xr.Dataset:
    world, randomness = run.world, run.randomness
    pair = ("replicate", "t")
    return xr.Dataset(
        {
            "regret": (
                pair,
                trace.regret,
                {"long_name": "per-round regret, max_a mu(a, x_t) - mu(a_t, x_t)"},
            ),
            "action": (pair, trace.action, {"long_name": "arm played (index into arm_prompt)"}),
            "reward": (pair, trace.reward, {"long_name": "observed reward"}),
            "optimal_action": (
                pair,
                world.optimal_arm[randomness.cells].astype(np.int16),
                {"long_name": "best arm in the round's context"},
            ),
            "context_cell": (pair, randomness.cells.astype(np.int16)),
            "expected_reward": (
                ("cell", "arm"),
                world.expected_reward,
                {"long_name": "mu(arm, cell)"},
            ),
            "arm_prompt": ("arm", [db.prompts[p] for p in world.arm_prompts]),
            "noise_sd": ((), world.noise_sd, {"long_name": "reward noise standard deviation"}),
        },
        coords={
            "replicate": replicates,
            "t": np.arange(1, config.horizon + 1),
            "arm": np.arange(world.n_arms),
            **db.contexts.coords(),
        },
    )


@dataclass
class PreparedRun:
    """Everything one configuration needs to run for a batch of replicates."""

    world: GeneratorWorld
    agent: Agent
    randomness: WorldRandomness
    rng: BatchRandom
    dim_index: np.ndarray
    means: np.ndarray | None
    draws: np.ndarray | None

    def simulate(self, progress: ProgressCallback | None = None) -> Trace:
        """Run the loop over rounds for this run's replicates."""
        return simulate(
            self.world,
            self.agent,
            self.randomness,
            self.rng,
            dim_index=self.dim_index,
            generator_means=self.means,
            generator_draws=self.draws,
            progress=progress,
        )


def prepare_run(
    config: RunConfig, db: PromptDatabase, seed: int, replicates: np.ndarray
) -> PreparedRun:
    """Build the world, agent, random streams and generator samples of one run's replicates."""
    world = build_world(config, db)
    randomness = world.draw_randomness(
        replicate_seeds(seed, replicates, WORLD_STREAM), config.horizon
    )
    agent_spec = config.agent
    dim_index = db.dim_index(agent_spec.modelled_dims)
    agent = agent_spec.build(config.n_prompts, db.contexts, noise_sd=world.noise_sd)
    means = draws = None
    n_draws = agent_spec.draws_wanted
    subset_seeds = replicate_seeds(seed, replicates, GENERATOR_STREAM, n_draws or 0)
    if agent.uses_generator:
        means = generator_means(db, world.arm_prompts, dim_index, n_draws, subset_seeds)
    if agent.uses_generator_draws:
        n_draws = n_draws or int(db.n_draws[world.arm_prompts].max())
        draws = generator_draws(db, world.arm_prompts, dim_index, n_draws, subset_seeds)
    rng = ReplicateRandom(replicate_seeds(seed, replicates, AGENT_STREAM, _label_key(agent_spec)))
    return PreparedRun(world, agent, randomness, rng, dim_index, means, draws)


def run_experiment(
    spec: ExperimentSpec,
    db: PromptDatabase,
    *,
    seed: int = 0,
    replicates: Sequence[int] | None = None,
    progress: ProgressCallback | None = None,
) -> xr.Dataset:
    """Run every configuration of ``spec`` in this process and collect the results.

    Parameters
    ----------
    spec : ExperimentSpec
    db : PromptDatabase
    seed : int
        Root seed of the run.
    replicates : sequence of int, optional
        Which replicates to run (default ``range(spec.replicates)``); a subset gives exactly
        those replicates' trajectories of the full run.
    progress : callable, optional
        Called with the number of replicate-rounds completed, summed over configurations.

    Returns
    -------
    xarray.Dataset
        See :func:`experiment_dataset`.
    """
    replicates = np.arange(spec.replicates) if replicates is None else np.asarray(replicates)
    results: dict[RunConfig, xr.Dataset] = {}
    for setting in spec.settings():
        for config in setting.configs:
            if config not in results:
                results[config] = run_config(
                    config, db, seed=seed, replicates=replicates, progress=progress
                )
    return experiment_dataset(spec, results, seed=seed, db=db)
