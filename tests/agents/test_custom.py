"""CustomPoGAMBITTS: a user's PyMC stage 2, refitted with nutpie, PyMC NUTS or Laplace.

The proof: the built-in linear stage 2, plugged in as a custom model, gives the exact agent's
posterior within Monte Carlo error (mean within ``N_MCSE = 4`` of ArviZ's MCSE, sd within
``SD_RTOL = 10%``; 2 chains x 500 draws give ESS ~ 1000, so the sd's relative Monte Carlo error
is ~2-3%), and the same tolerances reject the posterior of a plausible bug.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from pathlib import Path

import arviz as az
import numpy as np
import pytest
import xarray as xr

from gambitts.agents import PoGAMBITTS
from gambitts.agents.custom import (
    BuilderError,
    CustomPoGAMBITTS,
    UnhealthyFitWarning,
    nutpie_available,
)
from gambitts.errors import InputError
from gambitts.models.diagnostics import fit_diagnostics, unhealthy
from gambitts.models.priors import LinearPrior
from gambitts.models.pymc_models import build_outcome_model
from gambitts.models.random_streams import ReplicateRandom

pytestmark = pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS:UserWarning")

N_MCSE = 4.0
SD_RTOL = 0.10
PRIOR = LinearPrior(coef_mean=0.5, coef_precision=4.0, intercept_mean=3.0, intercept_precision=0.5)
N_REPLICATES, N_CELLS, N_ARMS, N_DIMS = 2, 3, 3, 2
N_OBSERVATIONS = 40


def _builder(prior: LinearPrior = PRIOR):
    return functools.partial(build_outcome_model, prior=prior)


def _recorded(seed: int = 5) -> tuple[np.ndarray, ...]:
    """Return a recorded sequence ``(cells, actions, z, rewards)`` and generator means."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    means = rng.normal(size=(N_REPLICATES, N_CELLS, N_ARMS, N_DIMS))
    cells = rng.integers(0, N_CELLS, (N_OBSERVATIONS, N_REPLICATES))
    actions = rng.integers(0, N_ARMS, (N_OBSERVATIONS, N_REPLICATES))
    z = rng.normal(size=(N_OBSERVATIONS, N_REPLICATES, N_DIMS))
    rewards = z @ np.array([2.0, -1.0]) + 1.0 + rng.normal(size=(N_OBSERVATIONS, N_REPLICATES))
    return cells, actions, z, rewards, means


def _exact(prior: LinearPrior, data: tuple[np.ndarray, ...]) -> PoGAMBITTS:
    cells, actions, z, rewards, means = data
    agent = PoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, prior=prior).reset(N_REPLICATES, means)
    return agent.update_sequence(cells, actions, z, rewards)


def _exact_moments(agent: PoGAMBITTS) -> tuple[np.ndarray, np.ndarray]:
    low = agent.stage2_.cholesky_
    covariance = np.linalg.inv(low @ np.swapaxes(low, -1, -2))
    return agent.stage2_.mean_, np.sqrt(np.diagonal(covariance, axis1=-2, axis2=-1))


def _mismatches(agent: CustomPoGAMBITTS, mean: np.ndarray, sd: np.ndarray) -> list[str]:
    problems = []
    for replicate in range(N_REPLICATES):
        draws = xr.DataArray(agent.draws_[replicate]["beta"], dims=("chain", "draw", "feature"))
        mcse = az.mcse(xr.Dataset({"beta": draws}), method="mean")["beta"].values
        z = np.abs(draws.mean(("chain", "draw")).values - mean[replicate]) / mcse
        ratio = np.abs(draws.std(("chain", "draw")).values / sd[replicate] - 1.0)
        if z.max() > N_MCSE:
            problems.append(f"replicate {replicate}: mean {z.max():.1f} MCSE off")
        if ratio.max() > SD_RTOL:
            problems.append(f"replicate {replicate}: sd {ratio.max():.0%} off")
    return problems


