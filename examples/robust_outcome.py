"""Swap a Student-t outcome model into poGAMBITTS and compare regret with the built-in one.

The built-in stage 2 is a Bayesian linear regression with normal noise
(:func:`gambitts.models.pymc_models.build_outcome_model`). Here we write our own builder with
Student-t noise (robust to outlying rewards), hand it to
:class:`gambitts.agents.custom.CustomPoGAMBITTS`, run both agents in the same small linear 3-D
world (``linear_3d`` on the stand-in generator database, all replicates sharing the world's
random numbers), and print their cumulative regret and the custom fits' diagnostics.

Run ``python examples/robust_outcome.py`` (a few minutes) or ``main(fast=True)`` (seconds).
"""

from __future__ import annotations

import functools

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from gambitts.agents import PoGAMBITTS
from gambitts.agents.custom import CustomPoGAMBITTS, nutpie_available
from gambitts.design.standin import make_standin_database
from gambitts.models.diagnostics import unhealthy
from gambitts.models.priors import LinearPrior
from gambitts.models.random_streams import ReplicateRandom
from gambitts.sims.generator_samples import generator_means
from gambitts.sims.loop import simulate
from gambitts.sims.runner import replicate_seeds
from gambitts.sims.worlds.outcomes import load_outcome_model
from gambitts.sims.worlds.world import GeneratorWorld, select_prompts

DIMS = ("optimism", "formality", "severity")
PRIOR = LinearPrior()  # the paper's: coefficients N(0, 1), intercept N(77, 10^2)


def build_student_t_outcome_model(
    features: np.ndarray, rewards: np.ndarray, *, prior: LinearPrior = PRIOR
) -> pm.Model:
    """Linear outcome with Student-t noise: the builder contract of CustomPoGAMBITTS.

    ``pm.Data`` ``features`` (obs, feature) and ``rewards`` (obs); ``expected_reward`` is
    ``features @ beta`` (the intercept is the last feature); the noise has unknown scale and
    degrees of freedom.
    """
    n_features = features.shape[1]
    mean = np.full(n_features, prior.coef_mean)
    mean[-1] = prior.intercept_mean
    sd = np.full(n_features, prior.coef_precision**-0.5)
    sd[-1] = prior.intercept_precision**-0.5
    with pm.Model() as model:
        x = pm.Data("features", features, dims=("obs", "feature"))
        y = pm.Data("rewards", rewards, dims="obs")
        beta = pm.Normal("beta", mu=mean, sigma=sd, dims="feature")
        scale = pm.HalfNormal("scale", sigma=2.0)
        nu = pm.Gamma("nu", alpha=2.0, beta=0.1)
        expected = pm.Deterministic("expected_reward", pt.dot(x, beta), dims="obs")
        pm.StudentT("y", nu=nu, mu=expected, sigma=scale, observed=y, dims="obs")
    return model


def main(fast: bool = False) -> dict[str, float]:
    """Run both agents and return their mean final cumulative regret."""
    n_replicates, horizon = (2, 40) if fast else (4, 300)
    db = make_standin_database(n_draws=50 if fast else 950)
    outcome = load_outcome_model("linear_3d")
    arms = select_prompts(db, outcome, 3)
    world = GeneratorWorld(db, outcome, arms, outcome.noise_grid(db)[2])
    seed, replicates = 0, range(n_replicates)
    randomness = world.draw_randomness(replicate_seeds(seed, replicates, 0), horizon)
    dim_index = db.dim_index(DIMS)
    means = generator_means(
        db, world.arm_prompts, dim_index, None, replicate_seeds(seed, replicates, 1)
    )
    method = "nuts" if nutpie_available() else "nuts-pymc"
    agents = {
        "poGAMBITTS (exact, normal noise)": PoGAMBITTS(3, len(DIMS), db.n_cells, prior=PRIOR),
        f"custom Student-t ({method})": CustomPoGAMBITTS(
            3,
            len(DIMS),
            db.n_cells,
            builder=functools.partial(build_student_t_outcome_model, prior=PRIOR),
            method=method,
            refit_every=20 if fast else 25,
            draws=100 if fast else 500,
            tune=100 if fast else 500,
            warn_unhealthy=False,
        ),
    }
    results = {}
    for label, agent in agents.items():
        rng = ReplicateRandom(replicate_seeds(seed, replicates, 2, 7))
        trace = simulate(world, agent, randomness, rng, dim_index=dim_index, generator_means=means)
        results[label] = float(trace.regret.sum(axis=1).mean())
        print(f"{label:40s} mean cumulative regret at T={horizon}: {results[label]:8.2f}")
        if isinstance(agent, CustomPoGAMBITTS):
            diagnostics = agent.diagnostics_
            print(diagnostics[["rhat_max", "ess_bulk_min", "wall_time"]].max("replicate"))
            print("health:", unhealthy(diagnostics) or "all refits look healthy")
    return results


if __name__ == "__main__":
    main()
