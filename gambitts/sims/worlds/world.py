"""The generator-mediated world: contexts, generator draws, rewards and regret.

Each round the environment draws a context cell (as the database's context space says: uniformly
unless it gives arrival probabilities), the agent picks a prompt (arm), the
environment delivers a message whose embedding ``Z`` is a uniformly drawn database row of cell
(prompt, context), and the reward is ``Y = f(Z, x) + e`` with ``e ~ N(0, noise_sd^2)``. Regret is
``max_a mu(a, x) - mu(a_t, x)`` with ``mu`` the exact mean of ``f`` over the cell's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from gambitts.design.contexts import ContextSpace
from gambitts.design.promptdb import PromptDatabase
from gambitts.errors import InputError
from gambitts.sims.worlds.outcomes import OutcomeModel


def select_prompts(db: PromptDatabase, outcome: OutcomeModel, n_arms: int) -> np.ndarray:
    """Pick ``n_arms`` prompts the paper's way.

    Rank all prompts by their mean expected reward over all cells and draws, then take the
    prompts at evenly spaced positions of the ranking (always the worst and the best).

    Returns
    -------
    ndarray of int, shape (n_arms,)
        Database prompt indices, from the worst to the best.
    """
    if not 2 <= n_arms <= db.n_prompts:
        raise InputError(
            f"`n_arms` must be between 2 and {db.n_prompts} (the database's prompts), got {n_arms}"
        )
    table = outcome.expected_reward_table(db)
    overall = np.sum(table * db.n_draws, axis=1) / db.n_draws.sum(axis=1)
    ranking = np.argsort(overall, kind="stable")
    positions = np.round(np.linspace(0, db.n_prompts - 1, n_arms)).astype(int)
    return ranking[positions]


@dataclass(frozen=True)
class WorldRandomness:
    """The environment's random numbers for a batch of replicates, shared by all agents.

    Attributes
    ----------
    cells : ndarray of int, shape (n_replicates, horizon)
        Context cell of each round.
    draw_uniform : ndarray, shape (n_replicates, horizon)
        Uniform number that picks the database row delivered in each round.
    noise : ndarray, shape (n_replicates, horizon)
        Standard normal reward noise, scaled by the noise level.
    """

    cells: np.ndarray
    draw_uniform: np.ndarray
    noise: np.ndarray


class GeneratorWorld:
    """One configuration of the world: database, outcome model, prompt subset, noise level.

    Parameters
    ----------
    db : PromptDatabase
    outcome : OutcomeModel
    arm_prompts : array_like of int, shape (n_arms,)
        Database prompt index of each arm.
    noise_sd : float
        Standard deviation of the reward noise.
    contexts : ContextSpace, optional
        How contexts arrive: the database's context space (the default) or its cells with other
        arrival probabilities (see :meth:`ContextSpace.with_probabilities`).
    """

    def __init__(
        self,
        db: PromptDatabase,
        outcome: OutcomeModel,
        arm_prompts: Sequence[int],
        noise_sd: float,
        contexts: ContextSpace | None = None,
    ) -> None:
        if not noise_sd >= 0:
            raise InputError(f"`noise_sd` must be non-negative, got {noise_sd}")
        self.db = db
        self.outcome = outcome
        self.arm_prompts = np.asarray(arm_prompts, dtype=np.int64)
        self.noise_sd = float(noise_sd)
        self.contexts = db.contexts if contexts is None else contexts
        self._offset = outcome.context_offset(db.contexts)
        # The arms' database rows, flattened to (arm, cell, draw) -> row, for fast gathers.
        self._rows = np.nan_to_num(db.z[self.arm_prompts]).reshape(-1, db.n_dims)
        self._row_reward = outcome.row_effects(db, self.arm_prompts).reshape(-1)
        self._n_draws = db.n_draws[self.arm_prompts].astype(float)  # (arm, cell)
        #: Exact expected reward of each (cell, arm), shape (n_cells, n_arms).
        self.expected_reward = outcome.expected_reward_table(db)[self.arm_prompts].T
        #: Best arm of each cell, shape (n_cells,).
        self.optimal_arm = np.argmax(self.expected_reward, axis=1)
        self._best = self.expected_reward.max(axis=1)

    @property
    def n_arms(self) -> int:
        """Number of prompts the agents choose from."""
        return len(self.arm_prompts)

    def draw_randomness(
        self, seeds: Sequence[np.random.SeedSequence], horizon: int
    ) -> WorldRandomness:
        """Draw every replicate's contexts, row choices and noise for ``horizon`` rounds.

        Contexts arrive as :attr:`contexts` says (uniformly over the cells unless it gives
        probabilities). Replicate ``r`` uses only ``seeds[r]``; this runs once per
        batch, not per round.
        """
        contexts = self.contexts
        cells = np.empty((len(seeds), horizon), dtype=np.int64)
        draw_uniform = np.empty((len(seeds), horizon))
        noise = np.empty((len(seeds), horizon))
        for row, seed in enumerate(seeds):
            rng = np.random.default_rng(seed)
            cells[row] = contexts.draw_cells(rng, horizon)
            draw_uniform[row] = rng.random(horizon)
            noise[row] = rng.standard_normal(horizon)
        return WorldRandomness(cells, draw_uniform, noise)

    def step(
        self, cells: np.ndarray, actions: np.ndarray, draw_uniform: np.ndarray, noise: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Deliver one message per replicate and return what the round produced.

        Parameters
        ----------
        cells, actions : ndarray of int, shape (n_replicates,)
            Each replicate's context cell and played arm.
        draw_uniform : ndarray, shape (n_replicates,)
            Uniform numbers that pick the delivered row of each (arm, cell).
        noise : ndarray, shape (n_replicates,)
            Standard normal reward noise (scaled here by ``noise_sd``).

        Returns
        -------
        rows : ndarray of int
            The delivered rows, to index :meth:`embedding_table` with.
        rewards : ndarray
            ``f(Z, x) + noise_sd * noise``.
        regret : ndarray
            ``max_a mu(a, x) - mu(a_t, x)``.
        """
        n = len(cells)
        rows, rewards, regret = np.empty(n, np.int64), np.empty(n), np.empty(n)
        _step_kernel(
            np.ascontiguousarray(cells, dtype=np.int64),
            np.ascontiguousarray(actions, dtype=np.int64),
            draw_uniform,
            noise,
            self._n_draws,
            self._row_reward,
            self._offset,
            self._best,
            self.expected_reward,
            self.db.max_draws,
            self.noise_sd,
            rows,
            rewards,
            regret,
        )
        return rows, rewards, regret

    def embedding_table(self, dim_index: np.ndarray) -> np.ndarray:
        """Return ``Z`` of every row restricted to ``dim_index`` (index it with delivered rows)."""
        return np.ascontiguousarray(self._rows[:, dim_index])

    def embedding(self, rows: np.ndarray) -> np.ndarray:
        """Return the delivered messages' ``Z``, shape ``(n_replicates, n_dims)``."""
        return self._rows[rows]

    def regret(self, cells: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """``max_a mu(a, x) - mu(a_t, x)`` per replicate."""
        return self._best[cells] - self.expected_reward[cells, actions]


@numba.njit(cache=True)
def _step_kernel(
    cells,
    actions,
    draw_uniform,
    noise,
    n_draws,
    row_reward,
    offset,
    best,
    expected,
    max_draws,
    noise_sd,
    rows,
    rewards,
    regret,
):  # pragma: no cover - compiled
    n_cells = offset.shape[0]
    for r in range(cells.shape[0]):
        cell, arm = cells[r], actions[r]
        draw = np.int64(draw_uniform[r] * n_draws[arm, cell])
        row = (arm * n_cells + cell) * max_draws + draw
        rows[r] = row
        rewards[r] = row_reward[row] + offset[cell] + noise_sd * noise[r]
        regret[r] = best[cell] - expected[cell, arm]