needs_nutpie = pytest.mark.skipif(not nutpie_available(), reason="nutpie is not installed")


@pytest.fixture(scope="module")
def fitted() -> tuple[CustomPoGAMBITTS, float, float]:
    """Return a nutpie agent fitted on the recorded data, its reset and refit seconds."""
    data = _recorded()
    agent = CustomPoGAMBITTS(
        N_ARMS, N_DIMS, N_CELLS, builder=_builder(), refit_every=N_OBSERVATIONS // 2
    )
    start = time.perf_counter()
    agent.reset(N_REPLICATES, generator_means=data[4])
    reset_seconds = time.perf_counter() - start
    start = time.perf_counter()
    agent.update_sequence(*data[:4])
    refit_seconds = (time.perf_counter() - start) / 2
    return agent, reset_seconds, refit_seconds


@needs_nutpie
def test_builtin_model_reproduces_the_exact_posterior(fitted):
    agent, _, _ = fitted
    data = _recorded()
    mean, sd = _exact_moments(_exact(PRIOR, data))
    problems = _mismatches(agent, mean, sd)
    assert not problems, "nutpie disagrees with the exact posterior: " + "; ".join(problems)
    # Measured: a noise variance of 2 instead of 1 is ~35% off in sd; a forgotten coefficient
    # prior is > 10 MCSE off. The tolerances must reject both.
    for bug in (
        dataclasses.replace(PRIOR, noise_variance=2.0),
        dataclasses.replace(PRIOR, coef_precision=1e-9),
    ):
        assert _mismatches(agent, *_exact_moments(_exact(bug, data))), bug


@needs_nutpie
def test_refits_reuse_the_compiled_model(fitted, monkeypatch):
    import nutpie

    agent, reset_seconds, refit_seconds = fitted
    assert agent.n_compilations_ == 1

    def forbidden(*args, **kwargs):
        raise AssertionError("a refit or reset recompiled the model")

    monkeypatch.setattr(nutpie, "compile_pymc_model", forbidden)
    data = _recorded(seed=6)
    agent.reset(N_REPLICATES, generator_means=data[4]).update_sequence(*data[:4])
    assert agent.n_compilations_ == 1
    # Measured here: reset with compilation 10-20 s, a refit of 2 replicates 0.1-0.5 s.
    assert refit_seconds < reset_seconds / 5, (reset_seconds, refit_seconds)


@needs_nutpie
def test_diagnostics_dataset(fitted):
    agent, _, _ = fitted
    diagnostics = agent.diagnostics_
    assert dict(diagnostics.sizes) == {"refit": 2, "replicate": N_REPLICATES, "variable": 1}
    assert list(diagnostics["variable"].values) == ["beta"]
    assert list(diagnostics["refit_round"].values) == [20, 40]
    assert diagnostics["rhat_max"].dims == ("refit", "replicate", "variable")
    assert diagnostics["divergences"].dims == ("refit", "replicate")
    assert np.all(diagnostics["rhat_max"] < 1.05)
    assert np.all(diagnostics["ess_bulk_min"] > 100)
    assert np.all(diagnostics["divergences"] == 0)
    assert np.all(diagnostics["wall_time"] > 0)


@needs_nutpie
def test_select_is_vectorised_and_deterministic(fitted):
    agent, _, _ = fitted
    cells = np.array([0, 2])
    first = [agent.select(cells, np.random.default_rng(1)) for _ in range(1)]
    again = [agent.select(cells, np.random.default_rng(1)) for _ in range(1)]
    np.testing.assert_array_equal(first, again)
    assert first[0].shape == (N_REPLICATES,)
    assert np.all((first[0] >= 0) & (first[0] < N_ARMS))


