"""Batched small-matrix linear algebra for the exact posteriors.

Every function works on a stack of matrices with arbitrary leading (batch) axes, e.g.
``(n_replicates, p, p)``. The matrices are small (p is the number of stage-2 features or of
modelled style dimensions) and the batch is large, so the loops below run over the matrix size
``p`` with each step vectorised over the whole batch; at the sizes used here that is several times
faster than batched LAPACK calls, whose cost is dominated by per-matrix overhead.

Posteriors are kept in precision form through lower Cholesky factors ``L`` with ``A = L @ L.T``;
observations enter as rank-one updates of ``L`` (:func:`cholesky_update`), and means and draws
come from triangular solves. No matrix is ever inverted.
"""

from __future__ import annotations

import numpy as np


def cholesky(a: np.ndarray) -> np.ndarray:
    """Return the lower Cholesky factor of each symmetric positive-definite matrix in ``a``.

    Parameters
    ----------
    a : ndarray, shape (..., p, p)
        Symmetric positive-definite matrices.

    Returns
    -------
    ndarray, shape (..., p, p)
        Lower-triangular ``L`` with ``L @ L.T == a``.
    """
    p = a.shape[-1]
    low = np.zeros_like(a, dtype=float)
    for j in range(p):
        pivot = a[..., j, j] - np.einsum("...k,...k->...", low[..., j, :j], low[..., j, :j])
        if np.any(pivot <= 0):
            raise np.linalg.LinAlgError("matrix is not positive definite")
        low[..., j, j] = np.sqrt(pivot)
        below = a[..., j + 1 :, j] - np.einsum("...ik,...k->...i", low[..., j + 1 :, :j], low[..., j, :j])
        low[..., j + 1 :, j] = below / low[..., j, j, None]
    return low


def cholesky_update(low: np.ndarray, x: np.ndarray) -> None:
    """Turn ``L`` into the Cholesky factor of ``L @ L.T + x x^T``, in place.

    Parameters
    ----------
    low : ndarray, shape (..., p, p)
        Lower Cholesky factors; overwritten.
    x : ndarray, shape (..., p)
        The update vectors (not modified).
    """
    x = np.array(x, dtype=float, copy=True)
    p = low.shape[-1]
    for k in range(p):
        diag = low[..., k, k]
        radius = np.hypot(diag, x[..., k])
        cos = radius / diag
        sin = x[..., k] / diag
        low[..., k, k] = radius
        if k + 1 < p:
            column = (low[..., k + 1 :, k] + sin[..., None] * x[..., k + 1 :]) / cos[..., None]
            low[..., k + 1 :, k] = column
            x[..., k + 1 :] = cos[..., None] * x[..., k + 1 :] - sin[..., None] * column


def solve_lower(low: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``L y = b`` for lower-triangular ``L`` by forward substitution.

    Parameters
    ----------
    low : ndarray, shape (..., p, p)
    b : ndarray, shape (..., p)

    Returns
    -------
    ndarray, shape (..., p)
    """
    p = low.shape[-1]
    y = np.empty(np.broadcast_shapes(low.shape[:-1], b.shape))
    for i in range(p):
        partial = np.einsum("...k,...k->...", low[..., i, :i], y[..., :i])
        y[..., i] = (b[..., i] - partial) / low[..., i, i]
    return y


def solve_lower_transposed(low: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``L.T y = b`` for lower-triangular ``L`` by back substitution.

    Parameters
    ----------
    low : ndarray, shape (..., p, p)
    b : ndarray, shape (..., p)

    Returns
    -------
    ndarray, shape (..., p)
    """
    p = low.shape[-1]
    y = np.empty(np.broadcast_shapes(low.shape[:-1], b.shape))
    for i in reversed(range(p)):
        partial = np.einsum("...k,...k->...", low[..., i + 1 :, i], y[..., i + 1 :])
        y[..., i] = (b[..., i] - partial) / low[..., i, i]
    return y
