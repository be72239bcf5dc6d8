"""Shared fixtures: a seeded random generator and a tiny generator database."""

from __future__ import annotations

import numpy as np
import pytest

from gambitts.design.contexts import PAPER_CONTEXTS
from gambitts.design.promptdb import PromptDatabase

N_CELLS = PAPER_CONTEXTS.n_cells


@pytest.fixture
def rng() -> np.random.Generator:
    """Return a freshly seeded generator, the same in every test."""
    return np.random.default_rng(np.random.SeedSequence(20250516))


@pytest.fixture
def tiny_prompt_db() -> PromptDatabase:
    """Return a small ragged database: 3 prompts x 12 cells x 1 to 4 draws x 2 dims."""
    rng = np.random.default_rng(np.random.SeedSequence(7))
    prompts = ("more humor", "less humor", "more optimism")
    n_draws = rng.integers(1, 5, size=(len(prompts), N_CELLS))
    n_draws[0, 0] = 4  # the longest cell sets max_draws
    z = np.full((len(prompts), N_CELLS, 4, 2), np.nan)
    valid = np.arange(4) < n_draws[..., None]
    z[valid] = rng.normal(size=(int(valid.sum()), 2))
    return PromptDatabase(
        z=z,
        n_draws=n_draws,
        prompts=prompts,
        dims=("optimism", "formality"),
        attrs={"source": "tiny test database", "seed": 7},
    )


@pytest.fixture(scope="session")
def standin_db() -> PromptDatabase:
    """Return the built-in stand-in database (seed 0), built once per test session."""
    from gambitts.design.standin import make_standin_database

    return make_standin_database()
