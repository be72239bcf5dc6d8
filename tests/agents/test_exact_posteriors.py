"""Agents' posteriors against a from-scratch batch computation of the update rules.

The rules are the textbook ones (the paper's, corrected); also: stability over 10^5 rounds.
"""

from __future__ import annotations

import numpy as np
import pytest

from gambitts.agents import FoGAMBITTS, PoGAMBITTS, StdTS
from gambitts.design.contexts import PAPER_CONTEXTS
from gambitts.models.priors import LinearPrior

N_CELLS = PAPER_CONTEXTS.n_cells

N_ARMS, N_DIMS, N_ROUNDS, N_REPLICATES = 3, 2, 150, 2


@pytest.fixture
def sequence(rng):
    """Return a recorded sequence of (cell, arm, Z, reward), shape (n_rounds, n_replicates, ...)."""
    cells = rng.integers(0, N_CELLS, (N_ROUNDS, N_REPLICATES))
    actions = rng.integers(0, N_ARMS, (N_ROUNDS, N_REPLICATES))
    z = rng.normal(size=(N_ROUNDS, N_REPLICATES, N_DIMS)) + actions[..., None]
    rewards = (
        77 + z @ np.array([1.5, -0.7]) + 0.1 * cells + rng.normal(size=(N_ROUNDS, N_REPLICATES))
    )
    return cells, actions, z, rewards


def test_stdts_posteriors_are_the_normal_inverse_gamma_batch_update(sequence):
    cells, actions, _, rewards = sequence
    for contextual in (False, True):
        agent = StdTS(N_ARMS, N_CELLS, contextual=contextual).reset(N_REPLICATES)
        agent.update_sequence(*sequence)
        for r in range(N_REPLICATES):
            for cell in range(N_CELLS if contextual else 1):
                for arm in range(N_ARMS):
                    mask = (actions[:, r] == arm) & ((cells[:, r] == cell) | (not contextual))
                    y = rewards[mask, r]
                    n, ybar = len(y), y.mean() if len(y) else 0.0
                    # Prior: mean 77, count 5, shape 1, scale 10 (the paper's).
                    count = 5 + n
                    mean = (5 * 77 + n * ybar) / count
                    shape = 1 + n / 2
                    scale = (
                        10 + 0.5 * np.sum((y - ybar) ** 2) + 5 * n * (ybar - 77) ** 2 / (2 * count)
                    )
                    post = agent.posterior_
                    assert post.count_[r, cell, arm] == count
                    assert post.shape_[r, cell, arm] == shape
                    np.testing.assert_allclose(post.mean_[r, cell, arm], mean, rtol=1e-12)
                    np.testing.assert_allclose(post.scale_[r, cell, arm], scale, rtol=1e-10)


def _design(cells, actions, z, with_context, with_prompts):
    parts = [z]
    if with_context:
        parts.append(PAPER_CONTEXTS.features()[cells])
    if with_prompts:
        parts.append(np.eye(N_ARMS)[actions][:, 1:])
    parts.append(np.ones((len(cells), 1)))
    return np.concatenate(parts, axis=1)


