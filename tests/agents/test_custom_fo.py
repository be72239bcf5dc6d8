"""CustomFoGAMBITTS: a user's stage 2 with the exact or a user's stage 1.

Tolerances: the Laplace approximation of a Gaussian posterior is exact, so 1000 independent
draws must have means within ``N_MCSE = 4`` Monte Carlo errors (posterior sd / sqrt(1000)) of
the closed form, and sds within 10% (the sd's relative Monte Carlo error is ~2%).
"""

from __future__ import annotations

import functools
import sys

import numpy as np
import pymc as pm
import pytest

from gambitts.agents import FoGAMBITTS
from gambitts.agents.custom import BuilderError
from gambitts.agents.custom_fo import CustomFoGAMBITTS
from gambitts.errors import InputError
from gambitts.models.priors import LinearPrior
from gambitts.models.pymc_models import build_outcome_model
from gambitts.models.random_streams import ReplicateRandom

pytestmark = pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS:UserWarning")

N_MCSE = 4.0
SD_RTOL = 0.10
N_REPLICATES, N_CELLS, N_ARMS, N_DIMS, N_ROUNDS = 2, 2, 3, 2, 30
PRIOR = LinearPrior(coef_mean=0.0, coef_precision=1.0, intercept_mean=0.0, intercept_precision=1.0)


def build_normal_treatment_model(cells, arms, z, *, n_cells, n_arms):
    """Stage 1: independent N(0, 1) means per (cell, prompt), unit noise (conjugate)."""
    with pm.Model() as model:
        c = pm.Data("cells", cells, dims="obs")
        a = pm.Data("arms", arms, dims="obs")
        observed = pm.Data("z", z, dims=("obs", "dim"))
        mu = pm.Normal("mu", 0.0, 1.0, shape=(n_cells, n_arms, z.shape[1]))
        pm.Deterministic("treatment_mean", mu)
        pm.Normal("z_observed", mu[c, a], 1.0, observed=observed)
    return model


def _recorded(seed: int = 3):
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, N_CELLS, (N_ROUNDS, N_REPLICATES))
    actions = rng.integers(0, N_ARMS, (N_ROUNDS, N_REPLICATES))
    z = rng.normal(0.5, 1.0, (N_ROUNDS, N_REPLICATES, N_DIMS))
    rewards = z @ np.array([1.5, -1.0]) + rng.normal(size=(N_ROUNDS, N_REPLICATES))
    return cells, actions, z, rewards


def _agent(**options) -> CustomFoGAMBITTS:
    options = {"builder": functools.partial(build_outcome_model, prior=PRIOR), **options}
    return CustomFoGAMBITTS(
        N_ARMS, N_DIMS, N_CELLS, method="laplace", refit_every=N_ROUNDS, **options
    )


