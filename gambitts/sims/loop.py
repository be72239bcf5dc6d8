"""The simulation loop: one loop over rounds, with all replicates in lockstep.

It is the only loop over rounds in gambitts (agents expose ``select``/``update``, the world
``step``); everything that prepares a run or assembles its results lives elsewhere
(:mod:`gambitts.sims.runner`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gambitts.agents import Agent
from gambitts.models.random_streams import BatchRandom
from gambitts.sims.worlds.world import GeneratorWorld, WorldRandomness

ProgressCallback = Callable[[int], None]
_PROGRESS_EVERY = 50


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
        reward[t] = rewards
        if progress is not None and (t + 1) % _PROGRESS_EVERY == 0:
            progress(_PROGRESS_EVERY * n_replicates)
    if progress is not None and horizon % _PROGRESS_EVERY:
        progress(horizon % _PROGRESS_EVERY * n_replicates)
    return Trace(regret.T, action.T, reward.T)
