"""Inspect agents' posteriors with ArviZ (a percent-format notebook script)."""

# %% [markdown]
# # Inspecting agents' posteriors with ArviZ
#
# Run poGAMBITTS and StdTS for a few hundred rounds in the linear 3-D world, turn their
# current posteriors into `arviz.InferenceData` with named coords, and summarise them.
# A percent-format script: open it in Jupyter (jupytext) or VS Code, or run it as is.

# %%
from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd

from gambitts.agents import PoGAMBITTS, StdTS
from gambitts.design.contexts import PAPER_CONTEXTS
from gambitts.design.standin import make_standin_database
from gambitts.models.inference_data import posterior_inference_data
from gambitts.models.random_streams import ReplicateRandom
from gambitts.sims.generator_samples import generator_means
from gambitts.sims.loop import simulate
from gambitts.sims.runner import replicate_seeds
from gambitts.sims.worlds.outcomes import load_outcome_model
from gambitts.sims.worlds.world import GeneratorWorld, select_prompts

DIMS = ("optimism", "formality", "severity")


# %%
def main(fast: bool = False) -> dict[str, pd.DataFrame]:
    """Run the agents and return the ArviZ summary of each one's posterior."""
    horizon, n_replicates = (60, 2) if fast else (400, 4)
    db = make_standin_database(n_draws=50 if fast else 950)
    outcome = load_outcome_model("linear_3d")
    arms = select_prompts(db, outcome, 3)
    world = GeneratorWorld(db, outcome, arms, outcome.noise_grid(db)[0])
    replicates = range(n_replicates)
    randomness = world.draw_randomness(replicate_seeds(0, replicates, 0), horizon)
    dim_index = db.dim_index(DIMS)
    means = generator_means(
        db, world.arm_prompts, dim_index, None, replicate_seeds(0, replicates, 1)
    )
    prompt_names = [db.prompts[p] for p in world.arm_prompts]
    summaries = {}
    for agent in (PoGAMBITTS(3, len(DIMS), db.n_cells), StdTS(3, db.n_cells, contextual=True)):
        rng = ReplicateRandom(replicate_seeds(0, replicates, 2, 1))
        simulate(world, agent, randomness, rng, dim_index=dim_index, generator_means=means)
        idata = posterior_inference_data(
            agent,
            replicate=0,
            n_draws=1000,
            rng=np.random.default_rng(0),
            dim_names=DIMS,
            prompt_names=prompt_names,
            cell_names=PAPER_CONTEXTS.cell_labels,
        )
        summaries[agent.name] = az.summary(idata, kind="stats")
        print(f"\n{agent.name}: posterior after {horizon} rounds (replicate 0)")
        print(summaries[agent.name].head(12).to_string())
    return summaries


# %% [markdown]
# `az.plot_posterior(idata, var_names=["beta"])` draws the stage-2 coefficients, one panel per
# named feature (`optimism`, `formality`, `severity`, `intercept`).

# %%
if __name__ == "__main__":
    main()