@needs_nutpie
def test_an_unhealthy_fit_warns_once(fitted):
    agent, _, _ = fitted
    data = _recorded()
    agent.draws, agent.tune, agent.warm_tune = 5, 3, 3  # far too short to converge
    try:
        agent.reset(N_REPLICATES, generator_means=data[4])
        with pytest.warns(UnhealthyFitWarning, match="unhealthy nuts fit after 20"):
            agent.update_sequence(*data[:4])
        assert agent.n_compilations_ == 1
    finally:
        agent.draws, agent.tune, agent.warm_tune = 500, 500, 500


def test_laplace_is_exact_for_the_linear_gaussian_model():
    """The known-noise linear model's posterior is Gaussian: Laplace must reproduce it."""
    data = _recorded()
    agent = CustomPoGAMBITTS(
        N_ARMS, N_DIMS, N_CELLS, builder=_builder(), method="laplace", refit_every=N_OBSERVATIONS
    )
    agent.reset(N_REPLICATES, generator_means=data[4]).update_sequence(*data[:4])
    mean, sd = _exact_moments(_exact(PRIOR, data))
    for replicate in range(N_REPLICATES):
        draws = agent.draws_[replicate]["beta"].reshape(-1, N_DIMS + 1)
        # 1000 independent draws: the mean's Monte Carlo sd is sd / sqrt(1000).
        np.testing.assert_array_less(
            np.abs(draws.mean(0) - mean[replicate]), N_MCSE * sd[replicate] / np.sqrt(len(draws))
        )
        np.testing.assert_allclose(draws.std(0), sd[replicate], rtol=SD_RTOL)
    assert np.all(np.isnan(agent.diagnostics_["rhat_max"]))
    assert bool(agent.diagnostics_["optimizer_converged"].all())


def test_unhealthy_names_the_first_problem():
    ds = xr.Dataset(
        {
            "rhat_max": (("refit", "variable"), [[1.0, 1.0], [1.002, 1.08]]),
            "ess_bulk_min": (("refit", "variable"), [[500.0, 50.0], [400.0, 400.0]]),
            "ess_tail_min": (("refit", "variable"), [[500.0, 500.0], [400.0, 400.0]]),
            "divergences": ("refit", [0, 0]),
            "wall_time": ("refit", [0.1, 0.1]),
        },
        coords={"variable": ["beta", "sigma2"]},
    )
    assert unhealthy(ds) == "R-hat 1.080 > 1.05 for `sigma2` (refit 1)"
    assert unhealthy(ds, rhat_max=1.1) == "bulk ESS 50 < 100 for `sigma2` (refit 0)"
    assert unhealthy(ds.assign(rhat_max=ds["rhat_max"] * 0 + 1.0)) == (
        "bulk ESS 50 < 100 for `sigma2` (refit 0)"
    )
    diverging = ds.assign(divergences=("refit", [0, 3]))
    assert unhealthy(diverging) == "3 divergent transitions > 0 (refit 1)"
    healthy = ds.assign(rhat_max=ds["rhat_max"] * 0 + 1.0, ess_bulk_min=ds["ess_tail_min"])
    assert unhealthy(healthy) is None
    assert unhealthy(healthy.assign(rhat_max=healthy["rhat_max"] * np.nan)) is None
    laplace = healthy.assign(optimizer_converged=("refit", [1.0, 0.0]))
    assert unhealthy(laplace) == "the Laplace mode search did not converge (refit 1)"
    assert unhealthy(laplace.assign(optimizer_converged=("refit", [1.0, np.nan]))) is None


