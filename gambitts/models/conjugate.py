"""Exact (conjugate) posteriors, batched over leading axes such as ``(replicate, cell, arm)``.

Each class holds the posterior's parameters as arrays named with a trailing underscore, updates
them one observation per batch position at a time, and draws Thompson samples. The PyMC models
they are the exact posterior of are in :mod:`gambitts.models.pymc_models`.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.linalg import solve_triangular

from gambitts.models.linalg import (
    cholesky_update_one,
    solve_lower,
    solve_lower_transposed,
)
from gambitts.models.priors import LinearPrior, NormalInverseGammaPrior, NormalInverseWishartPrior
from gambitts.models.random_streams import BatchRandom

Index = tuple[np.ndarray, ...]


class NormalInverseGamma:
    """Independent Normal-Inverse-Gamma posteriors of the mean and variance of normal rewards.

    Parameters
    ----------
    batch_shape : tuple of int
        Shape of the batch, e.g. ``(n_replicates, n_arms)``.
    prior : NormalInverseGammaPrior

    Attributes
    ----------
    mean_, count_, shape_, scale_ : ndarray of shape ``batch_shape``
        Posterior parameters: ``sigma^2 ~ InverseGamma(shape_, scale_)``,
        ``mu | sigma^2 ~ Normal(mean_, sigma^2 / count_)``.
    """

    def __init__(self, batch_shape: tuple[int, ...], prior: NormalInverseGammaPrior) -> None:
        self.prior = prior
        self.mean_ = np.full(batch_shape, prior.mean, dtype=float)
        self.count_ = np.full(batch_shape, prior.count, dtype=float)
        self.shape_ = np.full(batch_shape, prior.shape, dtype=float)
        self.scale_ = np.full(batch_shape, prior.scale, dtype=float)
        self._ids = np.arange(self.mean_.size).reshape(batch_shape)

    def update(self, index: Index, y: np.ndarray) -> None:
        """Add observation ``y[i]`` to the posterior at batch position ``index[...][i]``.

        Positions within one call must be distinct (one per replicate). Uses the sequential
        form ``count' = count + 1``, ``mean' = mean + (y - mean) / count'``,
        ``shape' = shape + 1/2``, ``scale' = scale + count (y - mean)^2 / (2 count')``.
        """
        positions = np.ascontiguousarray(self._ids[index]).reshape(-1)
        y = np.ascontiguousarray(y, dtype=float).reshape(-1)
        _nig_update_kernel(
            self.mean_.reshape(-1),
            self.count_.reshape(-1),
            self.shape_.reshape(-1),
            self.scale_.reshape(-1),
            positions,
            y,
        )

    def sample_mean(self, index: Index, rng: BatchRandom) -> np.ndarray:
        """Draw the mean at the gathered positions ``index`` (leading axis: replicate).

        ``sigma^2 = scale / Gamma(shape)``, then ``mu = mean + sqrt(sigma^2 / count) z``.
        """
        positions = np.ascontiguousarray(self._ids[index])
        gamma = rng.standard_gamma(self.shape_.reshape(-1)[positions])
        normals = rng.standard_normal(int(np.prod(positions.shape[1:], dtype=int))).reshape(
            positions.shape
        )
        out = np.empty(positions.shape)
        _nig_mean_draw_kernel(
            self.mean_.reshape(-1),
            self.count_.reshape(-1),
            self.scale_.reshape(-1),
            positions.reshape(-1),
            gamma.reshape(-1),
            normals.reshape(-1),
            out.reshape(-1),
        )
        return out

    def posterior_draws(
        self, replicate: int, n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` joint samples of ``(mu, sigma^2)`` from one replicate's posteriors.

        Returns two arrays of shape ``(n, *batch_shape[1:])``.
        """
        mean, count = self.mean_[replicate], self.count_[replicate]
        shape, scale = self.shape_[replicate], self.scale_[replicate]
        sigma2 = scale / rng.standard_gamma(shape, size=(n, *shape.shape))
        mu = mean + np.sqrt(sigma2 / count) * rng.standard_normal(sigma2.shape)
        return mu, sigma2


@numba.njit(cache=True)
def _nig_update_kernel(mean, count, shape, scale, positions, y):  # pragma: no cover - compiled
    for i in range(positions.shape[0]):
        b = positions[i]
        deviation = y[i] - mean[b]
        new_count = count[b] + 1.0
        scale[b] += 0.5 * count[b] * deviation * deviation / new_count
        shape[b] += 0.5
        mean[b] += deviation / new_count
        count[b] = new_count


@numba.njit(cache=True)
def _nig_mean_draw_kernel(
    mean, count, scale, positions, gamma, normals, out
):  # pragma: no cover - compiled
    for i in range(positions.shape[0]):
        b = positions[i]
        out[i] = mean[b] + np.sqrt(scale[b] / (gamma[i] * count[b])) * normals[i]


class BayesianLinearRegression:
    """Bayesian linear regression per replicate, in precision form.

    Parameters
    ----------
    n_replicates : int
    n_features : int
        Number of regression features including the intercept, which is the last feature.
    prior : LinearPrior

    Attributes
    ----------
    cholesky_ : ndarray, shape (n_replicates, n_features, n_features)
        Lower Cholesky factor of the posterior precision (of ``beta``, or of ``beta / sigma``
        with unknown noise).
    information_ : ndarray, shape (n_replicates, n_features)
        Precision times posterior mean.
    n_observations_ : ndarray, shape (n_replicates,)
    shape_, scale_ : ndarray, shape (n_replicates,)
        With unknown noise, ``sigma^2 ~ InverseGamma(shape_, scale_)`` (``scale_`` is a
        property computed from the sufficient statistics).
    """

    def __init__(self, n_replicates: int, n_features: int, prior: LinearPrior) -> None:
        if n_features < 1:
            raise ValueError(f"`n_features` must be at least 1 (the intercept), got {n_features}")
        self.prior = prior
        self.prior_mean = np.full(n_features, prior.coef_mean)
        self.prior_mean[-1] = prior.intercept_mean
        self.prior_precision = np.full(n_features, prior.coef_precision)
        self.prior_precision[-1] = prior.intercept_precision
        self.cholesky_ = np.broadcast_to(
            np.diag(np.sqrt(self.prior_precision)), (n_replicates, n_features, n_features)
        ).copy()
        self.information_ = np.tile(self.prior_precision * self.prior_mean, (n_replicates, 1))
        self.n_observations_ = np.zeros(n_replicates, dtype=np.int64)
        self._half_sum_squares = np.full(
            n_replicates,
            prior.noise_scale + 0.5 * np.sum(self.prior_precision * self.prior_mean**2),
        )
        self._all_rows = np.arange(n_replicates)

    @property
    def known_noise(self) -> bool:
        """Whether the noise variance is fixed (``prior.noise == "known"``)."""
        return self.prior.noise == "known"

    def update(self, features: np.ndarray, y: np.ndarray, rows: np.ndarray | None = None) -> None:
        """Add one observation per replicate (or per replicate listed in ``rows``).

        Parameters
        ----------
        features : ndarray, shape (n, n_features)
        y : ndarray, shape (n,)
        rows : ndarray of int, optional
            Replicates the observations belong to; default all, in order.
        """
        rows = self._all_rows if rows is None else np.asarray(rows, dtype=np.int64)
        weight = 1.0 / self.prior.noise_variance if self.known_noise else 1.0
        _linear_update_kernel(
            self.cholesky_,
            self.information_,
            self.n_observations_,
            self._half_sum_squares,
            rows,
            np.ascontiguousarray(features, dtype=float),
            np.ascontiguousarray(y, dtype=float),
            weight,
        )

    @property
    def mean_(self) -> np.ndarray:
        """Posterior mean of the coefficients, shape (n_replicates, n_features)."""
        return solve_lower_transposed(
            self.cholesky_, solve_lower(self.cholesky_, self.information_)
        )

    @property
    def precision_(self) -> np.ndarray:
        """Posterior precision matrix (of ``beta``, or of ``beta / sigma`` with unknown noise)."""
        return self.cholesky_ @ np.swapaxes(self.cholesky_, -1, -2)

    @property
    def shape_(self) -> np.ndarray:
        """Inverse-Gamma shape of the noise variance (unknown noise)."""
        return self.prior.noise_shape + 0.5 * self.n_observations_

    @property
    def scale_(self) -> np.ndarray:
        """Inverse-Gamma scale of the noise variance (unknown noise)."""
        whitened = solve_lower(self.cholesky_, self.information_)
        return self._half_sum_squares - 0.5 * np.sum(whitened**2, axis=-1)

    def sample(self, rng: BatchRandom) -> np.ndarray:
        """Draw coefficients from the posterior, shape (n_replicates, n_features)."""
        whitened = solve_lower(self.cholesky_, self.information_)
        noise = rng.standard_normal(whitened.shape[-1])
        if not self.known_noise:
            scale = self._half_sum_squares - 0.5 * np.sum(whitened**2, axis=-1)
            variance = scale / rng.standard_gamma(self.shape_)
            noise = noise * np.sqrt(variance)[:, None]
        return solve_lower_transposed(self.cholesky_, whitened + noise)

    def posterior_draws(
        self, replicate: int, n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Draw ``n`` samples of the coefficients (and of ``sigma^2``) of one replicate.

        Returns ``beta`` of shape ``(n, n_features)`` and, with unknown noise, ``sigma^2`` of
        shape ``(n,)`` (``None`` with known noise).
        """
        low = self.cholesky_[replicate]
        mean = self.mean_[replicate]
        # Precision L L^T: beta = mean + L^-T z has covariance (L L^T)^-1.
        normals = rng.standard_normal((len(mean), n))
        deviations = solve_triangular(low, normals, lower=True, trans="T").T
        if self.known_noise:
            return mean + deviations, None
        sigma2 = self.scale_[replicate] / rng.standard_gamma(self.shape_[replicate], size=n)
        return mean + np.sqrt(sigma2)[:, None] * deviations, sigma2


@numba.njit(cache=True)
def _linear_update_kernel(
    low, information, n_observations, half_sum_squares, rows, features, y, weight
):  # pragma: no cover - compiled
    root = np.sqrt(weight)
    work = np.empty(features.shape[1])
    for i in range(rows.shape[0]):
        r = rows[i]
        for j in range(features.shape[1]):
            work[j] = root * features[i, j]
            information[r, j] += weight * features[i, j] * y[i]
        cholesky_update_one(low[r], work)
        n_observations[r] += 1
        half_sum_squares[r] += 0.5 * y[i] * y[i]


class NormalInverseWishart:
    """Independent Normal-Inverse-Wishart posteriors of the mean and covariance of ``Z``.

    Parameters
    ----------
    batch_shape : tuple of int
        E.g. ``(n_replicates, n_cells, n_arms)``.
    n_dims : int
        Dimension of ``Z``.
    prior : NormalInverseWishartPrior

    Attributes
    ----------
    mean_ : ndarray, shape batch_shape + (n_dims,)
    kappa_, dof_ : ndarray, shape batch_shape
    scale_cholesky_ : ndarray, shape batch_shape + (n_dims, n_dims)
        Lower Cholesky factor of the inverse-Wishart scale matrix ``Psi``.
    """

    def __init__(
        self, batch_shape: tuple[int, ...], n_dims: int, prior: NormalInverseWishartPrior
    ) -> None:
        self.prior = prior
        self.n_dims = n_dims
        self.mean_ = np.full(batch_shape + (n_dims,), prior.mean, dtype=float)
        self.kappa_ = np.full(batch_shape, prior.kappa, dtype=float)
        self.dof_ = np.full(batch_shape, prior.resolved_dof(n_dims))
        self.scale_cholesky_ = np.broadcast_to(
            np.sqrt(prior.scale) * np.eye(n_dims), batch_shape + (n_dims, n_dims)
        ).copy()
        self._ids = np.arange(self.kappa_.size).reshape(batch_shape)

    @property
    def scale_matrix_(self) -> np.ndarray:
        """The inverse-Wishart scale matrix ``Psi``."""
        return self.scale_cholesky_ @ np.swapaxes(self.scale_cholesky_, -1, -2)

    def _flat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        d = self.n_dims
        return (
            self.mean_.reshape(-1, d),
            self.kappa_.reshape(-1),
            self.dof_.reshape(-1),
            self.scale_cholesky_.reshape(-1, d, d),
        )

    def update(self, index: Index, z: np.ndarray) -> None:
        """Add observation ``z[i]`` at batch position ``index[...][i]`` (distinct positions).

        Uses the sequential form ``kappa' = kappa + 1``, ``dof' = dof + 1``,
        ``mean' = mean + (z - mean) / kappa'`` and
        ``Psi' = Psi + kappa / kappa' (z - mean)(z - mean)^T`` (a rank-one Cholesky update).
        """
        positions = np.ascontiguousarray(self._ids[index]).reshape(-1)
        z = np.ascontiguousarray(z, dtype=float).reshape(-1, self.n_dims)
        _niw_update_kernel(*self._flat(), positions, z)

    def sample_mean(self, index: Index, rng: BatchRandom) -> np.ndarray:
        """Draw the mean of ``Z`` at the gathered positions ``index`` from its Student-t marginal.

        ``mu ~ t_{dof - d + 1}(mean, Psi / (kappa (dof - d + 1)))``, drawn as
        ``mean + L z / sqrt(kappa g)`` with ``g ~ chi^2_{dof - d + 1}``. The leading axis of the
        gathered positions is the replicate axis of ``rng``.
        """
        positions = np.ascontiguousarray(self._ids[index])
        batch = positions.shape
        positions = positions.reshape(batch[0], -1)
        chi2 = 2.0 * rng.standard_gamma(
            0.5 * (self.dof_.reshape(-1)[positions] - self.n_dims + 1.0)
        )
        normals = rng.standard_normal(positions.shape[1] * self.n_dims).reshape(
            *positions.shape, self.n_dims
        )
        mean, kappa, _, low = self._flat()
        out = np.empty_like(normals)
        _niw_mean_draw_kernel(mean, kappa, low, positions, normals, chi2, out)
        return out.reshape(*batch, self.n_dims)

    def mean_draws(self, replicate: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` samples of one replicate's means of ``Z`` from their Student-t marginal.

        Returns an array of shape ``(n, *batch_shape[1:], n_dims)``; see :meth:`sample_mean`.
        """
        d = self.n_dims
        mean = self.mean_[replicate]
        kappa, dof = self.kappa_[replicate], self.dof_[replicate]
        low = self.scale_cholesky_[replicate]
        chi2 = 2.0 * rng.standard_gamma(0.5 * (dof - d + 1.0), size=(n, *dof.shape))
        normals = rng.standard_normal((n, *mean.shape))
        correlated = np.einsum("...ij,n...j->n...i", low, normals)
        return mean + correlated / np.sqrt(kappa * chi2)[..., None]


@numba.njit(cache=True)
def _niw_update_kernel(mean, kappa, dof, low, positions, z):  # pragma: no cover - compiled
    work = np.empty(mean.shape[1])
    for i in range(positions.shape[0]):
        b = positions[i]
        k = kappa[b]
        scale = np.sqrt(k / (k + 1.0))
        for j in range(mean.shape[1]):
            deviation = z[i, j] - mean[b, j]
            work[j] = scale * deviation
            mean[b, j] += deviation / (k + 1.0)
        cholesky_update_one(low[b], work)
        kappa[b] = k + 1.0
        dof[b] += 1.0


@numba.njit(cache=True)
def _niw_mean_draw_kernel(
    mean, kappa, low, positions, normals, chi2, out
):  # pragma: no cover - compiled
    d = mean.shape[1]
    for r in range(positions.shape[0]):
        for a in range(positions.shape[1]):
            b = positions[r, a]
            scale = 1.0 / np.sqrt(kappa[b] * chi2[r, a])
            for i in range(d):
                value = 0.0
                for j in range(i + 1):
                    value += low[b, i, j] * normals[r, a, j]
                out[r, a, i] = mean[b, i] + scale * value