@pytest.mark.parametrize("noise", ["known", "unknown"])
@pytest.mark.parametrize(
    "with_context,with_prompts", [(False, False), (True, True)], ids=["plain", "context+hedged"]
)
@pytest.mark.parametrize("agent_class", [PoGAMBITTS, FoGAMBITTS], ids=["po", "fo"])
def test_stage2_is_the_bayesian_linear_regression_batch_update(
    sequence, agent_class, noise, with_context, with_prompts
):
    cells, actions, z, rewards = sequence
    agent = agent_class(
        N_ARMS,
        N_DIMS,
        N_CELLS,
        context_features=PAPER_CONTEXTS.features() if with_context else None,
        prompt_indicators=with_prompts,
        prior=LinearPrior(noise=noise),
    ).reset(N_REPLICATES, generator_means=np.zeros((N_CELLS, N_ARMS, N_DIMS)))
    agent.update_sequence(*sequence)
    for r in range(N_REPLICATES):
        x = _design(cells[:, r], actions[:, r], z[:, r], with_context, with_prompts)
        y = rewards[:, r]
        p = x.shape[1]
        prior_mean = np.zeros(p)
        prior_mean[-1] = 77.0
        prior_precision = np.diag(np.r_[np.ones(p - 1), 0.01])
        weight = 1.0 if noise == "unknown" else 1.0 / 1.0  # the paper's fixed noise variance is 1
        precision = prior_precision + weight * x.T @ x
        mean = np.linalg.solve(precision, prior_precision @ prior_mean + weight * x.T @ y)
        np.testing.assert_allclose(agent.stage2_.precision_[r], precision, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(agent.stage2_.mean_[r], mean, rtol=1e-9, atol=1e-9)
        if noise == "unknown":
            shape = 1.0 + len(y) / 2
            scale = 1.0 + 0.5 * (
                y @ y + prior_mean @ prior_precision @ prior_mean - mean @ precision @ mean
            )
            np.testing.assert_allclose(agent.stage2_.shape_[r], shape)
            np.testing.assert_allclose(agent.stage2_.scale_[r], scale, rtol=1e-7)


def test_fo_stage1_is_the_normal_inverse_wishart_batch_update(sequence):
    cells, actions, z, _ = sequence
    agent = FoGAMBITTS(N_ARMS, N_DIMS, N_CELLS).reset(N_REPLICATES)
    agent.update_sequence(*sequence)
    stage1 = agent.stage1_
    for r in range(N_REPLICATES):
        for cell in range(N_CELLS):
            for arm in range(N_ARMS):
                zs = z[(cells[:, r] == cell) & (actions[:, r] == arm), r]
                n = len(zs)
                zbar = zs.mean(axis=0) if n else np.zeros(N_DIMS)
                scatter = (zs - zbar).T @ (zs - zbar)
                # Prior: mean 0, kappa 1, dof = n_dims, scale I (the paper's).
                kappa, dof = 1 + n, N_DIMS + n
                mean = n * zbar / kappa
                psi = np.eye(N_DIMS) + scatter + (1 * n / kappa) * np.outer(zbar, zbar)
                assert stage1.kappa_[r, cell, arm] == kappa
                assert stage1.dof_[r, cell, arm] == dof
                np.testing.assert_allclose(stage1.mean_[r, cell, arm], mean, atol=1e-12)
                np.testing.assert_allclose(
                    stage1.scale_matrix_[r, cell, arm], psi, rtol=1e-10, atol=1e-12
                )


def test_stage2_stays_exact_over_100_000_rounds_with_20_dims(rng):
    """Precision-form Cholesky updates neither drift nor lose definiteness at 10^5 rounds."""
    n_dims, n_rounds, n_replicates = 20, 100_000, 2
    beta = rng.normal(size=n_dims)
    agent = PoGAMBITTS(2, n_dims, N_CELLS).reset(
        n_replicates, generator_means=np.zeros((N_CELLS, 2, n_dims))
    )
    z = rng.normal(size=(n_rounds, n_replicates, n_dims)) * np.geomspace(0.05, 3, n_dims)
    y = 80 + z @ beta + rng.normal(size=(n_rounds, n_replicates))
    features = np.concatenate([z, np.ones((n_rounds, n_replicates, 1))], axis=2)
    for t in range(n_rounds):  # the stage-2 update itself, without the agent's input checks
        agent.stage2_.update(features[t], y[t])
    for r in range(n_replicates):
        x = np.c_[z[:, r], np.ones(n_rounds)]
        prior_precision = np.diag(np.r_[np.ones(n_dims), 0.01])
        precision = prior_precision + x.T @ x
        mean = np.linalg.solve(
            precision, x.T @ y[:, r] + prior_precision @ np.r_[np.zeros(n_dims), 77]
        )
        np.testing.assert_allclose(agent.stage2_.precision_[r], precision, rtol=1e-9)
        np.testing.assert_allclose(agent.stage2_.mean_[r], mean, rtol=1e-7, atol=1e-8)
        # The truth is recovered (standard errors <= 1 / (0.05 sqrt(1e5)) = 0.06 at the smallest
        # scale).
        np.testing.assert_allclose(agent.stage2_.mean_[r][:n_dims], beta, atol=0.3)
    assert np.all(np.linalg.eigvalsh(agent.stage2_.precision_) > 0)
    draws = agent.stage2_.sample(np.random.default_rng(0))
    assert np.all(np.isfinite(draws))
