"""Replaying a configuration's replicates to recover their final posteriors.

Trajectories depend only on each replicate's seed, so replaying a few replicates ends exactly
where the full run did; results files need not store every posterior.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from gambitts.design.promptdb import PromptDatabase
from gambitts.sims.experiments import RunConfig
from gambitts.sims.runner import prepare_run


def final_posteriors(
    config: RunConfig, db: PromptDatabase, *, seed: int, replicates: Sequence[int]
) -> dict[int, xr.Dataset]:
    """Replay a configuration for a few replicates and return their final posteriors.

    Trajectories depend only on each replicate's seed, so the replay ends where the full run
    did. Returns the ``posterior`` group of
    :func:`gambitts.models.inference_data.posterior_inference_data` for each replicate, with
    coords named after the style dimensions, context features and prompts.
    """
    from gambitts.models.inference_data import posterior_inference_data

    replicates = np.asarray(replicates, dtype=np.int64)
    run = prepare_run(config, db, seed, replicates)
    run.simulate()
    prompts = [db.prompts[p] for p in run.world.arm_prompts]
    return {
        int(replicate): posterior_inference_data(
            run.agent,
            row,
            dim_names=list(config.agent.modelled_dims),
            prompt_names=prompts,
            cell_names=list(db.contexts.cell_labels),
            context_names=list(db.contexts.feature_names),
        ).posterior
        for row, replicate in enumerate(replicates)
    }
