"""Speed and regret of ens-poGAMBITTS (default and paper presets) against StdTS and poGAMBITTS.

Speed: replicate-steps per second of the whole simulation (select + update + world) for
ens-poGAMBITTS in the linear_3d world at sd_0 on the stand-in database, K=5 prompts, 3 modelled
dims, R=250 replicates, 500 generator draws per cell. Targets on 2 cores: >= 2,000 with the
default preset, >= 500 with the paper preset.

Science: mean cumulative regret at T=1000 at sd_0 in linear_3d and nonlinear_3d for StdTS,
poGAMBITTS and ens-poGAMBITTS (default; paper with a fresh optimizer every round as the paper's
code; paper with persistent Adam), and the flattening check: regret added in the last 200
rounds against the first 200 rounds after warm-up.

Run: ``python benchmarks/ensemble.py [--speed-replicates 250] [--speed-horizon 300]
[--replicates 100] [--horizon 1000] [--skip-speed] [--skip-science]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from gambitts.agents import Agent
from gambitts.agents.ensemble import EnsembleConfig, EnsPoGAMBITTS
from gambitts.agents.registry import agent_spec
from gambitts.design.contexts import PAPER_CONTEXTS
from gambitts.design.promptdb import PromptDatabase
from gambitts.design.standin import make_standin_database
from gambitts.models.random_streams import ReplicateRandom
from gambitts.sims.generator_samples import generator_draws, generator_means
from gambitts.sims.loop import simulate
from gambitts.sims.runner import replicate_seeds
from gambitts.sims.worlds.nonlinear import load_nonlinear_outcome
from gambitts.sims.worlds.outcomes import OutcomeModel, load_outcome_model
from gambitts.sims.worlds.world import GeneratorWorld, select_prompts

DIMS = ("optimism", "formality", "severity")
N_ARMS, DRAWS_PER_CELL = 5, 500


def _outcome(name: str) -> OutcomeModel:
    return load_nonlinear_outcome(name) if name == "nonlinear_3d" else load_outcome_model(name)


def _agents(noise_sd: float) -> dict[str, Callable[[], Agent]]:
    def ensemble(config: EnsembleConfig) -> Callable[[], Agent]:
        return lambda: EnsPoGAMBITTS(N_ARMS, len(DIMS), PAPER_CONTEXTS.n_cells, config=config)

    return {
        "StdTS": lambda: agent_spec("StdTS").build(N_ARMS, PAPER_CONTEXTS),
        "poGAMBITTS": lambda: agent_spec("poGAMBITTS", dims=DIMS).build(N_ARMS, PAPER_CONTEXTS),
        "ens (default)": ensemble(EnsembleConfig()),
        "ens (paper, fresh Adam)": ensemble(EnsembleConfig.paper(noise_sd)),
        "ens (paper, kept Adam)": ensemble(
            EnsembleConfig.paper(noise_sd, reset_optimizer_every_round=False)
        ),
    }


def _run(
    db: PromptDatabase, outcome_name: str, agent: Agent, n_replicates: int, horizon: int
) -> tuple[np.ndarray, float]:
    """Return the regret traces (replicate, t) of ``agent`` at sd_0, and the seconds taken."""
    outcome = _outcome(outcome_name)
    arms = select_prompts(db, outcome, N_ARMS)
    world = GeneratorWorld(db, outcome, arms, outcome.noise_grid(db)[0])
    replicates = range(n_replicates)
    randomness = world.draw_randomness(replicate_seeds(0, replicates, 0), horizon)
    dim_index = db.dim_index(DIMS)
    seeds = replicate_seeds(0, replicates, 1, DRAWS_PER_CELL)
    means = draws = None
    if agent.uses_generator:
        means = generator_means(db, arms, dim_index, DRAWS_PER_CELL, seeds)
    if agent.uses_generator_draws:
        draws = generator_draws(db, arms, dim_index, DRAWS_PER_CELL, seeds)
    rng = ReplicateRandom(replicate_seeds(0, replicates, 2))
    start = time.perf_counter()
    trace = simulate(
        world,
        agent,
        randomness,
        rng,
        dim_index=dim_index,
        generator_means=means,
        generator_draws=draws,
    )
    return trace.regret, time.perf_counter() - start


def speed(db: PromptDatabase, n_replicates: int, horizon: int) -> None:
    """Print replicate-steps per second of the two ensemble presets."""
    noise_sd = load_outcome_model("linear_3d").noise_grid(db)[0]
    agents = _agents(noise_sd)
    for n_replicates_warm in (4, 32):  # compile (or load) the serial and threaded kernels
        _run(
            db, "linear_3d", EnsPoGAMBITTS(N_ARMS, 3, PAPER_CONTEXTS.n_cells), n_replicates_warm, 12
        )
    print(f"\nspeed: linear_3d sd_0, K={N_ARMS}, dims=3, R={n_replicates}, T={horizon}")
    print(f"{'agent':<26}{'replicate-steps/s':>20}{'seconds':>10}")
    for label in ("ens (default)", "ens (paper, fresh Adam)"):
        _, seconds = _run(db, "linear_3d", agents[label](), n_replicates, horizon)
        print(f"{label:<26}{n_replicates * horizon / seconds:>20,.0f}{seconds:>10.1f}")


def science(db: PromptDatabase, n_replicates: int, horizon: int) -> None:
    """Print mean cumulative regret and the flattening check in both worlds at sd_0."""
    print(f"\nregret at sd_0, R={n_replicates}, T={horizon} (mean +- standard error)")
    header = f"{'world':<14}{'agent':<26}{'regret':>16}{'first 200':>11}{'last 200':>10}"
    print(header + f"{'seconds':>9}")
    for world_name in ("linear_3d", "nonlinear_3d"):
        noise_sd = _outcome(world_name).noise_grid(db)[0]
        for label, make in _agents(noise_sd).items():
            agent = make()
            regret, seconds = _run(db, world_name, agent, n_replicates, horizon)
            warmup = agent.config.warmup_rounds if isinstance(agent, EnsPoGAMBITTS) else 0
            total = regret.sum(axis=1)
            first = regret[:, warmup : warmup + 200].sum(axis=1).mean()
            last = regret[:, -200:].sum(axis=1).mean()
            error = total.std(ddof=1) / np.sqrt(len(total))
            cell = f"{total.mean():8.1f} +- {error:4.1f}"
            print(
                f"{world_name:<14}{label:<26}{cell:>16}{first:>11.1f}{last:>10.1f}{seconds:>9.0f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed-replicates", type=int, default=250)
    parser.add_argument("--speed-horizon", type=int, default=300)
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--horizon", type=int, default=1000)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-science", action="store_true")
    args = parser.parse_args()
    db = make_standin_database()
    if not args.skip_speed:
        speed(db, args.speed_replicates, args.speed_horizon)
    if not args.skip_science:
        science(db, args.replicates, args.horizon)


if __name__ == "__main__":
    main()
