"""Cost of the custom-model path: one refit and one Thompson step of the custom agents.

Workload (the issue's): the built-in linear stage 2 as a custom model, 1,000 observations,
3 modelled dims (4 coefficients with the intercept), NUTS with 2 chains of 500 + 500 draws, 5
prompts, 12 cells. Reported: compile (first reset), a cold refit (no warm start), a warm refit
(started at the previous fit's draws), the expected-reward table the refit ends with, and one
Thompson step (``select``) for 1 and for ``--replicates`` replicates, of CustomPoGAMBITTS (a
table lookup) and of CustomFoGAMBITTS (exact stage 1; one compiled PyTensor call scores all
replicates).

Run: ``python benchmarks/custom.py [--method nuts|nuts-pymc|laplace|advi] [--repeats N]``
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np

from gambitts.agents.custom import METHODS, CustomPoGAMBITTS
from gambitts.agents.custom_fo import CustomFoGAMBITTS
from gambitts.models.priors import LinearPrior
from gambitts.models.pymc_models import build_outcome_model

N_ARMS, N_CELLS, N_DIMS, N_OBSERVATIONS = 5, 12, 3, 1000


def _data(n_replicates: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(n_replicates, N_CELLS, N_ARMS, N_DIMS))
    cells = rng.integers(0, N_CELLS, (N_OBSERVATIONS, n_replicates))
    actions = rng.integers(0, N_ARMS, (N_OBSERVATIONS, n_replicates))
    z = rng.normal(size=(N_OBSERVATIONS, n_replicates, N_DIMS))
    rewards = (
        80 + z @ np.array([0.35, -0.5, -0.16]) + rng.normal(size=(N_OBSERVATIONS, n_replicates))
    )
    return cells, actions, z, rewards, means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=METHODS, default="nuts")
    parser.add_argument("--replicates", type=int, default=100, help="replicates for select")
    parser.add_argument("--repeats", type=int, default=3, help="timed refits; the best is shown")
    args = parser.parse_args()

    cells, actions, z, rewards, means = _data(1)
    agent = CustomPoGAMBITTS(
        N_ARMS,
        N_DIMS,
        N_CELLS,
        builder=functools.partial(build_outcome_model, prior=LinearPrior()),
        method=args.method,
        refit_every=N_OBSERVATIONS + 1,  # refit by hand below
        warn_unhealthy=False,
    )
    start = time.perf_counter()
    agent.reset(1, generator_means=means)
    compile_seconds = time.perf_counter() - start
    agent.update_sequence(cells, actions, z, rewards)  # 1,000 observations, no refit yet

    cold, warm = [], []
    for _ in range(args.repeats):
        agent._stage2.forget_warm_starts()
        start = time.perf_counter()
        agent.refit()
        cold.append(time.perf_counter() - start)
        start = time.perf_counter()
        agent.refit()
        warm.append(time.perf_counter() - start)
    fit_only = min(agent.diagnostics_["wall_time"].values.ravel())
    start = time.perf_counter()
    for _ in range(10):
        agent._arm_reward(0)
    table_seconds = (time.perf_counter() - start) / 10

    print(
        f"method {args.method}, {N_OBSERVATIONS} observations, {N_DIMS} dims, "
        f"{agent.chains} chains x ({agent.tune} tune + {agent.draws} draws)"
    )
    print(f"  compile (first reset):              {compile_seconds:8.2f} s")
    print(f"  refit, cold start (best of {args.repeats}):      {min(cold):8.3f} s")
    print(f"  refit, warm start (best of {args.repeats}):      {min(warm):8.3f} s")
    print(f"    of which the sampler alone:       {fit_only:8.3f} s")
    print(
        f"    of which the expected-reward table ({agent.n_posterior_draws} draws x "
        f"{N_CELLS * N_ARMS} cells x arms): {table_seconds * 1e3:.1f} ms"
    )
    diagnostics = agent.diagnostics_.isel(refit=-1, replicate=0)
    print(
        f"  last fit: R-hat {diagnostics['rhat_max'].item():.3f}, "
        f"bulk ESS {diagnostics['ess_bulk_min'].item():.0f}, "
        f"divergences {diagnostics['divergences'].item()}"
    )

    for agent_class in (CustomPoGAMBITTS, CustomFoGAMBITTS):
        for n_replicates in (1, args.replicates):
            *_, means = _data(n_replicates)
            stepper = agent_class(
                N_ARMS, N_DIMS, N_CELLS, builder=agent.builder, method="nuts-pymc"
            ).reset(n_replicates, generator_means=means)  # prior draws: same shapes as a fit
            rng = np.random.default_rng(1)
            step_cells = rng.integers(0, N_CELLS, n_replicates)
            stepper.select(step_cells, rng)
            n_steps = 2000
            start = time.perf_counter()
            for _ in range(n_steps):
                stepper.select(step_cells, rng)
            per_step = (time.perf_counter() - start) / n_steps
            print(
                f"  {stepper.name} step (select), {n_replicates:4d} replicates: "
                f"{per_step * 1e6:8.1f} us ({n_replicates / per_step:,.0f} replicate-steps/s)"
            )


if __name__ == "__main__":
    main()
