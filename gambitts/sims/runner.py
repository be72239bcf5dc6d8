"""The simulator: the one loop over rounds, with all replicates in lockstep.

Randomness is keyed by replicate: replicate ``r`` of a run with seed ``s`` draws its world from
``SeedSequence(s, spawn_key=(r, 0))``, its generator subsets from ``(r, 1, draws_per_cell)`` and
each agent's Thompson draws from ``(r, 2, crc32(agent label))``. A replicate's trajectory is
therefore the same however many replicates run beside it and however they are chunked.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from gambitts.agents import Agent
from gambitts.design.promptdb import PromptDatabase
from gambitts.errors import InputError
from gambitts.models.random_streams import BatchRandom, ReplicateRandom
from gambitts.sims.experiments import AgentSpec, ExperimentSpec, RunConfig
from gambitts.sims.outcomes import build_outcome
from gambitts.sims.world import GeneratorWorld, WorldRandomness, select_prompts

ProgressCallback = Callable[[int], None]
_PROGRESS_EVERY = 50

_WORLD_STREAM, _GENERATOR_STREAM, _AGENT_STREAM = 0, 1, 2

#: Prefix of the fit-diagnostics variables in a configuration's results.
FIT_PREFIX = "fit_"


def replicate_seeds(
    seed: int, replicates: Sequence[int], *stream: int
) -> list[np.random.SeedSequence]:
    """One :class:`numpy.random.SeedSequence` per replicate for the given stream."""
    return [np.random.SeedSequence(seed, spawn_key=(int(r), *stream)) for r in replicates]


@dataclass(frozen=True)
class Trace:
    """What one agent did in one world: arrays ``(n_replicates, horizon)``."""

    regret: np.ndarray
    action: np.ndarray
    reward: np.ndarray


def simulate(
    world: GeneratorWorld,
    agent: Agent,
    randomness: WorldRandomness,
    rng: BatchRandom,
    *,
    dim_index: np.ndarray,
    generator_means: np.ndarray | None = None,
    generator_draws: np.ndarray | None = None,
    progress: ProgressCallback | None = None,
) -> Trace:
    """Run ``agent`` in ``world`` for every replicate of ``randomness``, all in lockstep.

    Parameters
    ----------
    world : GeneratorWorld
    agent : Agent
        Reset here for ``n_replicates`` replicates.
    randomness : WorldRandomness
        The world's random numbers, shape ``(n_replicates, horizon)`` each.
    rng : BatchRandom
        The agent's random streams.
    dim_index : ndarray of int
        Database dimensions the agent observes (its modelled dims), in order.
    generator_means, generator_draws : ndarray, optional
        Passed to ``agent.reset`` for agents that use generator draws.
    progress : callable, optional
        Called with the number of replicate-rounds completed since the last call.
    """
    n_replicates, horizon = randomness.cells.shape
    agent.reset(n_replicates, generator_means, generator_draws)
    regret = np.empty((horizon, n_replicates), dtype=np.float32)
    action = np.empty((horizon, n_replicates), dtype=np.int16)
    reward = np.empty((horizon, n_replicates), dtype=np.float32)
    observed_z = world.embedding_table(dim_index)
    # Round-major copies, so that each round's numbers are contiguous.
    cells_by_round = np.ascontiguousarray(randomness.cells.T)
    uniform_by_round = np.ascontiguousarray(randomness.draw_uniform.T)
    noise_by_round = np.ascontiguousarray(randomness.noise.T)
    for t in range(horizon):
        cells = cells_by_round[t]
        actions = agent.select(cells, rng)
        rows, rewards, regret[t] = world.step(
            cells, actions, uniform_by_round[t], noise_by_round[t]
        )
        agent.update(cells, actions, observed_z[rows], rewards)
        action[t] = actions
        with np.errstate(over="ignore"):  # an overflow to inf is refused by _check_finite
            reward[t] = rewards
        if progress is not None and (t + 1) % _PROGRESS_EVERY == 0:
            progress(_PROGRESS_EVERY * n_replicates)
    if progress is not None and horizon % _PROGRESS_EVERY:
        progress(horizon % _PROGRESS_EVERY * n_replicates)
    return Trace(regret.T, action.T, reward.T)


def generator_means(
    db: PromptDatabase,
    arm_prompts: np.ndarray,
    dim_index: np.ndarray,
    draws_per_cell: int | None,
    seeds: Sequence[np.random.SeedSequence],
) -> np.ndarray:
    """Mean of each replicate's own random subset of generator draws per (cell, arm).

    Each replicate gets a fresh subset of ``draws_per_cell`` rows of every (prompt, cell)
    (all rows where the cell has fewer, or when ``draws_per_cell`` is ``None``).

    Returns
    -------
    ndarray, shape (n_replicates, n_cells, n_arms, n_dims)
    """
    z = db.z[arm_prompts][..., dim_index]  # (arm, cell, draw, dim)
    n_draws = db.n_draws[arm_prompts]  # (arm, cell)
    if draws_per_cell is None or draws_per_cell >= n_draws.max():
        means = db.cell_means()[arm_prompts][..., dim_index].transpose(1, 0, 2)
        return np.broadcast_to(means, (len(seeds), *means.shape))
    valid = db.draw_mask()[arm_prompts]
    taken = np.minimum(n_draws, draws_per_cell)[..., None]
    result = np.empty((len(seeds), db.n_cells, len(arm_prompts), len(dim_index)))
    for row, seed in enumerate(seeds):
        keys = np.where(valid, np.random.default_rng(seed).random(valid.shape), np.inf)
        rank = np.argsort(np.argsort(keys, axis=-1), axis=-1)
        chosen = rank < taken
        sums = np.einsum("acn,acnd->acd", chosen, np.where(chosen[..., None], z, 0.0))
        result[row] = (sums / taken).transpose(1, 0, 2)
    return result


def generator_draws(
    db: PromptDatabase,
    arm_prompts: np.ndarray,
    dim_index: np.ndarray,
    n_draws: int,
    seeds: Sequence[np.random.SeedSequence],
) -> np.ndarray:
    """Each replicate's own random sample of ``n_draws`` generator draws per (cell, arm).

    Draws are taken without replacement where a cell has at least ``n_draws`` rows, and with
    replacement otherwise.

    Returns
    -------
    ndarray of float32, shape (n_replicates, n_cells, n_arms, n_draws, n_dims)
    """
    z = db.z[arm_prompts][..., dim_index].astype(np.float32)  # (arm, cell, draw, dim)
    available = db.n_draws[arm_prompts]  # (arm, cell)
    result = np.empty(
        (len(seeds), db.n_cells, len(arm_prompts), n_draws, len(dim_index)), np.float32
    )
    arm, cell = np.indices(available.shape)
    for row, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        keys = np.where(db.draw_mask()[arm_prompts], rng.random(z.shape[:3]), np.inf)
        order = np.argsort(keys, axis=-1)[..., :n_draws]  # a random subset of the valid rows
        if order.shape[-1] < n_draws:  # no cell has that many rows: all are redrawn below
            order = np.pad(order, [(0, 0), (0, 0), (0, n_draws - order.shape[-1])])
        short = available < n_draws
        if short.any():  # with replacement where a cell has fewer rows than asked for
            redraw = rng.integers(0, available[..., None], (*available.shape, n_draws))
            order = np.where(short[..., None], redraw, order)
        result[row] = z[arm[..., None], cell[..., None], order].transpose(1, 0, 2, 3)
    return result


def _label_key(agent_spec: AgentSpec) -> int:
    return zlib.crc32(agent_spec.label.encode())


def build_world(config: RunConfig, db: PromptDatabase) -> GeneratorWorld:
    """Build the world of one configuration on ``db``."""
    outcome = build_outcome(config.outcome_model, config.outcome_dims)
    arm_prompts = select_prompts(db, outcome, config.n_prompts)
    noise_sd = outcome.noise_grid(db)[config.noise_level]
    return GeneratorWorld(db, outcome, arm_prompts, noise_sd)


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
    run = _prepare(config, db, seed, replicates)
    trace = run.simulate(progress)
    _check_finite(trace, run, db)
    ds = _trace_dataset(config, db, run, trace, replicates)
    diagnostics = getattr(run.agent, "diagnostics_", None)
    if diagnostics is not None:
        diagnostics = diagnostics.assign_coords(replicate=replicates)
        ds = ds.merge(diagnostics.rename({n: FIT_PREFIX + n for n in diagnostics.data_vars}))
    return ds


def _check_finite(trace: Trace, run: _PreparedRun, db: PromptDatabase) -> None:
    """Refuse a run whose rewards or regret overflowed, before anything is cached.

    Raises
    ------
    InputError
        Naming the database's largest-scored dimension of those the world reads.
    """
    if np.isfinite(trace.regret).all() and np.isfinite(trace.reward).all():
        return
    dims = list(run.world.outcome.dims)
    largest = np.nanmax(np.abs(db.z[..., db.dim_index(dims)]), axis=(0, 1, 2))
    worst = dims[int(np.argmax(largest))]
    raise InputError(
        f"the simulation produced non-finite rewards or regret: the database's scores are too "
        f"large (column {worst!r} reaches {largest.max():.3g}); rescale the style scores"
    )


def _trace_dataset(
    config: RunConfig,
    db: PromptDatabase,
    run: _PreparedRun,
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
class _PreparedRun:
    """Everything one configuration needs to run for a batch of replicates."""

    world: GeneratorWorld
    agent: Agent
    randomness: WorldRandomness
    rng: BatchRandom
    dim_index: np.ndarray
    means: np.ndarray | None
    draws: np.ndarray | None

    def simulate(self, progress: ProgressCallback | None = None) -> Trace:
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


def _prepare(
    config: RunConfig, db: PromptDatabase, seed: int, replicates: np.ndarray
) -> _PreparedRun:
    world = build_world(config, db)
    randomness = world.draw_randomness(
        replicate_seeds(seed, replicates, _WORLD_STREAM), config.horizon
    )
    agent_spec = config.agent
    dim_index = db.dim_index(agent_spec.dims)
    agent = agent_spec.build(config.n_prompts, db.contexts, noise_sd=world.noise_sd)
    means = draws = None
    n_draws = agent_spec.draws_per_cell
    subset_seeds = replicate_seeds(seed, replicates, _GENERATOR_STREAM, n_draws or 0)
    if agent.uses_generator:
        means = generator_means(db, world.arm_prompts, dim_index, n_draws, subset_seeds)
    if agent.uses_generator_draws:
        n_draws = n_draws or int(db.n_draws[world.arm_prompts].max())
        draws = generator_draws(db, world.arm_prompts, dim_index, n_draws, subset_seeds)
    rng = ReplicateRandom(replicate_seeds(seed, replicates, _AGENT_STREAM, _label_key(agent_spec)))
    return _PreparedRun(world, agent, randomness, rng, dim_index, means, draws)


def final_posteriors(
    config: RunConfig, db: PromptDatabase, *, seed: int, replicates: Sequence[int]
) -> dict[int, xr.Dataset]:
    """Replay a configuration for a few replicates and return their final posteriors.

    Trajectories depend only on each replicate's seed, so the replay ends where the full run
    did. Returns the ``posterior`` group of
    :func:`gambitts.models.inference_data.posterior_inference_data` for each replicate, with
    coords named after the style dimensions, context features and prompts.
    """
    from gambitts.models.inference_data import posterior_inference_data

    replicates = np.asarray(replicates, dtype=np.int64)
    run = _prepare(config, db, seed, replicates)
    run.simulate()
    prompts = [db.prompts[p] for p in run.world.arm_prompts]
    return {
        int(replicate): posterior_inference_data(
            run.agent,
            row,
            dim_names=list(config.agent.dims),
            prompt_names=prompts,
            cell_names=list(db.contexts.cell_labels),
            context_names=list(db.contexts.feature_names),
        ).posterior
        for row, replicate in enumerate(replicates)
    }


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


def experiment_dataset(
    spec: ExperimentSpec,
    results: Mapping[RunConfig, xr.Dataset],
    *,
    seed: int,
    db: PromptDatabase,
) -> xr.Dataset:
    """Assemble the configurations of an experiment block into one self-describing Dataset.

    Dims: the block's setting dimension (named after what it varies, e.g. ``noise_level``;
    ``setting`` if nothing varies), ``agent``, ``replicate``, ``t``, and ``arm``, ``cell``.
    Per-setting world facts (``optimal_action``, ``expected_reward``, ``arm_prompt``,
    ``noise_sd``) carry the setting dimension. The resolved definition, seed and package
    version are in ``attrs``.
    """
    from gambitts import __version__

    settings = spec.settings()
    labels = [agent.label for agent in spec.agents]
    dim = spec.dim_name
    per_setting = []
    for setting in settings:
        by_agent = [_without_fits(results[config]) for config in setting.configs]
        agents = xr.concat(
            [r[["regret", "action", "reward"]] for r in by_agent], dim="agent", join="exact"
        )
        world = by_agent[0].drop_vars(["regret", "action", "reward"])
        per_setting.append(xr.merge([agents, world], join="outer"))
    ds = xr.concat(
        per_setting,
        dim=dim,
        data_vars="all",
        coords="minimal",
        join="outer",
        compat="override",
        fill_value=_FILL,
    )
    ds = ds.assign_coords({dim: [s.label for s in settings], "agent": labels})
    if (
        dim in ds["context_cell"].dims
    ):  # the same in every setting: contexts depend on the seed only
        ds["context_cell"] = ds["context_cell"].isel({dim: 0}, drop=True)
    ds.attrs = {
        "experiment": spec.name,
        "description": spec.description,
        "varies": dim,
        "config": json.dumps(spec.to_dict(), default=list),
        "seed": seed,
        "gambitts_version": __version__,
        "prompt_db": json.dumps(db.attrs, default=str),
    }
    return ds


def experiment_fit_diagnostics(
    spec: ExperimentSpec, results: Mapping[RunConfig, xr.Dataset]
) -> xr.Dataset | None:
    """Collect the fit diagnostics of an experiment's custom agents into one Dataset.

    Returns
    -------
    xarray.Dataset or None
        ``rhat_max``, ``ess_bulk_min``, ``ess_tail_min`` over ``(<setting dim>, agent, refit,
        replicate, variable)``; ``divergences`` and ``wall_time`` without ``variable``. All
        agents of the block are on ``agent``; entries are NaN (``divergences`` -1) where an
        agent has no fits, fewer refits or other variables. ``None`` if no agent of ``spec``
        refits a model.
    """
    dim = spec.dim_name
    per_setting, labels = [], []
    for setting in spec.settings():
        fits = {
            config.agent.label: _fits_only(results[config])
            for config in setting.configs
            if any(name.startswith(FIT_PREFIX) for name in results[config].data_vars)
        }
        if not fits:
            continue
        labels.append(setting.label)
        per_setting.append(
            xr.concat(
                list(fits.values()), dim="agent", join="outer", coords="different",
                compat="equals", fill_value={"divergences": -1},
            ).assign_coords(agent=list(fits))
        )  # fmt: skip
    if not per_setting:
        return None
    ds = xr.concat(per_setting, dim=dim, join="outer", fill_value={"divergences": -1})
    # Every agent of the block, so that the group aligns with the regret traces (NetCDF groups
    # read as an xarray DataTree must share their parents' dims); agents without fits are NaN.
    ds = ds.reindex(agent=[agent.label for agent in spec.agents], fill_value={"divergences": -1})
    ds = ds.assign_coords({dim: labels})
    for variable in ds.variables.values():
        variable.encoding = {}  # the per-configuration files' integer encodings cannot hold NaN
    ds.attrs = {
        "experiment": spec.name,
        "description": "convergence diagnostics of every refit of every custom agent "
        "(see gambitts.models.diagnostics)",
    }
    return ds


def _fits_only(ds: xr.Dataset) -> xr.Dataset:
    names = [name for name in ds.data_vars if name.startswith(FIT_PREFIX)]
    fits = ds[names].rename({name: name[len(FIT_PREFIX) :] for name in names})
    return fits.drop_vars(
        [c for c in fits.coords if c not in ("refit", "refit_round", "replicate", "variable")]
    )


def _without_fits(ds: xr.Dataset) -> xr.Dataset:
    names = [name for name in ds.data_vars if name.startswith(FIT_PREFIX)]
    if not names:
        return ds
    ds = ds.drop_vars(names)
    return ds.drop_vars([c for c in ("refit", "refit_round", "variable") if c in ds.coords])


_FILL = {
    "regret": np.float32(np.nan),
    "reward": np.float32(np.nan),
    "action": np.int16(-1),
    "optimal_action": np.int16(-1),
    "expected_reward": np.nan,
    "arm_prompt": "",
}
