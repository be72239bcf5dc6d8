"""The exact posteriors in :mod:`gambitts.models.conjugate` are the posteriors of the PyMC models.

Each test simulates a small data set, updates the conjugate class one observation at a time,
fits the PyMC model of :mod:`gambitts.models.pymc_models` with NUTS, and asserts

- no divergent transitions;
- every posterior mean within ``N_MCSE = 4`` Monte Carlo standard errors (ArviZ's ``az.mcse`` of
  the mean; the exact posterior has no error) of the exact one;
- every posterior sd within ``SD_RTOL = 10%`` of the exact one. Only light-tailed quantities get
  an sd check (their sample sd from ~2000 draws has a relative Monte Carlo error of 2-4%, so
  10% is about 3-5 of those): Normal and Student-t coefficients and means with df > 10,
  ``log(sigma2)`` (sd ``sqrt(trigamma(shape))``) and the Wishart precision ``Lambda``. Variances
  ``sigma2`` and ``Sigma`` are inverse-gamma/inverse-Wishart with few degrees of freedom; their
  sample sd is too noisy to compare, so they get the mean check only.

Each test also proves it can fail: the same comparison must reject the exact posterior of a
plausible bug (the conjugate class fed a prior that forgets a hyper-parameter, the wrong noise
variance, an off-by-one degree of freedom, ...), computed with the conjugate class itself, so
no extra sampling is needed. The priors and data are chosen so that every hyper-parameter moves
the posterior by many Monte Carlo standard errors.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator

import arviz as az
import numpy as np
import pymc as pm
import pytensor
import pytest
import xarray as xr
from scipy import special
from threadpoolctl import threadpool_limits

from gambitts.models.conjugate import (
    BayesianLinearRegression,
    NormalInverseGamma,
    NormalInverseWishart,
)
from gambitts.models.priors import LinearPrior, NormalInverseGammaPrior, NormalInverseWishartPrior
from gambitts.models.pymc_models import (
    build_arm_reward_model,
    build_outcome_model,
    build_treatment_model,
)

pytestmark = pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS:UserWarning")

N_MCSE = 4.0
SD_RTOL = 0.10
SAMPLE_KWARGS = dict(
    draws=1000, tune=1000, chains=2, cores=1, progressbar=False, compute_convergence_checks=False
)

#: name -> (exact posterior mean, exact posterior sd or None for "do not check the sd")
Moments = dict[str, tuple[np.ndarray, np.ndarray | None]]


@pytest.fixture(autouse=True, scope="module")
def _quiet_pymc() -> Iterator[None]:
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed))


def _fit(model: pm.Model, seed: int) -> xr.Dataset:
    """Sample ``model`` with NUTS; return its posterior, after checking for divergences.

    Chains run one after the other with a single BLAS thread: on this 2-core machine OpenBLAS
    threads on tiny matrices (and PyMC's forked workers) made sampling 5-10x slower.
    """
    with model, threadpool_limits(limits=1):
        idata = pm.sample(random_seed=_rng(seed), **SAMPLE_KWARGS)
    n_divergent = int(idata.sample_stats["diverging"].sum())
    assert n_divergent == 0, f"NUTS had {n_divergent} divergent transitions"
    return idata.posterior


def _mismatches(posterior: xr.Dataset, exact: Moments) -> list[str]:
    """Return a message for every posterior moment that disagrees with ``exact``."""
    draws = posterior[list(exact)]
    mean = draws.mean(("chain", "draw"))
    sd = draws.std(("chain", "draw"))
    mcse = az.mcse(draws, method="mean")
    problems = []
    for name, (exact_mean, exact_sd) in exact.items():
        z = np.abs(mean[name].values - exact_mean) / mcse[name].values
        if np.any(z > N_MCSE):
            problems.append(
                f"{name}: mean {mean[name].values} vs exact {exact_mean}, "
                f"{z.max():.1f} MCSE apart (tolerance {N_MCSE})"
            )
        if exact_sd is not None:
            relative = np.abs(sd[name].values / exact_sd - 1.0)
            if np.any(relative > SD_RTOL):
                problems.append(
                    f"{name}: sd {sd[name].values} vs exact {exact_sd}, "
                    f"{relative.max():.0%} apart (tolerance {SD_RTOL:.0%})"
                )
    return problems


def _assert_equivalent(posterior: xr.Dataset, exact: Moments, wrong: dict[str, Moments]) -> None:
    problems = _mismatches(posterior, exact)
    assert not problems, "NUTS disagrees with the exact posterior:\n" + "\n".join(problems)
    caught = {bug: bool(_mismatches(posterior, moments)) for bug, moments in wrong.items()}
    assert all(caught.values()), f"the tolerances would not catch these bugs: {caught}"


def _inverse_gamma_moments(shape: np.ndarray, scale: np.ndarray) -> Moments:
    """Moments of ``sigma2 ~ InverseGamma(shape, scale)``: its mean, and ``log(sigma2)``'s."""
    return {
        "sigma2": (scale / (shape - 1.0), None),
        "log_sigma2": (
            np.log(scale) - special.digamma(shape),
            np.sqrt(special.polygamma(1, shape)),
        ),
    }


def _with_log_sigma2(posterior: xr.Dataset) -> xr.Dataset:
    return posterior.assign(log_sigma2=np.log(posterior["sigma2"]))


# ----------------------------------------------------------------------------------------------
# StdTS: Normal-Inverse-Gamma per arm
# ----------------------------------------------------------------------------------------------

NIG_PRIOR = NormalInverseGammaPrior(mean=2.0, count=4.0, shape=3.0, scale=6.0)


def test_arm_reward_model_posterior_is_normal_inverse_gamma():
    rng = _rng(1)
    n_arms = 3
    arms = np.repeat(np.arange(n_arms), [6, 10, 14])
    rng.shuffle(arms)
    rewards = rng.normal(np.array([0.0, 4.0, 1.0])[arms], np.array([1.0, 1.5, 0.7])[arms])

    def exact(prior: NormalInverseGammaPrior, data=(arms, rewards)) -> Moments:
        posterior = NormalInverseGamma((1, n_arms), prior)
        for arm, reward in zip(*data, strict=True):
            posterior.update((np.array([0]), np.array([arm])), np.array([reward]))
        mean, count = posterior.mean_[0], posterior.count_[0]
        shape, scale = posterior.shape_[0], posterior.scale_[0]
        # mu's marginal is Student-t with 2 shape df, variance scale / ((shape - 1) count).
        return {
            "mu": (mean, np.sqrt(scale / ((shape - 1.0) * count))),
            **_inverse_gamma_moments(shape, scale),
        }

    model = build_arm_reward_model(arms, rewards, n_arms=n_arms, prior=NIG_PRIOR)
    posterior = _with_log_sigma2(_fit(model, seed=11))
    # Bugs, as the conjugate class would compute them. Measured (seeded, so fixed): the right
    # posterior is within 1.4 MCSE and 2.4% sd; a forgotten prior count, scale or shape, or a
    # prior mean of 0, are 70-110 MCSE off; one observation dropped (an off-by-one in the update
    # loop) is 7 MCSE off.
    replace = dataclasses.replace
    _assert_equivalent(
        posterior,
        exact(NIG_PRIOR),
        {
            "count ignored": exact(replace(NIG_PRIOR, count=1e-9)),
            "scale ignored": exact(replace(NIG_PRIOR, scale=1e-9)),
            "shape ignored": exact(replace(NIG_PRIOR, shape=1e-9)),
            "mean 0": exact(replace(NIG_PRIOR, mean=0.0)),
            "observation dropped": exact(NIG_PRIOR, (arms[:-1], rewards[:-1])),
        },
    )


# ----------------------------------------------------------------------------------------------
# Stage 2: Bayesian linear regression, known and unknown noise
# ----------------------------------------------------------------------------------------------

LINEAR_PRIOR = LinearPrior(
    coef_mean=0.5,
    coef_precision=4.0,
    intercept_mean=3.0,
    intercept_precision=0.5,
    noise="known",
    noise_variance=1.0,
    noise_shape=3.0,
    noise_scale=4.0,
)


def _linear_data(
    rng: np.random.Generator, n: int, noise_sd: float
) -> tuple[np.ndarray, np.ndarray]:
    """Features ``[z0, z1, 1]`` (the intercept last, as TwoStageAgent.features) and rewards."""
    features = np.c_[rng.normal(size=(n, 2)), np.ones(n)]
    rewards = features @ np.array([2.0, -1.0, 1.0]) + rng.normal(0.0, noise_sd, size=n)
    return features, rewards


def _linear_exact(prior: LinearPrior, features: np.ndarray, rewards: np.ndarray) -> Moments:
    posterior = BayesianLinearRegression(1, features.shape[1], prior)
    for row, reward in zip(features, rewards, strict=True):
        posterior.update(row[None, :], np.array([reward]))
    low = posterior.cholesky_[0]
    low_inverse = np.linalg.solve(low, np.eye(low.shape[0]))  # L^-1; covariance = L^-T L^-1
    variance = np.sum(low_inverse**2, axis=0)
    if prior.noise == "known":
        return {"beta": (posterior.mean_[0], np.sqrt(variance))}
    shape, scale = posterior.shape_[0], posterior.scale_[0]
    # beta's marginal is multivariate t with 2 shape df, covariance scale / (shape - 1) P^-1.
    return {
        "beta": (posterior.mean_[0], np.sqrt(scale / (shape - 1.0) * variance)),
        **_inverse_gamma_moments(shape, scale),
    }


def test_outcome_model_known_noise_posterior_is_bayesian_linear_regression():
    features, rewards = _linear_data(_rng(2), n=12, noise_sd=1.0)
    prior = LINEAR_PRIOR

    def exact(**changes) -> Moments:
        return _linear_exact(dataclasses.replace(prior, **changes), features, rewards)

    posterior = _fit(build_outcome_model(features, rewards, prior=prior), seed=12)
    # Measured: the right posterior is within 1.3 MCSE and 2.1% sd. Noise variance 2 instead
    # of 1: 36 MCSE and sd 22% off; coefficient prior ignored: 131 MCSE; coefficient prior mean
    # 0: 19 MCSE; intercept prior ignored: 7.7 MCSE; the coefficients' and the intercept's
    # priors swapped (intercept not last): 135 MCSE.
    _assert_equivalent(
        posterior,
        exact(),
        {
            "noise variance 2": exact(noise_variance=2.0),
            "coef prior ignored": exact(coef_precision=1e-9),
            "coef mean 0": exact(coef_mean=0.0),
            "intercept prior ignored": exact(intercept_precision=1e-9),
            "intercept first": exact(
                coef_mean=prior.intercept_mean,
                coef_precision=prior.intercept_precision,
                intercept_mean=prior.coef_mean,
                intercept_precision=prior.coef_precision,
            ),
        },
    )


def test_outcome_model_unknown_noise_posterior_is_normal_inverse_gamma_regression():
    features, rewards = _linear_data(_rng(3), n=16, noise_sd=1.5)
    prior = dataclasses.replace(LINEAR_PRIOR, noise="unknown")

    def exact(**changes) -> Moments:
        return _linear_exact(dataclasses.replace(prior, **changes), features, rewards)

    posterior = _with_log_sigma2(_fit(build_outcome_model(features, rewards, prior=prior), seed=13))
    # Measured: the right posterior is within 1.9 MCSE and 3.4% sd. Noise treated as known
    # (variance 1): beta's sd 82% off; prior noise shape or scale ignored: 44 and 14 MCSE;
    # coefficient prior ignored: 53 MCSE; intercept prior ignored: 6.3 MCSE.
    known = exact(noise="known")
    _assert_equivalent(
        posterior,
        exact(),
        {
            "noise treated as known": {"beta": known["beta"]},
            "noise shape ignored": exact(noise_shape=1e-9),
            "noise scale ignored": exact(noise_scale=1e-9),
            "coef prior ignored": exact(coef_precision=1e-9),
            "intercept prior ignored": exact(intercept_precision=1e-9),
        },
    )


# ----------------------------------------------------------------------------------------------
# Stage 1 of foGAMBITTS: Normal-Inverse-Wishart
# ----------------------------------------------------------------------------------------------

NIW_PRIOR = NormalInverseWishartPrior(mean=1.0, kappa=3.0, dof=4.0, scale=2.0)


def test_treatment_model_posterior_is_normal_inverse_wishart():
    rng = _rng(4)
    d, n = 2, 10
    z = rng.normal(size=(n, d)) @ np.array([[1.0, 0.0], [0.6, 0.8]]).T + np.array([-1.0, 0.5])

    def exact(prior: NormalInverseWishartPrior, data: np.ndarray = z) -> Moments:
        posterior = NormalInverseWishart((1,), d, prior)
        for row in data:
            posterior.update((np.array([0]),), row[None, :])
        mean, kappa = posterior.mean_[0], posterior.kappa_[0]
        dof, psi = posterior.dof_[0], posterior.scale_matrix_[0]
        # Sigma ~ InverseWishart(dof, Psi): mean Psi / (dof - d - 1).
        # Lambda ~ Wishart(dof, V = Psi^-1): mean dof V, Var(Lambda_ij) = dof (V_ij^2 + V_ii V_jj).
        # mu ~ t_{dof - d + 1}(mean, Psi / (kappa (dof - d + 1))): cov Psi / (kappa (dof - d - 1)).
        v = np.linalg.inv(psi)
        return {
            "mu": (mean, np.sqrt(np.diag(psi) / (kappa * (dof - d - 1.0)))),
            "Sigma": (psi / (dof - d - 1.0), None),
            "Lambda": (dof * v, np.sqrt(dof * (v**2 + np.outer(np.diag(v), np.diag(v))))),
        }

    posterior = _fit(build_treatment_model(z, prior=NIW_PRIOR), seed=14)
    replace = dataclasses.replace
    # Measured: the right posterior is within 1.5 MCSE and 2.1% sd. kappa ignored: 140 MCSE;
    # prior mean 0: 34 MCSE; prior scale ignored: 40 MCSE; dof off by one either way (Lambda's
    # mean moves by 1/dof ~ 7%): 8-9 MCSE; one observation dropped: 12 MCSE.
    _assert_equivalent(
        posterior,
        exact(NIW_PRIOR),
        {
            "kappa ignored": exact(replace(NIW_PRIOR, kappa=1e-9)),
            "mean 0": exact(replace(NIW_PRIOR, mean=0.0)),
            "scale ignored": exact(replace(NIW_PRIOR, scale=1e-9)),
            "dof + 1": exact(replace(NIW_PRIOR, dof=NIW_PRIOR.dof + 1.0)),
            "dof - 1": exact(replace(NIW_PRIOR, dof=NIW_PRIOR.dof - 1.0)),
            "observation dropped": exact(NIW_PRIOR, z[:-1]),
        },
    )


# ----------------------------------------------------------------------------------------------
# Variable names and dims are public API
# ----------------------------------------------------------------------------------------------


def _names_and_dims(model: pm.Model) -> dict[str, tuple[str, ...]]:
    return {name: tuple(model.named_vars_to_dims.get(name, ())) for name in model.named_vars}


@pytest.mark.parametrize(
    ("build", "free", "observed", "expected"),
    [
        (
            lambda: build_arm_reward_model([0, 2, 1], [1.0, 2.0, 3.0], n_arms=3),
            ["sigma2", "mu"],
            ["y"],
            {
                "arms": ("obs",),
                "rewards": ("obs",),
                "sigma2": ("arm",),
                "mu": ("arm",),
                "y": ("obs",),
            },
        ),
        (
            lambda: build_outcome_model(np.c_[np.eye(3)[:, :2], np.ones(3)], [1.0, 2.0, 3.0]),
            ["beta"],
            ["y"],
            {
                "features": ("obs", "feature"),
                "rewards": ("obs",),
                "beta": ("feature",),
                "expected_reward": ("obs",),
                "y": ("obs",),
            },
        ),
        (
            lambda: build_outcome_model(
                np.c_[np.eye(3)[:, :2], np.ones(3)],
                [1.0, 2.0, 3.0],
                prior=LinearPrior(noise="unknown"),
            ),
            ["sigma2", "beta"],
            ["y"],
            {
                "features": ("obs", "feature"),
                "rewards": ("obs",),
                "sigma2": (),
                "beta": ("feature",),
                "expected_reward": ("obs",),
                "y": ("obs",),
            },
        ),
        (
            lambda: build_treatment_model(np.zeros((4, 3))),
            ["Lambda_chi2", "Lambda_normal", "mu"],
            ["z"],
            {
                "treatments": ("obs", "dim"),
                "Lambda_chi2": ("dim",),
                "Lambda_normal": ("dim_pair",),
                "Lambda": ("dim", "dim_col"),
                "Sigma": ("dim", "dim_col"),
                "mu": ("dim",),
                "z": ("obs", "dim"),
            },
        ),
    ],
    ids=["arm-reward", "outcome-known", "outcome-unknown", "treatment"],
)
def test_builders_pin_variable_names_and_dims(build, free, observed, expected):
    model = build()
    assert _names_and_dims(model) == expected
    assert [rv.name for rv in model.free_RVs] == free
    assert [rv.name for rv in model.observed_RVs] == observed


def test_default_coordinates():
    arm_model = build_arm_reward_model([0, 1], [1.0, 2.0], n_arms=4)
    assert list(arm_model.coords["arm"]) == [0, 1, 2, 3]
    outcome = build_outcome_model(np.c_[np.zeros((2, 2)), np.ones(2)], [1.0, 2.0])
    assert list(outcome.coords["feature"]) == ["feature[0]", "feature[1]", "intercept"]
    named = build_outcome_model(
        np.c_[np.zeros((2, 1)), np.ones(2)], [1.0, 2.0], feature_names=["optimism", "intercept"]
    )
    assert list(named.coords["feature"]) == ["optimism", "intercept"]
    treatment = build_treatment_model(np.zeros((2, 3)), dim_names=["a", "b", "c"])
    assert list(treatment.coords["dim"]) == ["a", "b", "c"]
    assert list(treatment.coords["dim_col"]) == ["a", "b", "c"]
    assert list(treatment.coords["dim_pair"]) == ["b,a", "c,a", "c,b"]
    assert list(build_treatment_model(np.zeros((2, 2))).coords["dim"]) == ["z[0]", "z[1]"]


def test_outcome_model_data_can_be_replaced():
    model = build_outcome_model(np.c_[np.zeros((3, 1)), np.ones(3)], [1.0, 2.0, 3.0])
    with model:
        pm.set_data({"features": np.c_[np.arange(5.0), np.ones(5)], "rewards": np.zeros(5)})
    assert pm.draw(model["y"], random_seed=0).shape == (5,)
    expected_reward = pytensor.function([model["beta"]], model["expected_reward"])
    np.testing.assert_allclose(expected_reward(np.array([2.0, 1.0])), 2 * np.arange(5) + 1)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: build_arm_reward_model([0, 3], [1.0, 2.0], n_arms=3), "`arms` must hold"),
        (lambda: build_arm_reward_model([0, 1], [1.0], n_arms=3), "`arms` must have the shape"),
        (lambda: build_arm_reward_model([0], [1.0], n_arms=0), "`n_arms` must be a positive"),
        (lambda: build_arm_reward_model([0], [np.nan], n_arms=2), "`rewards` must be finite"),
        (lambda: build_outcome_model(np.ones((2, 2)), [1.0]), "`features` must have shape"),
        (
            lambda: build_outcome_model(np.zeros((2, 2)), [1.0, 2.0]),
            "last column of `features` must be the intercept",
        ),
        (
            lambda: build_outcome_model(np.ones((2, 2)), [1.0, 2.0], feature_names=["a"]),
            "`feature_names` must hold 2 distinct names",
        ),
        (lambda: build_treatment_model(np.zeros(3)), "`z` must have shape"),
        (
            lambda: build_treatment_model(np.zeros((2, 2)), dim_names=["a", "a"]),
            "`dim_names` must hold 2 distinct names",
        ),
        (
            lambda: build_treatment_model(
                np.zeros((2, 3)), prior=NormalInverseWishartPrior(dof=1.5)
            ),
            "`dof` must exceed",
        ),
    ],
    ids=[
        "arm-out-of-range",
        "arms-length",
        "n-arms",
        "nan-reward",
        "features-rows",
        "no-intercept",
        "feature-names",
        "z-1d",
        "dim-names",
        "dof",
    ],
)
def test_builders_reject_bad_input(build, match):
    with pytest.raises(ValueError, match=match):
        build()
