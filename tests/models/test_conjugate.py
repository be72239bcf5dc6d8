"""Fast numpy-only checks of the exact posteriors in :mod:`gambitts.models.conjugate`.

1. One-observation-at-a-time updates equal the textbook batch formulas (to 1e-10).
2. Thompson draws have the posterior's mean and covariance. Tolerances are 4.5 Monte Carlo
   standard errors, each estimated from the draws themselves (``std / sqrt(n)`` of the draws, or
   of the centred cross products for covariances), with 100 000 draws: a covariance off by 3%
   or a mean off by 3% of a posterior sd fails (checked by hand).

``rng`` is the seeded generator of ``tests/conftest.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from gambitts.models.conjugate import (
    BayesianLinearRegression,
    NormalInverseGamma,
    NormalInverseWishart,
)
from gambitts.models.priors import LinearPrior, NormalInverseGammaPrior, NormalInverseWishartPrior
from gambitts.models.random_streams import as_replicate_random

N_DRAWS = 100_000
N_SE = 4.5

NIG_PRIOR = NormalInverseGammaPrior(mean=2.0, count=3.0, shape=2.5, scale=4.0)
NIW_PRIOR = NormalInverseWishartPrior(mean=0.5, kappa=2.0, dof=5.0, scale=1.5)


# ----------------------------------------------------------------------------------------------
# Textbook batch formulas
# ----------------------------------------------------------------------------------------------


def _nig_batch(y: np.ndarray, prior: NormalInverseGammaPrior) -> tuple[float, float, float, float]:
    """Return ``(mean, count, shape, scale)`` of the NIG posterior after observing ``y``."""
    n = y.size
    if n == 0:
        return prior.mean, prior.count, prior.shape, prior.scale
    y_bar = y.mean()
    count = prior.count + n
    mean = (prior.count * prior.mean + n * y_bar) / count
    shape = prior.shape + n / 2
    scale = (
        prior.scale
        + 0.5 * np.sum((y - y_bar) ** 2)
        + prior.count * n * (y_bar - prior.mean) ** 2 / (2 * count)
    )
    return mean, count, shape, scale


def _linear_prior_arrays(prior: LinearPrior, p: int) -> tuple[np.ndarray, np.ndarray]:
    mean = np.full(p, prior.coef_mean)
    mean[-1] = prior.intercept_mean
    precision = np.full(p, prior.coef_precision)
    precision[-1] = prior.intercept_precision
    return mean, np.diag(precision)


def _blr_batch(
    x: np.ndarray, y: np.ndarray, prior: LinearPrior
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Return ``(precision, mean, shape, scale)`` of the linear posterior after ``(x, y)``."""
    m0, p0 = _linear_prior_arrays(prior, x.shape[1])
    weight = 1.0 / prior.noise_variance if prior.noise == "known" else 1.0
    precision = p0 + weight * x.T @ x
    mean = np.linalg.solve(precision, p0 @ m0 + weight * x.T @ y)
    shape = prior.noise_shape + y.size / 2
    scale = prior.noise_scale + 0.5 * (y @ y + m0 @ p0 @ m0 - mean @ precision @ mean)
    return precision, mean, shape, scale


def _niw_batch(
    z: np.ndarray, prior: NormalInverseWishartPrior
) -> tuple[np.ndarray, float, float, np.ndarray]:
    """Return ``(mean, kappa, dof, Psi)`` of the NIW posterior after the rows of ``z``."""
    n, d = z.shape
    m0 = np.full(d, prior.mean)
    psi0 = prior.scale * np.eye(d)
    kappa0, dof0 = prior.kappa, prior.resolved_dof(d)
    if n == 0:
        return m0, kappa0, dof0, psi0
    z_bar = z.mean(axis=0)
    centred = z - z_bar
    deviation = z_bar - m0
    psi = psi0 + centred.T @ centred + kappa0 * n / (kappa0 + n) * np.outer(deviation, deviation)
    return (kappa0 * m0 + n * z_bar) / (kappa0 + n), kappa0 + n, dof0 + n, psi


# ----------------------------------------------------------------------------------------------
# Sequential updates equal the batch formulas
# ----------------------------------------------------------------------------------------------


