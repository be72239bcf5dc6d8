"""posterior_inference_data: named coords, az.summary, and draws that follow the exact posterior.

Exact posteriors are drawn independently, so a posterior mean's Monte Carlo sd is
``sd / sqrt(n_draws)``; means must lie within ``N_SE = 4`` of those of the exact posterior, and
with 4000 draws a sign or scale bug (a mean off by a posterior sd) is 63 of them away.
"""

from __future__ import annotations

import functools

import arviz as az
import numpy as np
import pandas as pd
import pytest

from gambitts.agents import FoGAMBITTS, PoGAMBITTS, StdTS
from gambitts.agents.custom import CustomPoGAMBITTS
from gambitts.agents.ensemble import EnsembleConfig, EnsPoGAMBITTS
from gambitts.models.inference_data import posterior_inference_data
from gambitts.models.priors import LinearPrior, NormalInverseGammaPrior
from gambitts.models.pymc_models import build_outcome_model

pytestmark = pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS:UserWarning")

N_SE = 4.0
N_DRAWS = 4000
N_REPLICATES, N_CELLS, N_ARMS = 2, 12, 3
DIMS = ["optimism", "formality"]
PROMPTS = ["calm", "bold", "kind"]


def _drive(agent, rounds: int = 60, seed: int = 3):
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    for _ in range(rounds):
        cells = rng.integers(0, N_CELLS, N_REPLICATES)
        actions = rng.integers(0, N_ARMS, N_REPLICATES)
        z = rng.normal(size=(N_REPLICATES, len(DIMS)))
        rewards = 5.0 + z @ np.array([1.0, -0.5]) + 0.3 * actions + rng.normal(size=N_REPLICATES)
        agent.update(cells, actions, z, rewards)
    return agent


def _means() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(N_CELLS, N_ARMS, len(DIMS)))


def _assert_mean_close(draws: np.ndarray, exact_mean: np.ndarray) -> None:
    flat = draws.reshape(-1, *draws.shape[2:])
    error = np.abs(flat.mean(0) - exact_mean) / (flat.std(0) / np.sqrt(len(flat)))
    assert error.max() < N_SE, f"{error.max():.1f} Monte Carlo sds from the exact mean"


def _summary(idata) -> pd.DataFrame:
    summary = az.summary(idata, kind="stats")
    assert np.all(np.isfinite(summary["mean"]))
    return summary


@pytest.mark.parametrize("contextual", [False, True], ids=["StdTS", "StdTS:Contextual"])
def test_stdts(contextual):
    prior = NormalInverseGammaPrior(mean=5.0)
    agent = _drive(StdTS(N_ARMS, N_CELLS, contextual=contextual, prior=prior).reset(N_REPLICATES))
    cells = [f"cell {c}" for c in range(N_CELLS)] if contextual else None
    idata = posterior_inference_data(
        agent,
        replicate=1,
        n_draws=N_DRAWS,
        rng=np.random.default_rng(1),
        prompt_names=PROMPTS,
        cell_names=cells,
    )
    posterior = idata.posterior
    expected_dims = ("chain", "draw", "cell", "arm") if contextual else ("chain", "draw", "arm")
    assert posterior["mu"].dims == expected_dims
    assert posterior["sigma2"].dims == expected_dims
    assert list(posterior["arm"].values) == PROMPTS
    if contextual:
        assert posterior["cell"].values[0] == "cell 0"
        unnamed = posterior_inference_data(agent, replicate=1, n_draws=2).posterior
        assert list(unnamed["cell"].values) == list(range(N_CELLS))  # indices without names
    exact = agent.posterior_.mean_[1] if contextual else agent.posterior_.mean_[1, 0]
    # mu's marginal is Student-t; cells with few observations have heavy tails, so compare
    # only where the variance is finite with room (shape > 2).
    finite = (agent.posterior_.shape_[1] if contextual else agent.posterior_.shape_[1, 0]) > 2
    _assert_mean_close(posterior["mu"].values[..., finite], exact[finite])
    assert len(_summary(idata)) == (N_CELLS * N_ARMS * 2 if contextual else N_ARMS * 2)


@pytest.mark.parametrize("noise", ["known", "unknown"])
def test_pogambitts_stage2(noise):
    agent = PoGAMBITTS(
        N_ARMS,
        len(DIMS),
        N_CELLS,
        prompt_indicators=True,
        prior=LinearPrior(intercept_mean=5.0, noise=noise),
    )
    _drive(agent.reset(N_REPLICATES, generator_means=_means()))
    idata = posterior_inference_data(agent, n_draws=N_DRAWS, dim_names=DIMS, prompt_names=PROMPTS)
    beta = idata.posterior["beta"]
    assert beta.dims == ("chain", "draw", "feature")
    assert list(beta["feature"].values) == [*DIMS, "prompt[bold]", "prompt[kind]", "intercept"]
    _assert_mean_close(beta.values, agent.stage2_.mean_[0])
    low = agent.stage2_.cholesky_[0]
    covariance = np.linalg.inv(low @ low.T)
    if noise == "known":
        np.testing.assert_allclose(
            beta.values.reshape(-1, 5).std(0), np.sqrt(np.diag(covariance)), rtol=0.05
        )
    else:
        assert idata.posterior["sigma2"].dims == ("chain", "draw")
        exact = agent.stage2_.scale_[0] / (agent.stage2_.shape_[0] - 1.0)
        _assert_mean_close(idata.posterior["sigma2"].values, exact)
    _summary(idata)
    az.plot_posterior(idata, var_names=["beta"], coords={"feature": DIMS})
    import matplotlib.pyplot as plt

    plt.close("all")


