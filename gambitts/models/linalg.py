"""Batched small-matrix linear algebra for the exact posteriors.

Every function works on a stack of matrices with arbitrary leading (batch) axes, e.g.
``(n_replicates, p, p)``. The matrices are small (p is the number of stage-2 features or of
modelled style dimensions) and the batches large, so the kernels are compiled loops (numba)
over the batch: batched LAPACK calls or numpy expressions would spend most of their time in
per-call overhead at these sizes.

Posteriors are kept in precision form through lower Cholesky factors ``L`` with ``A = L @ L.T``;
observations enter as rank-one updates of ``L`` (:func:`cholesky_update`), and means and draws
come from triangular solves. No matrix is ever inverted.
"""

from __future__ import annotations

import numba
import numpy as np


def _as_batches(matrices: np.ndarray, vectors: np.ndarray | None = None):
    """Flatten the batch axes (broadcasting matrices against vectors) for the kernels."""
    p = matrices.shape[-1]
    if (
        vectors is not None
        and matrices.shape[:-1] == vectors.shape
        and matrices.dtype == vectors.dtype == np.float64
        and matrices.flags.c_contiguous
        and vectors.flags.c_contiguous
    ):  # the common case, without copies
        return matrices.shape[:-2], matrices.reshape(-1, p, p), vectors.reshape(-1, p)
    batch = matrices.shape[:-2]
    if vectors is not None:
        batch = np.broadcast_shapes(batch, vectors.shape[:-1])
        vectors = np.ascontiguousarray(np.broadcast_to(vectors, (*batch, p)), dtype=float).reshape(
            -1, p
        )
    matrices = np.ascontiguousarray(np.broadcast_to(matrices, (*batch, p, p)), dtype=float).reshape(
        -1, p, p
    )
    return batch, matrices, vectors


def cholesky(a: np.ndarray) -> np.ndarray:
    """Return the lower Cholesky factor of each symmetric positive-definite matrix in ``a``.

    Parameters
    ----------
    a : ndarray, shape (..., p, p)

    Returns
    -------
    ndarray, shape (..., p, p)
        Lower-triangular ``L`` with ``L @ L.T == a``.

    Raises
    ------
    numpy.linalg.LinAlgError
        If a matrix is not positive definite.
    """
    batch, matrices, _ = _as_batches(np.asarray(a))
    low = np.zeros_like(matrices)
    if not _cholesky_kernel(matrices, low):
        raise np.linalg.LinAlgError("matrix is not positive definite")
    return low.reshape(*batch, *matrices.shape[1:])


def cholesky_update(low: np.ndarray, x: np.ndarray) -> None:
    """Turn ``L`` into the Cholesky factor of ``L @ L.T + x x^T``, in place.

    Parameters
    ----------
    low : ndarray, shape (..., p, p)
        C-contiguous float64 lower Cholesky factors; overwritten.
    x : ndarray, shape (..., p)
        The update vectors (not modified).
    """
    if low.dtype != np.float64 or not low.flags.c_contiguous:
        raise ValueError("`low` must be a C-contiguous float64 array (it is updated in place)")
    p = low.shape[-1]
    x = np.ascontiguousarray(np.broadcast_to(x, (*low.shape[:-1],)), dtype=float)
    _cholesky_update_kernel(low.reshape(-1, p, p), x.reshape(-1, p))


def solve_lower(low: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``L y = b`` for lower-triangular ``L`` (forward substitution).

    Parameters
    ----------
    low : ndarray, shape (..., p, p)
    b : ndarray, shape (..., p)

    Returns
    -------
    ndarray, shape (..., p)
    """
    return _solve(_solve_lower_kernel, low, b)


def solve_lower_transposed(low: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``L.T y = b`` for lower-triangular ``L`` (back substitution).

    Parameters
    ----------
    low : ndarray, shape (..., p, p)
    b : ndarray, shape (..., p)

    Returns
    -------
    ndarray, shape (..., p)
    """
    return _solve(_solve_lower_transposed_kernel, low, b)


def _solve(kernel, low: np.ndarray, b: np.ndarray) -> np.ndarray:
    batch, matrices, vectors = _as_batches(np.asarray(low), np.asarray(b))
    out = np.empty_like(vectors)
    kernel(matrices, vectors, out)
    return out.reshape(*batch, matrices.shape[-1])


@numba.njit(cache=True)
def _cholesky_kernel(a, low):  # pragma: no cover - compiled
    n, p, _ = a.shape
    for m in range(n):
        for j in range(p):
            pivot = a[m, j, j]
            for k in range(j):
                pivot -= low[m, j, k] * low[m, j, k]
            if pivot <= 0.0:
                return False
            diag = np.sqrt(pivot)
            low[m, j, j] = diag
            for i in range(j + 1, p):
                value = a[m, i, j]
                for k in range(j):
                    value -= low[m, i, k] * low[m, j, k]
                low[m, i, j] = value / diag
    return True


@numba.njit(cache=True)
def _cholesky_update_kernel(low, x):  # pragma: no cover - compiled
    work = np.empty(low.shape[1])
    for m in range(low.shape[0]):
        work[:] = x[m]
        cholesky_update_one(low[m], work)


@numba.njit(cache=True)
def cholesky_update_one(low, work):  # pragma: no cover - compiled
    """Rank-one update ``L L^T + w w^T`` of one factor, in place; ``work`` is overwritten.

    A compiled building block for other kernels (call it from ``numba.njit`` code only).
    """
    p = low.shape[0]
    for k in range(p):
        diag = low[k, k]
        radius = np.sqrt(diag * diag + work[k] * work[k])
        cos = radius / diag
        sin = work[k] / diag
        low[k, k] = radius
        for i in range(k + 1, p):
            low[i, k] = (low[i, k] + sin * work[i]) / cos
            work[i] = cos * work[i] - sin * low[i, k]


@numba.njit(cache=True)
def _solve_lower_kernel(low, b, out):  # pragma: no cover - compiled
    n, p, _ = low.shape
    for m in range(n):
        for i in range(p):
            value = b[m, i]
            for k in range(i):
                value -= low[m, i, k] * out[m, k]
            out[m, i] = value / low[m, i, i]


@numba.njit(cache=True)
def _solve_lower_transposed_kernel(low, b, out):  # pragma: no cover - compiled
    n, p, _ = low.shape
    for m in range(n):
        for i in range(p - 1, -1, -1):
            value = b[m, i]
            for k in range(i + 1, p):
                value -= low[m, k, i] * out[m, k]
            out[m, i] = value / low[m, i, i]
