"""Summaries of simulation results: final cumulative regret per setting and agent."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr


@dataclass(frozen=True)
class RegretSummary:
    """Final cumulative regret of one agent at one setting, over replicates."""

    setting: str
    agent: str
    mean: float
    low: float
    high: float


def setting_dim(ds: xr.Dataset) -> str:
    """Return the name of a results Dataset's setting dimension (what its block varies)."""
    return ds.attrs.get("varies", "setting")


def final_regret_summary(ds: xr.Dataset) -> list[RegretSummary]:
    """Return mean final cumulative regret per (setting, agent) with a 95% interval of the mean."""
    dim = setting_dim(ds)
    final = ds["regret"].astype(np.float64).sum("t", min_count=1)
    n = final.count("replicate")
    mean = final.mean("replicate")
    half_width = 1.96 * final.std("replicate", ddof=1) / np.sqrt(n)
    rows = []
    for setting in ds[dim].values:
        for agent in ds["agent"].values:
            at = {dim: setting, "agent": agent}
            m, h = float(mean.sel(at)), float(half_width.sel(at).fillna(0.0))
            if np.isfinite(m):
                rows.append(RegretSummary(str(setting), str(agent), m, m - h, m + h))
    return rows


def format_summary(ds: xr.Dataset) -> str:
    """Return a plain-text table of :func:`final_regret_summary`, one row per setting."""
    dim = setting_dim(ds)
    rows = final_regret_summary(ds)
    agents = [str(a) for a in ds["agent"].values]
    width = max(24, *(len(a) + 2 for a in agents))
    first = max(len(dim), *(len(str(v)) for v in ds[dim].values)) + 2
    header = f"{dim:<{first}}" + "".join(f"{a:>{width}}" for a in agents)
    lines = [
        f"{ds.attrs.get('experiment', '')}: final cumulative regret at T={ds.sizes['t']}, "
        f"mean [95% interval] over {ds.sizes['replicate']} replicates",
        header,
        "-" * len(header),
    ]
    for setting in ds[dim].values:
        cells = {
            r.agent: f"{r.mean:.1f} [{r.low:.1f}, {r.high:.1f}]"
            for r in rows
            if r.setting == setting
        }
        lines.append(
            f"{setting:<{first}}" + "".join(f"{cells.get(a, '-'):>{width}}" for a in agents)
        )
    return "\n".join(lines)


def format_fit_diagnostics(diagnostics: xr.Dataset) -> str:
    """Return a plain-text report of the worst fit diagnostics of every custom agent.

    Per (setting, agent): the divergent transitions and fit wall time summed over refits and
    replicates; then per model variable the largest R-hat and the smallest bulk and tail ESS
    (none for Laplace and ADVI fits, which have no chains).
    """
    setting = next(
        d for d in diagnostics.dims if d not in ("agent", "refit", "replicate", "variable")
    )
    over = ["refit", "replicate"]
    rhat = diagnostics["rhat_max"].max(over)
    bulk = diagnostics["ess_bulk_min"].min(over)
    tail = diagnostics["ess_tail_min"].min(over)
    divergences = diagnostics["divergences"].where(diagnostics["divergences"] >= 0).sum(over)
    wall = diagnostics["wall_time"].sum(over)
    lines = []
    for s in diagnostics[setting].values:
        for agent in diagnostics["agent"].values:
            at = {setting: s, "agent": agent}
            if not float(wall.sel(at)) > 0:
                continue  # an agent without fits
            mcmc = bool((diagnostics["divergences"].sel(at) >= 0).any())
            chains = (
                f"{float(divergences.sel(at)):.0f} divergent transitions"
                if mcmc
                else "no chains (Laplace or ADVI)"
            )
            lines.append(
                f"{setting} {s}, {agent}: {chains}, {float(wall.sel(at)):.1f} s of fitting"
            )
            for variable in diagnostics["variable"].values:
                here = {**at, "variable": variable}
                if np.isfinite(float(rhat.sel(here))):
                    values = [float(v.sel(here)) for v in (rhat, bulk, tail)]
                    lines.append(
                        f"    {str(variable):<20} R-hat {values[0]:.3f}, "
                        f"bulk ESS {values[1]:.0f}, tail ESS {values[2]:.0f}"
                    )
    return "\n".join(lines)
