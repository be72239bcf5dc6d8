"""Batched Cholesky factors, rank-one updates and triangular solves against numpy.linalg."""

from __future__ import annotations

import numpy as np
import pytest

from gambitts.models.linalg import cholesky, cholesky_update, solve_lower, solve_lower_transposed


def _spd(rng: np.random.Generator, batch: tuple[int, ...], p: int) -> np.ndarray:
    a = rng.standard_normal((*batch, p, p))
    return a @ np.swapaxes(a, -1, -2) + p * np.eye(p)


@pytest.mark.parametrize("p", [1, 3, 8], ids=lambda p: f"p={p}")
def test_cholesky_matches_numpy(rng, p):
    a = _spd(rng, (4, 3), p)
    np.testing.assert_allclose(cholesky(a), np.linalg.cholesky(a), rtol=1e-12, atol=1e-12)


def test_cholesky_rejects_a_matrix_that_is_not_positive_definite():
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        cholesky(np.array([[1.0, 2.0], [2.0, 1.0]]))


@pytest.mark.parametrize("p", [1, 4, 20], ids=lambda p: f"p={p}")
def test_rank_one_update_gives_the_factor_of_the_updated_matrix(rng, p):
    a = _spd(rng, (5,), p)
    x = rng.standard_normal((5, p))
    low = np.linalg.cholesky(a)
    cholesky_update(low, x)
    expected = np.linalg.cholesky(a + x[:, :, None] * x[:, None, :])
    np.testing.assert_allclose(low, expected, rtol=1e-10, atol=1e-12)


def test_rank_one_update_refuses_a_copy_it_could_not_write_back():
    low = np.asfortranarray(np.eye(3))
    with pytest.raises(ValueError, match="C-contiguous float64"):
        cholesky_update(low, np.ones(3))


@pytest.mark.parametrize("p", [1, 5, 12], ids=lambda p: f"p={p}")
def test_triangular_solves_match_numpy(rng, p):
    low = np.linalg.cholesky(_spd(rng, (2, 3), p))
    b = rng.standard_normal((2, 3, p))
    np.testing.assert_allclose(
        solve_lower(low, b), np.linalg.solve(low, b[..., None])[..., 0], rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(
        solve_lower_transposed(low, b),
        np.linalg.solve(np.swapaxes(low, -1, -2), b[..., None])[..., 0],
        rtol=1e-10,
        atol=1e-12,
    )


def test_solves_broadcast_one_factor_over_many_right_hand_sides(rng):
    low = np.linalg.cholesky(_spd(rng, (), 4))
    b = rng.standard_normal((6, 4))
    np.testing.assert_allclose(solve_lower(low, b), np.linalg.solve(low, b.T).T, rtol=1e-10)
