"""A block's results: its configurations' traces assembled into one self-describing Dataset.

Also the fit diagnostics of its custom agents, as one Dataset aligned with the traces.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import xarray as xr

from gambitts.design.promptdb import PromptDatabase
from gambitts.sims.experiments import ExperimentSpec, RunConfig

#: Prefix of the fit-diagnostics variables in a configuration's results.
FIT_PREFIX = "fit_"


def experiment_dataset(
    spec: ExperimentSpec,
    results: Mapping[RunConfig, xr.Dataset],
    *,
    seed: int,
    db: PromptDatabase,
) -> xr.Dataset:
    """Assemble the configurations of an experiment block into one self-describing Dataset.

    Dims: the block's setting dimension (named after what it varies, e.g. ``noise_level``;
    ``setting`` if nothing varies), ``agent``, ``replicate``, ``t``, and ``arm``, ``cell``.
    Per-setting world facts (``optimal_action``, ``expected_reward``, ``arm_prompt``,
    ``noise_sd``) carry the setting dimension. The resolved definition, seed and package
    version are in ``attrs``.
    """
    from gambitts import __version__

    settings = spec.settings()
    labels = [agent.label for agent in spec.agents]
    dim = spec.dim_name
    per_setting = []
    for setting in settings:
        by_agent = [_without_fits(results[config]) for config in setting.configs]
        agents = xr.concat(
            [r[["regret", "action", "reward"]] for r in by_agent], dim="agent", join="exact"
        )
        world = by_agent[0].drop_vars(["regret", "action", "reward"])
        per_setting.append(xr.merge([agents, world], join="outer"))
    ds = xr.concat(
        per_setting,
        dim=dim,
        data_vars="all",
        coords="minimal",
        join="outer",
        compat="override",
        fill_value=_FILL,
    )
    ds = ds.assign_coords({dim: [s.label for s in settings], "agent": labels})
    if (
        dim in ds["context_cell"].dims
    ):  # the same in every setting: contexts depend on the seed only
        ds["context_cell"] = ds["context_cell"].isel({dim: 0}, drop=True)
    ds.attrs = {
        "experiment": spec.name,
        "description": spec.description,
        "varies": dim,
        "config": json.dumps(spec.to_dict(), default=list),
        "seed": seed,
        "gambitts_version": __version__,
        "prompt_db": json.dumps(db.attrs, default=str),
    }
    return ds


def experiment_fit_diagnostics(
    spec: ExperimentSpec, results: Mapping[RunConfig, xr.Dataset]
) -> xr.Dataset | None:
    """Collect the fit diagnostics of an experiment's custom agents into one Dataset.

    Returns
    -------
    xarray.Dataset or None
        ``rhat_max``, ``ess_bulk_min``, ``ess_tail_min`` over ``(<setting dim>, agent, refit,
        replicate, variable)``; ``divergences`` and ``wall_time`` without ``variable``. All
        agents of the block are on ``agent``; entries are NaN (``divergences`` -1) where an
        agent has no fits, fewer refits or other variables. ``None`` if no agent of ``spec``
        refits a model.
    """
    dim = spec.dim_name
    per_setting, labels = [], []
    for setting in spec.settings():
        fits = {
            config.agent.label: _fits_only(results[config])
            for config in setting.configs
            if any(name.startswith(FIT_PREFIX) for name in results[config].data_vars)
        }
        if not fits:
            continue
        labels.append(setting.label)
        per_setting.append(
            xr.concat(
                list(fits.values()), dim="agent", join="outer", coords="different",
                compat="equals", fill_value={"divergences": -1},
            ).assign_coords(agent=list(fits))
        )  # fmt: skip
    if not per_setting:
        return None
    ds = xr.concat(per_setting, dim=dim, join="outer", fill_value={"divergences": -1})
    # Every agent of the block, so that the group aligns with the regret traces (NetCDF groups
    # read as an xarray DataTree must share their parents' dims); agents without fits are NaN.
    ds = ds.reindex(agent=[agent.label for agent in spec.agents], fill_value={"divergences": -1})
    ds = ds.assign_coords({dim: labels})
    for variable in ds.variables.values():
        variable.encoding = {}  # the per-configuration files' integer encodings cannot hold NaN
    ds.attrs = {
        "experiment": spec.name,
        "description": "convergence diagnostics of every refit of every custom agent "
        "(see gambitts.models.diagnostics)",
    }
    return ds


def _fits_only(ds: xr.Dataset) -> xr.Dataset:
    names = [name for name in ds.data_vars if name.startswith(FIT_PREFIX)]
    fits = ds[names].rename({name: name[len(FIT_PREFIX) :] for name in names})
    return fits.drop_vars(
        [c for c in fits.coords if c not in ("refit", "refit_round", "replicate", "variable")]
    )


def _without_fits(ds: xr.Dataset) -> xr.Dataset:
    names = [name for name in ds.data_vars if name.startswith(FIT_PREFIX)]
    if not names:
        return ds
    ds = ds.drop_vars(names)
    return ds.drop_vars([c for c in ("refit", "refit_round", "variable") if c in ds.coords])


_FILL = {
    "regret": np.float32(np.nan),
    "reward": np.float32(np.nan),
    "action": np.int16(-1),
    "optimal_action": np.int16(-1),
    "expected_reward": np.nan,
    "arm_prompt": "",
}
