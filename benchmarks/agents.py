"""Replicate-steps per second and peak memory of the exact agents in the simulator.

Workload (the Foundation issue's): linear_3d world at sd_0 on the stand-in database, K=5 prompts,
3 modelled dims, R=250 replicates, T=1000 rounds, one agent at a time. Targets on a 2-core
machine: >= 1,000,000 replicate-steps/s for StdTS and poGAMBITTS, >= 200,000 for foGAMBITTS.

Run: ``python benchmarks/agents.py [--replicates R] [--horizon T] [--repeats N]``
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from gambitts.agents.registry import agent_spec
from gambitts.agents.spec import AgentSpec
from gambitts.design.standin import make_standin_database
from gambitts.models.random_streams import ReplicateRandom
from gambitts.sims.generator_samples import generator_means
from gambitts.sims.loop import simulate
from gambitts.sims.runner import replicate_seeds
from gambitts.sims.worlds.outcomes import load_outcome_model
from gambitts.sims.worlds.world import GeneratorWorld, select_prompts

DIMS = ("optimism", "formality", "severity")
AGENTS = (
    agent_spec("StdTS"),
    agent_spec("poGAMBITTS", dims=DIMS, draws_per_cell=500),
    agent_spec("foGAMBITTS", dims=DIMS),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=250)
    parser.add_argument("--horizon", type=int, default=1000)
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs per agent; the best is reported"
    )
    args = parser.parse_args()

    db = make_standin_database()
    outcome = load_outcome_model("linear_3d")
    arms = select_prompts(db, outcome, 5)
    world = GeneratorWorld(db, outcome, arms, outcome.noise_grid(db)[0])
    replicates = range(args.replicates)
    randomness = world.draw_randomness(replicate_seeds(0, replicates, 0), args.horizon)
    steps = args.replicates * args.horizon
    print(f"K=5, dims=3, R={args.replicates}, T={args.horizon}: best of {args.repeats} runs")
    print(f"{'agent':<12}{'replicate-steps/s':>20}{'seconds':>10}{'peak traced MB':>16}")
    for spec in AGENTS:
        dim_index = db.dim_index(spec.modelled_dims)
        means = (
            generator_means(
                db, arms, dim_index, spec.draws_wanted, replicate_seeds(0, replicates, 1)
            )
            if spec.kind == "poGAMBITTS"
            else None
        )

        def run(spec: AgentSpec = spec, dim_index: np.ndarray = dim_index, means=means) -> None:
            rng = ReplicateRandom(replicate_seeds(0, replicates, 2))
            simulate(
                world,
                spec.build(5, db.contexts),
                randomness,
                rng,
                dim_index=dim_index,
                generator_means=means,
            )

        best = min(_timed(run) for _ in range(args.repeats))
        tracemalloc.start()
        run()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{spec.label:<12}{steps / best:>20,.0f}{best:>10.2f}{peak / 2**20:>16.1f}")
    print(f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MB")


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
