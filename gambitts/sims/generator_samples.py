"""Generator samples for agents that use the generator: per-replicate means and draws.

poGAMBITTS sees the mean of a random subset of the generator's draws per (cell, prompt);
ens-poGAMBITTS and custom agents see the draws themselves. Each replicate's subset depends only
on its own seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gambitts.design.promptdb import PromptDatabase


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
