"""Summaries of simulation results: final cumulative regret per setting and agent."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import xarray as xr

#: Gap between the columns of a plain-text table.
COLUMN_GAP = "  "
#: The dims of ``regret`` in a block results file, besides the setting dim.
BLOCK_DIMS = ("agent", "replicate", "t")


@dataclass(frozen=True)
class RegretSummary:
    """Final cumulative regret of one agent at one setting, over replicates.

    ``setting`` is the setting's label: its coordinate (``"sd_1"``) in a one-axis block, every
    axis's named in a grid's (``"noise_level=sd_1, n_prompts=8"``); ``coords`` maps each setting
    dim to the setting's coordinate. ``low`` and ``high`` bound the 95% interval of the mean;
    both are NaN when it is undefined (fewer than two replicates).
    """

    setting: str
    agent: str
    mean: float
    low: float
    high: float
    coords: tuple[tuple[str, str], ...] = ()

    @property
    def interval(self) -> str:
        """Return the 95% interval as ``"[low, high]"``, or ``"n/a"`` when it is undefined."""
        return interval_text(self.low, self.high)


def interval_text(low: float, high: float) -> str:
    """Return ``"[low, high]"`` to one decimal, or ``"n/a"`` if either bound is not finite."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "n/a"
    return f"[{low:.1f}, {high:.1f}]"


def setting_dims(ds: xr.Dataset) -> list[str]:
    """Return the names of a results Dataset's setting dimensions (what its block varies).

    One name for a block that varies one thing (or ``["setting"]`` if it varies nothing), the
    two axes of a grid block in grid order: the attribute ``varies``, split at commas.
    """
    return str(ds.attrs.get("varies", "setting")).split(",")


def setting_dim(ds: xr.Dataset) -> str:
    """Return the name of a one-axis results Dataset's setting dimension (what it varies).

    Raises
    ------
    ValueError
        For a grid block's results, which have two (see :func:`setting_dims`).
    """
    dims = setting_dims(ds)
    if len(dims) != 1:
        raise ValueError(
            f"the results vary {len(dims)} axes ({', '.join(dims)}); use `setting_dims`"
        )
    return dims[0]


def setting_coords(ds: xr.Dataset) -> list[dict[str, str]]:
    """Return every setting of a results Dataset as ``{setting dim: coordinate}``.

    In order, a grid's first axis varying slowest.
    """
    dims = setting_dims(ds)
    labels = [[str(label) for label in ds[dim].values] for dim in dims]
    return [dict(zip(dims, combination, strict=True)) for combination in itertools.product(*labels)]


def setting_label(coords: dict[str, str]) -> str:
    """Return a setting's label in tables: its coordinate, or ``dim=coord, ...`` for a grid's."""
    if len(coords) == 1:
        return next(iter(coords.values()))
    return ", ".join(f"{dim}={label}" for dim, label in coords.items())


def block_problem(ds: xr.Dataset) -> str | None:
    """Return why ``ds`` is not a block's results (``OUT/<block>.nc``), or None if it is one.

    A block's results have the attribute ``experiment`` and a variable ``regret`` whose dims are
    the setting dims (the attribute ``varies``: one, or a grid's two), ``agent``, ``replicate``
    and ``t``.

    Returns
    -------
    str or None
        What the data is, to follow "the file is", e.g.
        ``"not a gambitts results file (no `regret` variable)"``; None for a block's results.
    """
    if "regret" not in ds.data_vars:
        return "not a gambitts results file (no `regret` variable)"
    if is_configuration_results(ds):
        return (
            "a per-configuration file of a sweep (OUT/configs/*.nc), not a block's results "
            "(its `regret` has no `agent` or setting dim)"
        )
    dims, expected = ds["regret"].dims, (*setting_dims(ds), *BLOCK_DIMS)
    if set(dims) != set(expected) or len(dims) != len(expected):
        return f"not a gambitts results file (`regret` has dims {tuple(dims)}, not {expected})"
    if "experiment" not in ds.attrs:
        return "not a gambitts results file (no `experiment` attribute)"
    if 0 in ds["regret"].shape:
        return f"empty (`regret` has shape {dict(ds['regret'].sizes)})"
    for dim in ("agent", *setting_dims(ds)):
        labels = [str(label) for label in ds[dim].values] if dim in ds.coords else []
        if len(set(labels)) != ds.sizes[dim]:
            return f"damaged (its `{dim}` labels are missing or repeated)"
    try:
        regret = ds["regret"].values
    except Exception as error:  # noqa: BLE001 - any reader failure: the data is damaged
        return f"damaged: its `regret` cannot be read ({' '.join(str(error).split())[:100]})"
    if not np.isfinite(regret).any():
        return "damaged (its `regret` holds no finite value)"
    return None


def is_configuration_results(ds: xr.Dataset) -> bool:
    """Return whether ``ds`` holds one configuration's results (``OUT/configs/<key>.nc``)."""
    return "regret" in ds.data_vars and set(ds["regret"].dims) == {"replicate", "t"}


