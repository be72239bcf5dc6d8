"""Inspect and compare agents' posteriors with ArviZ (a percent-format notebook script)."""

# %% [markdown]
# # Inspecting agents' posteriors with ArviZ
#
# Run the paper's `var_decomp_linear` block (StdTS, poGAMBITTS, ens-poGAMBITTS and foGAMBITTS
# in the linear 3-D world), keep replicate 0's final posteriors, and look at them with ArviZ.
# A percent-format script: open it in Jupyter (jupytext) or VS Code, or run it as is.

# %%
from __future__ import annotations

import arviz as az
import pandas as pd

import gambitts


# %%
def main(fast: bool = False) -> dict[str, pd.DataFrame]:
    """Run the block and return the ArviZ summary of each agent's posterior at sd_0."""
    replicates, horizon = (2, 60) if fast else (4, 400)
    results = gambitts.simulate(
        "var_decomp_linear", replicates=replicates, horizon=horizon, save_posteriors=[0]
    )
    print(results.summary().to_string())
    summaries = {}
    for agent in ("poGAMBITTS", "foGAMBITTS", "StdTS"):
        idata = results.posterior(agent, setting="sd_0", replicate=0)
        summaries[agent] = az.summary(idata, kind="stats")
        print(f"\n{agent}: posterior after {horizon} rounds (replicate 0)")
        print(summaries[agent].head(12).to_string())
    return summaries


# %% [markdown]
# `az.plot_posterior(idata, var_names=["beta"])` draws poGAMBITTS' stage-2 coefficients, one
# panel per named feature (`optimism`, `formality`, `severity`, `intercept`);
# `az.plot_forest([po, fo], model_names=["po", "fo"], var_names=["beta"])` compares two agents.

# %%
if __name__ == "__main__":
    main()