def _assert_matches(draws: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> None:
    """``draws`` (n, ...) against the exact posterior moments (same trailing shape)."""
    error = np.abs(draws.mean(0) - mean) / (sd / np.sqrt(len(draws)))
    assert error.max() < N_MCSE, f"posterior mean {error.max():.1f} Monte Carlo errors off"
    ratio = np.abs(draws.std(0) / sd - 1.0)
    assert ratio.max() < SD_RTOL, f"posterior sd {ratio.max():.0%} off"


def test_default_stage1_is_the_exact_one_and_stage2_matches_the_exact_posterior():
    data = _recorded()
    agent = _agent().reset(N_REPLICATES).update_sequence(*data)
    exact = FoGAMBITTS(N_ARMS, N_DIMS, N_CELLS, prior=PRIOR).reset(N_REPLICATES)
    exact.update_sequence(*data)
    np.testing.assert_allclose(agent.stage1_.mean_, exact.stage1_.mean_)
    low = exact.stage2_.cholesky_
    covariance = np.linalg.inv(low @ np.swapaxes(low, -1, -2))
    sd = np.sqrt(np.diagonal(covariance, axis1=-2, axis2=-1))
    for replicate in range(N_REPLICATES):
        draws = agent.draws_[replicate]["beta"].reshape(-1, N_DIMS + 1)
        _assert_matches(draws, exact.stage2_.mean_[replicate], sd[replicate])


def test_custom_stage1_matches_its_conjugate_posterior_and_reports_diagnostics():
    cells, actions, z, rewards = _recorded()
    agent = _agent(treatment_builder=build_normal_treatment_model)
    agent.reset(N_REPLICATES).update_sequence(cells, actions, z, rewards)
    for replicate in range(N_REPLICATES):
        count = np.zeros((N_CELLS, N_ARMS))
        total = np.zeros((N_CELLS, N_ARMS, N_DIMS))
        np.add.at(count, (cells[:, replicate], actions[:, replicate]), 1)
        np.add.at(total, (cells[:, replicate], actions[:, replicate]), z[:, replicate])
        # N(0, 1) prior, unit noise: posterior N(sum z / (n + 1), 1 / (n + 1)).
        mean = total / (count + 1)[..., None]
        sd = np.broadcast_to(1 / np.sqrt(count + 1)[..., None], mean.shape)
        _assert_matches(agent.treatment_mean_draws_[replicate].astype(float), mean, sd)
    # A stage 1 that ignored the data (the prior) would be far off: the check can fail.
    with pytest.raises(AssertionError):
        _assert_matches(agent.treatment_mean_draws_[0].astype(float), 0 * mean, 0 * sd + 1)
    diagnostics = agent.diagnostics_
    assert list(diagnostics["variable"].values) == ["beta", "stage1:mu"]
    assert (diagnostics["divergences"] == -1).all()  # Laplace in both stages: no MCMC
    assert diagnostics["optimizer_converged"].all()
    assert (diagnostics["wall_time"] > 0).all()
    assert agent.n_compilations_ == 2  # each stage compiled once


def test_select_plays_the_prompt_whose_drawn_mean_of_z_scores_best():
    """Stage 2 rewards dim 0; stage 1 learns that prompt 2 has the largest dim 0 in cell 1."""
    rng = np.random.default_rng(0)
    n = 60
    cells = np.ones((n, N_REPLICATES), dtype=int)
    actions = np.tile(np.arange(n) % N_ARMS, (N_REPLICATES, 1)).T
    z = rng.normal(0.0, 0.1, (n, N_REPLICATES, N_DIMS))
    z[..., 0] += 2.0 * actions  # prompt a has mean 2a on dim 0
    rewards = 3.0 * z[..., 0] + rng.normal(0.0, 0.1, (n, N_REPLICATES))
    for treatment_builder in (None, build_normal_treatment_model):
        agent = _agent(treatment_builder=treatment_builder)
        agent.reset(N_REPLICATES).update_sequence(cells, actions, z, rewards)
        for seed in range(5):
            chosen = agent.select(np.array([1, 1]), np.random.default_rng(seed))
            np.testing.assert_array_equal(chosen, [2, 2])


@pytest.mark.parametrize(
    "builder,message",
    [
        (
            lambda cells, arms, z, *, n_cells, n_arms: pm.Model(),
            "must define `cells`",
        ),
        (
            "not callable",
            "`treatment_builder` must be a callable treatment_builder(cells, arms, z",
        ),
    ],
    ids=["missing-data", "not-callable"],
)
def test_bad_stage1_builders_say_what_is_wrong(builder, message):
    with pytest.raises((TypeError, ValueError)) as error:
        _agent(treatment_builder=builder).reset(N_REPLICATES)
    assert message in str(error.value)


def test_a_stage1_mean_of_the_wrong_shape_is_an_error():
    def flat(cells, arms, z, *, n_cells, n_arms):
        with pm.Model() as model:
            pm.Data("cells", cells, dims="obs")
            pm.Data("arms", arms, dims="obs")
            observed = pm.Data("z", z, dims=("obs", "dim"))
            mu = pm.Normal("mu", 0.0, 1.0, shape=z.shape[1])
            pm.Deterministic("treatment_mean", mu)
            pm.Normal("z_observed", mu, 1.0, observed=observed)
        return model

    with pytest.raises(BuilderError, match=r"flat' must have shape \(2, 3, 2\) = \(n_cells"):
        _agent(treatment_builder=flat).reset(N_REPLICATES)


def _treatment_returns_none(cells, arms, z, *, n_cells, n_arms):
    return None


def _treatment_exits(cells, arms, z, *, n_cells, n_arms):
    sys.exit(3)


def _treatment_raises(cells, arms, z, *, n_cells, n_arms):
    raise ValueError(f"no data yet: {len(z)} rows")


def _stage2_exits(features, rewards):
    sys.exit("stop")


@pytest.mark.parametrize(
    ("stage", "builder", "message"),
    [
        ("treatment_builder", _treatment_returns_none, "returned None (a missing `return model`?)"),
        ("treatment_builder", _treatment_exits, "called sys.exit(3) ("),
        ("treatment_builder", _treatment_raises, "raised ValueError: no data yet: 0 rows ("),
        ("builder", _stage2_exits, "called sys.exit('stop') ("),
    ],
    ids=["stage1-none", "stage1-exit", "stage1-raises", "stage2-exit"],
)
def test_a_builder_that_fails_is_one_line_that_names_it(stage, builder, message):
    with pytest.raises(BuilderError) as error:
        _agent(**{stage: builder}).reset(N_REPLICATES)
    text = str(error.value)
    assert text.startswith(f"{stage} '{builder.__module__}:{builder.__name__}' ")
    assert message in text and "\n" not in text
    assert isinstance(error.value, InputError)


@pytest.mark.parametrize("custom_stage1", [False, True], ids=["exact-stage1", "custom-stage1"])
def test_replaying_a_live_run_with_its_stream_draws_what_select_drew(custom_stage1):
    """``update_sequence(..., rng=stream)`` draws what ``select`` drew, and nothing twice.

    The live run's refits are seeded from keys ``select`` draws after the stage-1 draws (the
    Normal-Inverse-Wishart means, whose gamma draws take a state-dependent amount of the
    stream), so the replay ends in the live run's draws of both stages only if it takes the
    same numbers in the same order; the stream is then where the live run left it, also after
    a ``select`` just before the replay.
    """
    cells, _, z, rewards = _recorded()
    agent = CustomFoGAMBITTS(
        N_ARMS,
        N_DIMS,
        N_CELLS,
        builder=functools.partial(build_outcome_model, prior=PRIOR),
        treatment_builder=build_normal_treatment_model if custom_stage1 else None,
        method="laplace",
        refit_every=7,
        draws=50,
    )

    def stream() -> ReplicateRandom:
        seeds = [np.random.SeedSequence(1, spawn_key=(r,)) for r in range(N_REPLICATES)]
        return ReplicateRandom(seeds)

    def state() -> list[np.ndarray]:
        arrays = [draws[name] for draws in agent.draws_ for name in sorted(draws)]
        if custom_stage1:
            arrays.append(agent.treatment_mean_draws_)
        return [np.array(a, copy=True) for a in arrays]

    agent.reset(N_REPLICATES)
    live = stream()
    actions = np.empty_like(cells)
    for t in range(N_ROUNDS):
        actions[t] = agent.select(cells[t], live)
        agent.update(cells[t], actions[t], z[t], rewards[t])
    expected = state()
    next_normals = live.standard_normal(4)

    for select_first in (False, True):
        agent.reset(N_REPLICATES)
        replay = stream()
        if select_first:
            agent.select(cells[0], replay)
        agent.update_sequence(cells, actions, z, rewards, rng=replay)
        for got, want in zip(state(), expected, strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(replay.standard_normal(4), next_normals)


def test_n_mc_draws_is_refused():
    with pytest.raises(TypeError, match="takes no `n_mc_draws`"):
        _agent(n_mc_draws=8)


@pytest.mark.parametrize("custom_stage1", [False, True], ids=["exact-stage1", "custom-stage1"])
def test_posterior_inference_data_names_both_stages(custom_stage1):
    import arviz as az

    from gambitts.models.inference_data import posterior_inference_data

    data = _recorded()
    builder = build_normal_treatment_model if custom_stage1 else None
    agent = _agent(treatment_builder=builder).reset(N_REPLICATES).update_sequence(*data)
    idata = posterior_inference_data(
        agent, 1, dim_names=["optimism", "severity"], prompt_names=["a", "b", "c"]
    )
    posterior = idata.posterior
    # Laplace draws are one chain of chains x draws independent draws.
    assert dict(posterior["mu"].sizes) == {
        "chain": 1, "draw": 1000, "cell": N_CELLS, "arm": N_ARMS, "dim": N_DIMS
    }  # fmt: skip
    assert list(posterior["dim"].values) == ["optimism", "severity"]
    assert list(posterior["feature"].values) == ["optimism", "severity", "intercept"]
    # Stage 1's draws are centred on its posterior mean of replicate 1.
    cells, actions, z, _ = data
    chosen = (cells[:, 1] == 0) & (actions[:, 1] == 0)
    prior_weight = 1.0  # both stage-1 priors put the weight of one observation on mean 0
    expected = z[chosen, 1].sum(0) / (chosen.sum() + prior_weight)
    mean = posterior["mu"].isel(cell=0, arm=0).mean(("chain", "draw")).values
    sd = posterior["mu"].isel(cell=0, arm=0).std(("chain", "draw")).values
    assert np.all(np.abs(mean - expected) < N_MCSE * sd / np.sqrt(1000))
    assert "mu" in az.summary(idata, kind="stats").index.str.split("[").str[0]