def test_two_refits_without_a_select_use_different_seeds():
    data = _recorded()
    agent = CustomPoGAMBITTS(
        N_ARMS, N_DIMS, N_CELLS, builder=_builder(), method="laplace", refit_every=N_OBSERVATIONS
    )
    agent.reset(N_REPLICATES, generator_means=data[4])
    agent.select(np.zeros(N_REPLICATES, dtype=int), np.random.default_rng(0))
    agent.update_sequence(*data[:4])
    first = agent.draws_[0]["beta"].copy()
    agent.refit()  # same data, same select: only the refit counter differs
    assert not np.allclose(agent.draws_[0]["beta"], first)
    again = CustomPoGAMBITTS(
        N_ARMS, N_DIMS, N_CELLS, builder=agent.builder, method="laplace", refit_every=N_OBSERVATIONS
    )
    again.reset(N_REPLICATES, generator_means=data[4])
    again.select(np.zeros(N_REPLICATES, dtype=int), np.random.default_rng(0))
    again.update_sequence(*data[:4])
    np.testing.assert_array_equal(again.draws_[0]["beta"], first)  # same seeds, same draws


def _stream(seed: int) -> ReplicateRandom:
    return ReplicateRandom(
        [np.random.SeedSequence(seed, spawn_key=(r,)) for r in range(N_REPLICATES)]
    )


def test_replaying_a_live_run_with_its_stream_draws_what_select_drew():
    """``update_sequence(..., rng=stream)`` stands for ``select`` then ``update`` every round.

    Refits are seeded from keys that ``select`` draws, so the replay must draw them as the live
    run did: it ends in the live run's posterior draws and leaves the stream where the live run
    left it, also after a ``select`` just before it (that round's keys are not drawn twice).
    Without the stream the refits are seeded from ``seed`` and the draws differ.
    """
    cells, _, z, rewards, means = _recorded()
    agent = CustomPoGAMBITTS(
        N_ARMS, N_DIMS, N_CELLS, builder=_builder(), method="laplace", refit_every=7, draws=50
    )
    agent.reset(N_REPLICATES, generator_means=means)
    live = _stream(1)
    actions = np.empty_like(cells)
    for t in range(N_OBSERVATIONS):
        actions[t] = agent.select(cells[t], live)
        agent.update(cells[t], actions[t], z[t], rewards[t])
    arm_reward = agent.arm_reward_.copy()
    beta = [draws["beta"].copy() for draws in agent.draws_]
    next_normals = live.standard_normal(4)

    for select_first in (False, True):
        agent.reset(N_REPLICATES, generator_means=means)
        stream = _stream(1)
        if select_first:
            agent.select(cells[0], stream)
        agent.update_sequence(cells, actions, z, rewards, rng=stream)
        np.testing.assert_array_equal(agent.arm_reward_, arm_reward)
        for replicate in range(N_REPLICATES):
            np.testing.assert_array_equal(agent.draws_[replicate]["beta"], beta[replicate])
        np.testing.assert_array_equal(stream.standard_normal(4), next_normals)

    agent.reset(N_REPLICATES, generator_means=means)
    agent.update_sequence(cells, actions, z, rewards)
    assert not np.array_equal(agent.draws_[0]["beta"], beta[0])


def test_fit_diagnostics_of_a_small_trace():
    rng = np.random.default_rng(0)
    good = az.from_dict(
        posterior={"beta": rng.normal(size=(2, 500, 3))},
        sample_stats={"diverging": np.zeros((2, 500), dtype=bool)},
    )
    ds = fit_diagnostics(good, wall_time=0.5)
    assert list(ds["variable"].values) == ["beta"]
    assert ds["rhat_max"].item() < 1.01 and ds["ess_bulk_min"].item() > 700
    assert ds["divergences"].item() == 0 and ds["wall_time"].item() == 0.5
    apart = rng.normal(size=(2, 500, 3)) + np.array([0.0, 3.0])[:, None, None]
    stuck = az.from_dict(posterior={"beta": apart})  # two chains in different places
    assert "R-hat" in unhealthy(fit_diagnostics(stuck, wall_time=0.1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"builder": None}, "`builder` must be a callable"),
        ({"method": "hmc"}, "`method` must be one of"),
        ({"refit_every": 0}, "`refit_every` must be an integer >= 1"),
    ],
    ids=["builder", "method", "refit-every"],
)
def test_rejects_bad_configuration(kwargs, match):
    arguments = {"builder": _builder(), **kwargs}
    with pytest.raises((TypeError, ValueError), match=match):
        CustomPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, **arguments)