def _final_mean_and_half_width(regret: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Return the mean final cumulative regret over replicates and its 95% half-width.

    The half-width is NaN where fewer than two replicates have results.
    """
    final = regret.astype(np.float64).sum("t", min_count=1)
    n = final.count("replicate")
    half_width = 1.96 * final.std("replicate", ddof=1) / np.sqrt(n)
    return final.mean("replicate"), half_width.where(n >= 2)


def final_regret_summary(ds: xr.Dataset) -> list[RegretSummary]:
    """Return mean final cumulative regret per (setting, agent) with a 95% interval of the mean.

    A grid block has one setting per combination of its axes (the first varying slowest). The
    interval's bounds are NaN for a cell with fewer than two replicates.
    """
    mean, half_width = _final_mean_and_half_width(ds["regret"])
    rows = []
    for coords in setting_coords(ds):
        label = setting_label(coords)
        for agent in ds["agent"].values:
            at = {**coords, "agent": agent}
            m, h = float(mean.sel(at)), float(half_width.sel(at))
            if np.isfinite(m):
                rows.append(
                    RegretSummary(label, str(agent), m, m - h, m + h, tuple(coords.items()))
                )
    return rows


def format_table(rows: list[list[str]]) -> list[str]:
    """Return the lines of a plain-text table; the first column is left-aligned, the others right.

    Column widths come from the cells' texts, so columns are always at least
    :data:`COLUMN_GAP` apart.
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        COLUMN_GAP.join(
            f"{cell:<{width}}" if i == 0 else f"{cell:>{width}}"
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def format_summary(ds: xr.Dataset) -> str:
    """Return a plain-text table of :func:`final_regret_summary`, one row per setting.

    A grid block has one row per combination, labelled ``noise_level=sd_1, n_prompts=8``. Each
    cell reads ``mean [low, high]``; the interval is ``n/a`` with a single replicate.
    """
    dims = setting_dims(ds)
    agents = [str(a) for a in ds["agent"].values]
    settings = [setting_label(coords) for coords in setting_coords(ds)]
    cells = {(r.setting, r.agent): f"{r.mean:.1f} {r.interval}" for r in final_regret_summary(ds)}
    header = dims[0] if len(dims) == 1 else "setting"
    table = format_table(
        [[header, *agents]] + [[s, *(cells.get((s, a), "-") for a in agents)] for s in settings]
    )
    n = ds.sizes["replicate"]
    replicates = f"{n} replicates" if n != 1 else "1 replicate (no interval)"
    return "\n".join(
        [
            f"{ds.attrs.get('experiment', '')}: final cumulative regret at T={ds.sizes['t']}, "
            f"mean [95% interval] over {replicates}",
            table[0],
            "-" * max(len(line) for line in table),
            *table[1:],
        ]
    )


def format_configuration_summary(ds: xr.Dataset) -> str:
    """Return a short text on one configuration's results (``OUT/configs/<key>.nc``).

    Such a file holds one agent at one setting of a sweep; the block's results file
    ``OUT/<block>.nc`` names them.
    """
    mean, half_width = _final_mean_and_half_width(ds["regret"])
    m, h = float(mean), float(half_width)
    n = int(ds["regret"].astype(np.float64).sum("t", min_count=1).count("replicate"))
    return (
        f"per-configuration results (one agent at one setting of a sweep; the block's "
        f"OUT/<block>.nc names them, see `gambitts inspect OUT/<block>.nc`): "
        f"{n} {'replicate' if n == 1 else 'replicates'}, {ds.sizes['t']} rounds, "
        "final cumulative regret "
        f"{m:.1f} {interval_text(m - h, m + h)} (mean [95% interval])"
    )


def format_fit_diagnostics(diagnostics: xr.Dataset) -> str:
    """Return a plain-text report of the worst fit diagnostics of every custom agent.

    Per (setting, agent): the divergent transitions and fit wall time summed over refits and
    replicates; then per model variable the largest R-hat and the smallest bulk and tail ESS
    (none for Laplace and ADVI fits, which have no chains). A grid block's setting names both
    its axes.
    """
    dims = [
        d
        for d in diagnostics["wall_time"].dims
        if d not in ("agent", "refit", "replicate", "variable")
    ]
    over = ["refit", "replicate"]
    rhat = diagnostics["rhat_max"].max(over)
    bulk = diagnostics["ess_bulk_min"].min(over)
    tail = diagnostics["ess_tail_min"].min(over)
    divergences = diagnostics["divergences"].where(diagnostics["divergences"] >= 0).sum(over)
    wall = diagnostics["wall_time"].sum(over)
    lines = []
    labels = [[str(label) for label in diagnostics[dim].values] for dim in dims]
    for combination in itertools.product(*labels):
        setting = ", ".join(f"{dim} {label}" for dim, label in zip(dims, combination, strict=True))
        for agent in diagnostics["agent"].values:
            at = {**dict(zip(dims, combination, strict=True)), "agent": agent}
            if not float(wall.sel(at)) > 0:
                continue  # an agent without fits
            mcmc = bool((diagnostics["divergences"].sel(at) >= 0).any())
            chains = (
                f"{float(divergences.sel(at)):.0f} divergent transitions"
                if mcmc
                else "no chains (Laplace or ADVI)"
            )
            lines.append(f"{setting}, {agent}: {chains}, {float(wall.sel(at)):.1f} s of fitting")
            for variable in diagnostics["variable"].values:
                here = {**at, "variable": variable}
                if np.isfinite(float(rhat.sel(here))):
                    values = [float(v.sel(here)) for v in (rhat, bulk, tail)]
                    lines.append(
                        f"    {str(variable):<20} R-hat {values[0]:.3f}, "
                        f"bulk ESS {values[1]:.0f}, tail ESS {values[2]:.0f}"
                    )
    return "\n".join(lines)