def test_fogambitts_stage1_and_stage2():
    agent = FoGAMBITTS(N_ARMS, len(DIMS), N_CELLS, prior=LinearPrior(intercept_mean=5.0))
    _drive(agent.reset(N_REPLICATES), rounds=200)
    idata = posterior_inference_data(agent, n_draws=N_DRAWS, dim_names=DIMS, prompt_names=PROMPTS)
    mu = idata.posterior["mu"]
    assert mu.dims == ("chain", "draw", "cell", "arm", "dim")
    assert list(mu["dim"].values) == DIMS
    # Student-t with dof - d + 1 degrees of freedom: compare where the variance is finite.
    finite = agent.stage1_.dof_[0] - len(DIMS) + 1.0 > 4
    _assert_mean_close(mu.values[:, :, finite], agent.stage1_.mean_[0][finite])
    _assert_mean_close(idata.posterior["beta"].values, agent.stage2_.mean_[0])
    _summary(idata)


def test_ensemble_members_are_the_draws():
    config = EnsembleConfig(n_members=4, n_hidden=4, warmup_rounds=2, n_mc_draws=4)
    agent = EnsPoGAMBITTS(N_ARMS, len(DIMS), N_CELLS, config=config)
    draws = np.random.default_rng(0).normal(size=(N_CELLS, N_ARMS, 8, len(DIMS)))
    agent.reset(N_REPLICATES, generator_draws=draws.astype(np.float32))
    agent.select(np.zeros(N_REPLICATES, dtype=int), np.random.default_rng(0))
    idata = posterior_inference_data(agent, prompt_names=PROMPTS)
    reward = idata.posterior["expected_reward"]
    assert reward.dims == ("chain", "draw", "cell", "arm")
    assert reward.sizes["draw"] == 4


def test_custom_agent_prior_draws_before_the_first_refit():
    prior = LinearPrior(intercept_mean=5.0)
    builder = functools.partial(build_outcome_model, prior=prior)
    agent = CustomPoGAMBITTS(
        N_ARMS, len(DIMS), N_CELLS, builder=builder, method="nuts-pymc", draws=1000, chains=2
    )
    agent.reset(N_REPLICATES, generator_means=_means())
    idata = posterior_inference_data(agent, dim_names=DIMS, prompt_names=PROMPTS)
    beta = idata.posterior["beta"]
    assert beta.dims == ("chain", "draw", "feature")
    assert list(beta["feature"].values) == [*DIMS, "intercept"]
    assert idata.posterior["arm_reward"].dims == ("chain", "draw", "cell", "arm")
    # Before any refit the draws are the prior's: intercept ~ N(5, 10), coefficients ~ N(0, 1).
    _assert_mean_close(beta.values, np.array([0.0, 0.0, 5.0]))
    np.testing.assert_allclose(beta.values.reshape(-1, 3).std(0), [1.0, 1.0, 10.0], rtol=0.1)
    _summary(idata)


def test_rejects_bad_arguments():
    agent = StdTS(N_ARMS, N_CELLS).reset(N_REPLICATES)
    with pytest.raises(ValueError, match="`replicate` must lie in"):
        posterior_inference_data(agent, replicate=5)
    with pytest.raises(ValueError, match="`prompt_names` must hold 3 distinct names"):
        posterior_inference_data(agent, prompt_names=["a", "b"])
    with pytest.raises(TypeError, match="`agent` must be"):
        posterior_inference_data(object())
    with pytest.raises(RuntimeError, match="call `reset"):
        posterior_inference_data(StdTS(N_ARMS, N_CELLS))


def test_an_agent_kind_of_ones_own_is_told_what_to_implement():
    from gambitts.agents.base import Agent

    class Greedy(Agent):
        def reset(self, n_replicates, generator_means=None, generator_draws=None):
            self._n_replicates = n_replicates
            return self

        def select(self, cells, rng):
            return np.zeros(len(cells), dtype=np.int64)

        def update(self, cells, actions, z, rewards):
            return self

    with pytest.raises(NotImplementedError, match="Greedy does not expose its posterior"):
        posterior_inference_data(Greedy(N_ARMS, N_CELLS).reset(1))


def test_an_agents_own_posterior_is_what_inference_data_holds():
    agent = PoGAMBITTS(N_ARMS, 2, N_CELLS, prior=LinearPrior(noise="unknown")).reset(
        N_REPLICATES, generator_means=np.zeros((N_REPLICATES, N_CELLS, N_ARMS, 2))
    )
    draws = agent.posterior_draws(1, 7, np.random.default_rng(3))
    idata = posterior_inference_data(agent, 1, 7, np.random.default_rng(3))
    np.testing.assert_array_equal(idata.posterior["beta"].values, draws.variables["beta"])
    np.testing.assert_array_equal(idata.posterior["sigma2"].values, draws.variables["sigma2"])
    assert draws.dims == {"beta": ["feature"], "sigma2": []}