def test_builder_must_follow_the_contract():
    import pymc as pm

    def no_expected_reward(features, rewards):
        with pm.Model() as model:
            pm.Data("features", features, dims=("obs", "feature"))
            pm.Data("rewards", rewards, dims="obs")
            pm.Normal("beta", 0, 1)
        return model

    agent = CustomPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, builder=no_expected_reward, method="laplace")
    with pytest.raises(BuilderError, match="no_expected_reward' must define `expected_reward`"):
        agent.reset(N_REPLICATES, generator_means=np.zeros((N_CELLS, N_ARMS, N_DIMS)))
    with pytest.raises(RuntimeError, match="call `reset"):
        agent.select(np.zeros(N_REPLICATES, dtype=int), np.random.default_rng(0))


def _returns_none(features, rewards):
    import pymc as pm

    with pm.Model():
        pm.Data("features", features, dims=("obs", "feature"))  # and no `return model`


def _returns_dict(features, rewards):
    return {"features": features}


def _exits(features, rewards):
    sys.exit(3)


def _exits_without_code(features, rewards):
    sys.exit()


def _raises(features, rewards):
    return 1.0 / len(rewards)  # called with zero rows first


@pytest.mark.parametrize(
    ("builder", "message"),
    [
        (_returns_none, "returned None (a missing `return model`?); builders must return a pymc"),
        (_returns_dict, "returned an object of type dict; builders must return a pymc.Model"),
        (_exits, "called sys.exit(3) (tests/agents/test_custom.py, line"),
        (_exits_without_code, "called sys.exit() (tests/agents/test_custom.py, line"),
        (_raises, "raised ZeroDivisionError: float division by zero (tests/agents/test_custom"),
    ],
    ids=["none", "dict", "exit", "exit-no-code", "raises"],
)
def test_a_builder_that_fails_is_one_line_that_names_it(builder, message, monkeypatch):
    monkeypatch.chdir(Path(__file__).parents[2])  # files are named relative to the project
    agent = CustomPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, builder=builder, method="laplace")
    with pytest.raises(BuilderError) as error:
        agent.reset(N_REPLICATES, generator_means=np.zeros((N_CELLS, N_ARMS, N_DIMS)))
    text = str(error.value)
    assert text.startswith(f"builder '{builder.__module__}:{builder.__name__}' ")
    assert message in text and "\n" not in text
    assert isinstance(error.value, InputError)  # the command line prints it as one line
    # A partial is named by the function it wraps.
    agent = CustomPoGAMBITTS(
        N_ARMS, N_DIMS, N_CELLS, builder=functools.partial(builder), method="laplace"
    )
    with pytest.raises(BuilderError, match=f"^builder '[a-z_.]*:{builder.__name__}' "):
        agent.reset(N_REPLICATES, generator_means=np.zeros((N_CELLS, N_ARMS, N_DIMS)))


def test_keyboard_interrupt_in_a_builder_is_not_caught():
    def interrupted(features, rewards):
        raise KeyboardInterrupt

    agent = CustomPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, builder=interrupted, method="laplace")
    with pytest.raises(KeyboardInterrupt):
        agent.reset(N_REPLICATES, generator_means=np.zeros((N_CELLS, N_ARMS, N_DIMS)))


def test_errors_of_gambitts_after_the_builder_returned_are_not_the_builders(monkeypatch):
    import gambitts.agents.custom as custom

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in gambitts")

    monkeypatch.setattr(custom, "ModelRefitter", broken)
    agent = CustomPoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, builder=_builder(), method="laplace")
    with pytest.raises(RuntimeError, match="a bug in gambitts") as error:
        agent.reset(N_REPLICATES, generator_means=np.zeros((N_CELLS, N_ARMS, N_DIMS)))
    assert not isinstance(error.value, BuilderError)
