"""The agents' models declared in PyMC: one pure builder function per model.

Each builder returns an unsampled :class:`pymc.Model`; nothing here samples, reads, writes or
plots. The exact (conjugate) posteriors in :mod:`gambitts.models.conjugate` are the posteriors of
these models, and ``tests/models/test_pymc_equivalence.py`` proves it by fitting them with NUTS.

Variable names and dims are public API (the tests pin them):

==============================  =======================================================
builder                         variables (dims)
==============================  =======================================================
:func:`build_arm_reward_model`  data ``arms`` (obs), ``rewards`` (obs);
                                ``sigma2`` (arm), ``mu`` (arm), observed ``y`` (obs)
:func:`build_outcome_model`     data ``features`` (obs, feature), ``rewards`` (obs);
                                ``sigma2`` (unknown noise only), ``beta`` (feature),
                                deterministic ``expected_reward`` (obs), observed ``y`` (obs)
:func:`build_treatment_model`   data ``treatments`` (obs, dim); ``Lambda_chi2`` (dim),
                                ``Lambda_normal`` (dim_pair) [Bartlett coordinates],
                                deterministics ``Lambda`` and ``Sigma`` (dim, dim_col),
                                ``mu`` (dim), observed ``z`` (obs, dim)
==============================  =======================================================

The ``obs`` dim has no coordinate values: its length follows the data, so
``pymc.set_data({"rewards": ..., ...})`` may change the number of observations.

``pymc`` is imported by this module only; import it lazily (it takes seconds).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from gambitts.models.priors import LinearPrior, NormalInverseGammaPrior, NormalInverseWishartPrior

__all__ = ["build_arm_reward_model", "build_outcome_model", "build_treatment_model"]


def build_arm_reward_model(
    arms: np.ndarray,
    rewards: np.ndarray,
    *,
    n_arms: int,
    prior: NormalInverseGammaPrior | None = None,
) -> pm.Model:
    """Build StdTS's model: an independent normal reward with unknown mean and variance per arm.

    Per arm ``a``::

        sigma2[a] ~ InverseGamma(prior.shape, prior.scale)
        mu[a]     ~ Normal(prior.mean, sqrt(sigma2[a] / prior.count))
        y[i]      ~ Normal(mu[arms[i]], sqrt(sigma2[arms[i]]))

    Its posterior is :class:`gambitts.models.conjugate.NormalInverseGamma` (for StdTS:Contextual
    build one model per context cell).

    Parameters
    ----------
    arms : array_like of int, shape (n,)
        Arm played at each observation, in ``0 .. n_arms - 1``.
    rewards : array_like of float, shape (n,)
        Observed rewards.
    n_arms : int
        Number of arms (length of the ``arm`` dim).
    prior : NormalInverseGammaPrior, optional
        Defaults to the paper's StdTS prior.

    Returns
    -------
    pymc.Model
        Coords ``arm`` (``0 .. n_arms - 1``) and ``obs`` (length of the data). Data
        ``arms`` (obs) and ``rewards`` (obs); free variables ``sigma2`` (arm) and ``mu`` (arm);
        observed ``y`` (obs).
    """
    prior = prior or NormalInverseGammaPrior()
    if int(n_arms) != n_arms or n_arms < 1:
        raise ValueError(f"`n_arms` must be a positive integer, got {n_arms!r}")
    n_arms = int(n_arms)
    rewards = _as_vector(rewards, "rewards")
    arms = np.asarray(arms)
    if arms.shape != rewards.shape:
        raise ValueError(
            f"`arms` must have the shape of `rewards` {rewards.shape}, got {arms.shape}"
        )
    if arms.size and (
        not np.issubdtype(arms.dtype, np.integer) or arms.min() < 0 or arms.max() >= n_arms
    ):
        raise ValueError(
            f"`arms` must hold integers in 0 .. {n_arms - 1} (n_arms={n_arms}), got values "
            f"{np.unique(arms)[:10]} of dtype {arms.dtype}"
        )

    with pm.Model(coords={"arm": np.arange(n_arms)}) as model:
        arms_data = pm.Data("arms", arms.astype(np.int64), dims="obs")
        rewards_data = pm.Data("rewards", rewards, dims="obs")
        sigma2 = pm.InverseGamma("sigma2", alpha=prior.shape, beta=prior.scale, dims="arm")
        mu = pm.Normal("mu", mu=prior.mean, sigma=pt.sqrt(sigma2 / prior.count), dims="arm")
        pm.Normal(
            "y",
            mu=mu[arms_data],
            sigma=pt.sqrt(sigma2[arms_data]),
            observed=rewards_data,
            dims="obs",
        )
    return model


def build_outcome_model(
    features: np.ndarray,
    rewards: np.ndarray,
    *,
    prior: LinearPrior | None = None,
    feature_names: Sequence[str] | None = None,
) -> pm.Model:
    """Build stage 2 of the GAMBITTS agents: a Bayesian linear regression of the reward.

    The intercept is the LAST feature, and ``features`` already holds its column of ones,
    exactly as :meth:`gambitts.agents.two_stage.TwoStageAgent.features` builds the rows. With
    ``m0`` and ``p0`` the prior means and precisions (``prior.coef_*`` for all features but the
    last, ``prior.intercept_*`` for the last):

    - ``prior.noise == "known"``::

        beta[j] ~ Normal(m0[j], 1 / sqrt(p0[j]))
        y[i]    ~ Normal(features[i] @ beta, sqrt(prior.noise_variance))

    - ``prior.noise == "unknown"`` (Normal-Inverse-Gamma)::

        sigma2  ~ InverseGamma(prior.noise_shape, prior.noise_scale)
        beta[j] ~ Normal(m0[j], sqrt(sigma2 / p0[j]))
        y[i]    ~ Normal(features[i] @ beta, sqrt(sigma2))

    Its posterior is :class:`gambitts.models.conjugate.BayesianLinearRegression`.

    Parameters
    ----------
    features : array_like of float, shape (n, n_features)
        Stage-2 feature rows, intercept column (all ones) last.
    rewards : array_like of float, shape (n,)
        Observed rewards.
    prior : LinearPrior, optional
        Defaults to the paper's poGAMBITTS prior (known noise variance 1).
    feature_names : sequence of str, optional
        Coordinates of the ``feature`` dim; defaults to ``feature[0], ..., intercept``.

    Returns
    -------
    pymc.Model
        Coords ``feature`` and ``obs`` (length of the data). Data ``features`` (obs, feature) and
        ``rewards`` (obs), replaceable with :func:`pymc.set_data`; free variables ``beta``
        (feature) and, with unknown noise only, ``sigma2`` (scalar); deterministic
        ``expected_reward`` (obs) ``= features @ beta``; observed ``y`` (obs).
    """
    prior = prior or LinearPrior()
    features = np.asarray(features, dtype=float)
    rewards = _as_vector(rewards, "rewards")
    if features.ndim != 2 or features.shape[0] != rewards.shape[0] or features.shape[1] < 1:
        raise ValueError(
            f"`features` must have shape (n_observations={rewards.shape[0]}, n_features) with the "
            f"intercept column last, got {features.shape}"
        )
    if not np.all(np.isfinite(features)):
        raise ValueError("`features` must be finite, got NaN or inf")
    if not np.all(features[:, -1] == 1.0):
        raise ValueError(
            "the last column of `features` must be the intercept (all ones), got "
            f"{features[:5, -1]}...; append a column of ones as TwoStageAgent.features does"
        )
    n_features = features.shape[1]
    names = _names(feature_names, n_features, "feature_names", "feature", last="intercept")
    prior_mean = np.full(n_features, prior.coef_mean)
    prior_mean[-1] = prior.intercept_mean
    prior_precision = np.full(n_features, prior.coef_precision)
    prior_precision[-1] = prior.intercept_precision

    with pm.Model(coords={"feature": names}) as model:
        features_data = pm.Data("features", features, dims=("obs", "feature"))
        rewards_data = pm.Data("rewards", rewards, dims="obs")
        if prior.noise == "known":
            beta = pm.Normal(
                "beta", mu=prior_mean, sigma=1.0 / np.sqrt(prior_precision), dims="feature"
            )
            noise_sd = np.sqrt(prior.noise_variance)
        else:
            sigma2 = pm.InverseGamma("sigma2", alpha=prior.noise_shape, beta=prior.noise_scale)
            beta = pm.Normal(
                "beta", mu=prior_mean, sigma=pt.sqrt(sigma2 / prior_precision), dims="feature"
            )
            noise_sd = pt.sqrt(sigma2)
        expected = pm.Deterministic("expected_reward", features_data @ beta, dims="obs")
        pm.Normal("y", mu=expected, sigma=noise_sd, observed=rewards_data, dims="obs")
    return model


def build_treatment_model(
    z: np.ndarray,
    *,
    prior: NormalInverseWishartPrior | None = None,
    dim_names: Sequence[str] | None = None,
) -> pm.Model:
    """Build stage 1 of foGAMBITTS for one (context cell, prompt): a Normal-Inverse-Wishart model.

    With ``d`` modelled dims, ``nu = prior.resolved_dof(d)`` and ``m0 = prior.mean``::

        Lambda ~ Wishart(nu, inverse(prior.scale * I))     # precision; Sigma = inverse(Lambda)
        mu     ~ MvNormal(m0, tau=prior.kappa * Lambda)
        z[i]   ~ MvNormal(mu, tau=Lambda)

    i.e. ``Sigma ~ InverseWishart(nu, prior.scale * I)`` and ``mu | Sigma ~ Normal(m0,
    Sigma / kappa)``. Its posterior is :class:`gambitts.models.conjugate.NormalInverseWishart`.

    ``Lambda`` is declared through its Bartlett decomposition, which NUTS samples on an
    unconstrained space: ``Lambda = (B A)(B A)^T`` with ``B = I / sqrt(prior.scale)`` (the
    Cholesky factor of the Wishart scale matrix) and ``A`` lower triangular with
    ``A[i, i]^2 ~ ChiSquared(nu - i)`` (``i = 0 .. d - 1``) and ``A[i, j] ~ Normal(0, 1)`` below
    the diagonal. (``pymc.WishartBartlett`` is not used: in PyMC 5.28 its chi-squared degrees of
    freedom are ``nu - 2 .. nu - d - 1``, two fewer than the Wishart's.)

    Parameters
    ----------
    z : array_like of float, shape (n, d)
        Observed treatments (modelled dims of the message embeddings) of one (cell, prompt).
    prior : NormalInverseWishartPrior, optional
        Defaults to the paper's foGAMBITTS prior (mean 0, kappa 1, dof d, scale I).
    dim_names : sequence of str, optional
        Coordinates of the ``dim`` dim; defaults to ``z[0], ..., z[d-1]``.

    Returns
    -------
    pymc.Model
        Coords ``dim``, ``dim_col`` (same values: the column dim of matrices), ``dim_pair``
        (the ``d (d - 1) / 2`` below-diagonal entries, ``"row,col"``) and ``obs`` (length of
        the data). Data ``treatments`` (obs, dim); free variables ``Lambda_chi2`` (dim),
        ``Lambda_normal`` (dim_pair) and ``mu`` (dim); deterministics ``Lambda`` (precision)
        and ``Sigma`` (covariance), both (dim, dim_col); observed ``z`` (obs, dim).
    """
    prior = prior or NormalInverseWishartPrior()
    z = np.asarray(z, dtype=float)
    if z.ndim != 2 or z.shape[1] < 1:
        raise ValueError(f"`z` must have shape (n_observations, n_dims), got {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("`z` must be finite, got NaN or inf")
    d = z.shape[1]
    dof = prior.resolved_dof(d)
    names = _names(dim_names, d, "dim_names", "z")
    rows, cols = np.tril_indices(d, k=-1)
    pairs = [f"{names[i]},{names[j]}" for i, j in zip(rows, cols, strict=True)]
    coords = {"dim": names, "dim_col": names, "dim_pair": pairs}

    with pm.Model(coords=coords) as model:
        z_data = pm.Data("treatments", z, dims=("obs", "dim"))
        chi2 = pm.ChiSquared("Lambda_chi2", nu=dof - np.arange(d), dims="dim")
        normal = pm.Normal("Lambda_normal", 0.0, 1.0, dims="dim_pair")
        bartlett = pt.zeros((d, d))
        bartlett = pt.set_subtensor(bartlett[np.arange(d), np.arange(d)], pt.sqrt(chi2))
        bartlett = pt.set_subtensor(bartlett[rows, cols], normal)
        precision_cholesky = bartlett / np.sqrt(prior.scale)
        precision = pm.Deterministic(
            "Lambda", precision_cholesky @ precision_cholesky.T, dims=("dim", "dim_col")
        )
        pm.Deterministic("Sigma", pt.linalg.inv(precision), dims=("dim", "dim_col"))
        mu = pm.MvNormal("mu", mu=np.full(d, prior.mean), tau=prior.kappa * precision, dims="dim")
        pm.MvNormal("z", mu=mu, tau=precision, observed=z_data, dims=("obs", "dim"))
    return model


def _as_vector(values: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim != 1:
        raise ValueError(
            f"`{name}` must be one-dimensional (one value per observation), "
            f"got shape {values.shape}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(f"`{name}` must be finite, got NaN or inf")
    return values


def _names(
    names: Sequence[str] | None, n: int, argument: str, stem: str, last: str | None = None
) -> list[str]:
    if names is None:
        default = [f"{stem}[{i}]" for i in range(n)]
        if last is not None:
            default[-1] = last
        return default
    names = [str(name) for name in names]
    if len(names) != n or len(set(names)) != n:
        raise ValueError(f"`{argument}` must hold {n} distinct names, got {names}")
    return names
