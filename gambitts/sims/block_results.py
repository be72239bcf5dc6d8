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
    ``setting`` if nothing varies) or, for a grid, its two axes in grid order, then ``agent``,
    ``replicate``, ``t``, and ``arm``, ``cell``. Per-setting world facts (``optimal_action``,
    ``expected_reward``, ``arm_prompt``, ``noise_sd``) carry every setting dimension (a grid's
    both, as a one-axis block's carry its one). Settings with fewer prompts are filled on
    ``arm`` (actions -1, rewards NaN, prompts ""). The resolved definition, seed and package
    version are in ``attrs``; ``attrs["varies"]`` names the setting dimensions, comma-separated
    for a grid (``"noise_level,n_prompts"``). ``context_cell`` is over ``(replicate, t)``, and
    also over ``context_probabilities`` when a block varies it.
    """
    from gambitts import __version__

    labels = [agent.label for agent in spec.agents]
    dims = spec.setting_dims
    per_setting = []
    for setting in spec.settings():
        by_agent = [_without_fits(results[config]) for config in setting.configs]
        agents = xr.concat(
            [r[["regret", "action", "reward"]] for r in by_agent], dim="agent", join="exact"
        )
        world = by_agent[0].drop_vars(["regret", "action", "reward"])
        coords = tuple(setting.coords[dim] for dim in dims)
        per_setting.append((coords, xr.merge([agents, world], join="outer")))
    ds = _concat_settings(
        dims,
        per_setting,
        data_vars="all",
        coords="minimal",
        join="outer",
        compat="override",
        fill_value=_FILL,
    )
    ds = ds.assign_coords(agent=labels)
    ds["context_cell"] = _without_repeats(ds["context_cell"], dims)
    ds.attrs = {
        "experiment": spec.name,
        "description": spec.description,
        "varies": spec.dim_name,
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
        ``rhat_max``, ``ess_bulk_min``, ``ess_tail_min`` over ``(<setting dims>, agent, refit,
        replicate, variable)``; ``divergences`` and ``wall_time`` without ``variable``. All
        agents of the block are on ``agent``; entries are NaN (``divergences`` -1) where an
        agent has no fits, fewer refits or other variables. ``None`` if no agent of ``spec``
        refits a model.
    """
    dims = spec.setting_dims
    per_setting = []
    for setting in spec.settings():
        fits = {
            config.agent.label: _fits_only(results[config])
            for config in setting.configs
            if any(name.startswith(FIT_PREFIX) for name in results[config].data_vars)
        }
        if not fits:
            continue
        per_setting.append(
            (
                tuple(setting.coords[dim] for dim in dims),
                xr.concat(
                    list(fits.values()), dim="agent", join="outer", coords="different",
                    compat="equals", fill_value={"divergences": -1},
                ).assign_coords(agent=list(fits)),
            )
        )  # fmt: skip
    if not per_setting:
        return None
    ds = _concat_settings(dims, per_setting, join="outer", fill_value={"divergences": -1})
    # Every agent of the block, so that the group aligns with the regret traces (NetCDF groups
    # read as an xarray DataTree must share their parents' dims); agents without fits are NaN.
    ds = ds.reindex(agent=[agent.label for agent in spec.agents], fill_value={"divergences": -1})
    for variable in ds.variables.values():
        variable.encoding = {}  # the per-configuration files' integer encodings cannot hold NaN
    ds.attrs = {
        "experiment": spec.name,
        "description": "convergence diagnostics of every refit of every custom agent "
        "(see gambitts.models.diagnostics)",
    }
    return ds


def _concat_settings(
    dims: list[str], parts: list[tuple[tuple[str, ...], xr.Dataset]], **options
) -> xr.Dataset:
    """Concatenate per-setting Datasets along the setting dims, labelled by their coordinates.

    ``parts`` pairs each setting's coordinate labels (one per dim of ``dims``) with its Dataset,
    in settings order (the first dim varying slowest). A grid is concatenated along its second
    axis within each value of the first, then along the first; ``options`` go to every
    :func:`xarray.concat` (with ``join="outer"``, a combination missing from ``parts`` is filled).
    """
    if len(dims) == 1:
        ds = xr.concat([part for _, part in parts], dim=dims[0], **options)
        return ds.assign_coords({dims[0]: [labels[0] for labels, _ in parts]})
    rows: dict[str, list[tuple[tuple[str, ...], xr.Dataset]]] = {}
    for labels, part in parts:
        rows.setdefault(labels[0], []).append((labels[1:], part))
    return _concat_settings(
        dims[:1],
        [((label,), _concat_settings(dims[1:], row, **options)) for label, row in rows.items()],
        **options,
    )


def _without_repeats(cells: xr.DataArray, dims: list[str]) -> xr.DataArray:
    """Drop each setting dim along which ``cells`` is the same in every setting.

    Contexts depend on the seed and the arrival probabilities only, so they repeat across
    settings unless a block varies ``context_probabilities``; that dim is kept.
    """
    for dim in dims:
        if dim in cells.dims:
            first = cells.isel({dim: 0}, drop=True)
            if bool((cells == first).all()):
                cells = first
    return cells


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