def test_normal_inverse_gamma_sequential_updates_equal_batch_formulas(rng):
    n_replicates, n_cells, n_arms, n_rounds = 3, 2, 4, 40
    posterior = NormalInverseGamma((n_replicates, n_cells, n_arms), NIG_PRIOR)
    cells = rng.integers(n_cells, size=(n_rounds, n_replicates))
    arms = rng.integers(n_arms - 1, size=(n_rounds, n_replicates))  # last arm: never played
    rewards = rng.normal(3.0, 2.0, size=(n_rounds, n_replicates)) + arms
    for t in range(n_rounds):
        posterior.update((np.arange(n_replicates), cells[t], arms[t]), rewards[t])

    for r in range(n_replicates):
        for c in range(n_cells):
            for a in range(n_arms):
                played = (cells[:, r] == c) & (arms[:, r] == a)
                expected = _nig_batch(rewards[played, r], NIG_PRIOR)
                actual = (
                    posterior.mean_[r, c, a],
                    posterior.count_[r, c, a],
                    posterior.shape_[r, c, a],
                    posterior.scale_[r, c, a],
                )
                np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "prior",
    [
        LinearPrior(
            coef_mean=0.5,
            coef_precision=2.0,
            intercept_mean=3.0,
            intercept_precision=0.1,
            noise="known",
            noise_variance=2.5,
        ),
        LinearPrior(
            coef_mean=-0.5,
            coef_precision=0.5,
            intercept_mean=4.0,
            intercept_precision=0.2,
            noise="unknown",
            noise_shape=2.0,
            noise_scale=3.0,
        ),
    ],
    ids=["known-noise", "unknown-noise"],
)
def test_linear_regression_sequential_updates_equal_batch_formulas(rng, prior):
    n_replicates, n_features, n_rounds = 3, 4, 30
    posterior = BayesianLinearRegression(n_replicates, n_features, prior)
    x = np.concatenate(
        [
            rng.normal(size=(n_rounds, n_replicates, n_features - 1)),
            np.ones((n_rounds, n_replicates, 1)),
        ],
        axis=-1,
    )
    y = (
        x[..., :-1] @ np.array([1.0, -2.0, 0.5])
        + 4.0
        + rng.normal(0, 1.5, (n_rounds, n_replicates))
    )
    # Replicate 2 skips every third round, through the `rows` argument.
    seen = np.ones((n_rounds, n_replicates), dtype=bool)
    for t in range(n_rounds):
        if t % 3 == 0:
            seen[t, 2] = False
            posterior.update(x[t, :2], y[t, :2], rows=np.array([0, 1]))
        else:
            posterior.update(x[t], y[t])

    for r in range(n_replicates):
        precision, mean, shape, scale = _blr_batch(x[seen[:, r], r], y[seen[:, r], r], prior)
        np.testing.assert_allclose(posterior.precision_[r], precision, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(posterior.mean_[r], mean, rtol=1e-10, atol=1e-10)
        assert posterior.n_observations_[r] == seen[:, r].sum()
        if prior.noise == "unknown":
            np.testing.assert_allclose(posterior.shape_[r], shape, rtol=1e-10)
            np.testing.assert_allclose(posterior.scale_[r], scale, rtol=1e-10)


def test_normal_inverse_wishart_sequential_updates_equal_batch_formulas(rng):
    n_replicates, n_cells, n_arms, d, n_rounds = 2, 2, 3, 3, 40
    posterior = NormalInverseWishart((n_replicates, n_cells, n_arms), d, NIW_PRIOR)
    cells = rng.integers(n_cells, size=(n_rounds, n_replicates))
    arms = rng.integers(n_arms - 1, size=(n_rounds, n_replicates))  # last arm: never played
    mix = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [-0.3, 0.2, 0.5]])
    z = rng.normal(size=(n_rounds, n_replicates, d)) @ mix.T + np.array([1.0, -1.0, 2.0])
    for t in range(n_rounds):
        posterior.update((np.arange(n_replicates), cells[t], arms[t]), z[t])

    for r in range(n_replicates):
        for c in range(n_cells):
            for a in range(n_arms):
                played = (cells[:, r] == c) & (arms[:, r] == a)
                mean, kappa, dof, psi = _niw_batch(z[played, r], NIW_PRIOR)
                np.testing.assert_allclose(posterior.mean_[r, c, a], mean, rtol=1e-10, atol=1e-10)
                np.testing.assert_allclose(posterior.kappa_[r, c, a], kappa, rtol=1e-12)
                np.testing.assert_allclose(posterior.dof_[r, c, a], dof, rtol=1e-12)
                np.testing.assert_allclose(
                    posterior.scale_matrix_[r, c, a], psi, rtol=1e-10, atol=1e-10
                )


# ----------------------------------------------------------------------------------------------
# Thompson draws follow the posterior
# ----------------------------------------------------------------------------------------------


def _assert_moments(draws: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> None:
    """Check the draws' mean and covariance against the exact ones, within N_SE Monte Carlo SEs.

    ``draws`` has shape ``(n, k)``. Each tolerance is the standard error of that sample moment
    estimated from the draws themselves (valid for the heavy-ish tailed Student-t draws too, as
    long as their fourth moments exist: all posteriors here have df > 8).
    """
    n = draws.shape[0]
    centred = draws - mean
    se_mean = centred.std(axis=0) / np.sqrt(n)
    np.testing.assert_array_less(np.abs(centred.mean(axis=0)), N_SE * se_mean)
    products = centred[:, :, None] * centred[:, None, :]
    se_cov = products.std(axis=0) / np.sqrt(n)
    np.testing.assert_array_less(np.abs(products.mean(axis=0) - cov), N_SE * se_cov)


def test_normal_inverse_gamma_thompson_draws_follow_the_posterior(rng):
    n_arms = 3
    posterior = NormalInverseGamma((N_DRAWS, 1, n_arms), NIG_PRIOR)
    every = np.arange(N_DRAWS)
    cell = np.zeros(N_DRAWS, dtype=int)
    for arm, (n, loc, sd) in enumerate([(8, 0.0, 1.0), (12, 3.0, 2.0), (20, 1.0, 0.5)]):
        for y in rng.normal(loc, sd, size=n):
            posterior.update((every, cell, np.full(N_DRAWS, arm)), np.full(N_DRAWS, y))
    draws = posterior.sample_mean((every, cell), as_replicate_random(rng, N_DRAWS))
    assert draws.shape == (N_DRAWS, n_arms)
    mean, count = posterior.mean_[0, 0], posterior.count_[0, 0]
    shape, scale = posterior.shape_[0, 0], posterior.scale_[0, 0]
    # Student-t marginal with 2 * shape df: variance scale / ((shape - 1) count); arms independent.
    _assert_moments(draws, mean, np.diag(scale / ((shape - 1) * count)))


@pytest.mark.parametrize("noise", ["known", "unknown"])
def test_linear_regression_thompson_draws_follow_the_posterior(rng, noise):
    prior = LinearPrior(
        coef_mean=0.5,
        coef_precision=2.0,
        intercept_mean=3.0,
        intercept_precision=0.1,
        noise=noise,
        noise_variance=2.5,
        noise_shape=2.0,
        noise_scale=3.0,
    )
    n_features, n = 3, 15
    posterior = BayesianLinearRegression(N_DRAWS, n_features, prior)
    x = np.c_[rng.normal(size=(n, n_features - 1)), np.ones(n)]
    y = x @ np.array([1.0, -1.0, 3.0]) + rng.normal(0.0, 1.5, size=n)
    for row, value in zip(x, y, strict=True):
        posterior.update(np.tile(row, (N_DRAWS, 1)), np.full(N_DRAWS, value))
    draws = posterior.sample(as_replicate_random(rng, N_DRAWS))
    cov = np.linalg.inv(posterior.precision_[0])
    if noise == "unknown":
        # Multivariate t with 2 * shape df: covariance scale / (shape - 1) * inverse(precision).
        cov *= posterior.scale_[0] / (posterior.shape_[0] - 1)
    _assert_moments(draws, posterior.mean_[0], cov)


def test_normal_inverse_wishart_thompson_draws_follow_the_posterior(rng):
    d, n_arms = 2, 2
    posterior = NormalInverseWishart((N_DRAWS, 1, n_arms), d, NIW_PRIOR)
    every = np.arange(N_DRAWS)
    cell = np.zeros(N_DRAWS, dtype=int)
    for arm, n in enumerate([10, 16]):
        z = rng.normal(size=(n, d)) @ np.array([[1.0, 0.0], [0.7, 0.5]]).T + arm
        for row in z:
            posterior.update((every, cell, np.full(N_DRAWS, arm)), np.tile(row, (N_DRAWS, 1)))
    draws = posterior.sample_mean((every, cell), as_replicate_random(rng, N_DRAWS))
    assert draws.shape == (N_DRAWS, n_arms, d)
    for arm in range(n_arms):
        kappa, dof = posterior.kappa_[0, 0, arm], posterior.dof_[0, 0, arm]
        psi = posterior.scale_matrix_[0, 0, arm]
        # mu ~ t_{dof - d + 1}(mean, Psi / (kappa (dof - d + 1))),
        # so its covariance is Psi / (kappa (dof - d - 1)).
        cov = psi / (kappa * (dof - d - 1))
        _assert_moments(draws[:, arm], posterior.mean_[0, 0, arm], cov)
