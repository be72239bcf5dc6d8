"""Figures of simulation results: mean cumulative regret with 95% bands, one panel per setting.

A grid block's panels form a grid: one row per value of its first axis, one column per value of
its second.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from gambitts.errors import OutputError
from gambitts.files import atomic_path, make_folder, require_free_space
from gambitts.sims.experiments import check_block_name
from gambitts.sims.results import setting_coords, setting_dims

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The formats every block's figure is saved in.
FIGURE_FORMATS = ("png", "pdf")

#: Fixed colours, so an agent looks the same in every figure.
AGENT_COLOURS: dict[str, str] = {
    "StdTS": "#4d4d4d",
    "StdTS:Contextual": "#a6761d",
    "poGAMBITTS": "#1f77b4",
    "foGAMBITTS": "#2ca02c",
    "ens-poGAMBITTS": "#ff7f0e",
}
_EXTRA_COLOURS = ("#9467bd", "#d62728", "#17becf", "#e377c2", "#bcbd22", "#8c564b")


def agent_colour(agent: str) -> str:
    """Return the fixed colour of an agent (a stable pick for agents not in the table)."""
    return AGENT_COLOURS.get(
        agent, _EXTRA_COLOURS[zlib.crc32(agent.encode()) % len(_EXTRA_COLOURS)]
    )


def regret_bands(ds: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    """Return mean cumulative regret over replicates and the half-width of its 95% interval."""
    cumulative = ds["regret"].astype(np.float64).cumsum("t")
    n = cumulative.count("replicate")
    return cumulative.mean("replicate"), 1.96 * cumulative.std("replicate", ddof=1) / np.sqrt(n)


#: Room kept free before drawing a block's figures (a PNG and a PDF of a few hundred kB each);
#: matplotlib's PDF writer fails on a full disk with an error that names no file.
_FIGURE_ROOM_BYTES = 8 * 2**20


def plot_experiment(
    ds: xr.Dataset, out_dir: str | os.PathLike, name: str | None = None
) -> list[Path]:
    """Save the block's figure as ``<name>.png`` and ``.pdf`` in ``out_dir``.

    ``name`` defaults to the block's name (the attribute ``experiment``); either must be a plain
    file name, so that a figure can only land in ``out_dir``.

    Each file is written to a temporary file and renamed into place, so a failed write (a full
    disk) leaves no partial figure under its final name.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    OutputError
        If ``out_dir`` cannot be created (e.g. it is a file) or a figure cannot be written; the
        message names the path.
    """
    name = ds.attrs.get("experiment", "results") if name is None else name
    check_block_name(name)
    out = _figure_directory(out_dir)
    require_free_space(out / f"{name}.png", _FIGURE_ROOM_BYTES)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = regret_figure(ds)
    try:
        paths = []
        for extension in FIGURE_FORMATS:
            path = out / f"{name}.{extension}"
            with atomic_path(path) as temporary:
                fig.savefig(temporary, format=extension, dpi=120)
            paths.append(path)
    finally:
        plt.close(fig)
    return paths


def _figure_directory(out_dir: str | os.PathLike) -> Path:
    """Create ``out_dir`` if needed; raise :class:`OutputError` if it cannot be a folder."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(
            f"cannot write figures to {str(out)!r}: it is a file, not a folder; "
            "move or remove it and plot again"
        )
    return make_folder(out)


def regret_figure(ds: xr.Dataset) -> Figure:
    """Return the block's figure: one panel per setting, a line and band per agent.

    A one-axis block's panels fill rows of up to five; a grid's are its rows (first axis) by
    its columns (second axis).
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    dims = setting_dims(ds)
    mean, half_width = regret_bands(ds)
    settings = setting_coords(ds)
    if len(dims) == 1:
        n_columns = min(len(settings), 5)
        n_rows = -(-len(settings) // n_columns)
    else:
        n_rows, n_columns = ds.sizes[dims[0]], ds.sizes[dims[1]]
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(
        n_rows, n_columns, figsize=(3.6 * n_columns, 3.3 * n_rows + 0.6), squeeze=False
    )
    t = ds["t"].values
    for ax, setting in zip(axes.flat, settings, strict=False):
        for agent in ds["agent"].values:
            m = mean.sel({**setting, "agent": agent}).values
            if not np.isfinite(m).any():
                continue
            h = half_width.sel({**setting, "agent": agent}).fillna(0.0).values
            colour = agent_colour(str(agent))
            ax.plot(t, m, color=colour, label=str(agent), linewidth=1.6)
            ax.fill_between(t, m - h, m + h, color=colour, alpha=0.22, linewidth=0)
        ax.set_title("\n".join(_panel_titles(ds, setting)), fontsize=11)
        ax.set_xlabel("round")
    for ax in axes.flat[len(settings) :]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("cumulative regret")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    # As many legend entries per row as the figure's width holds (a narrow grid wraps them).
    entry_width = 0.7 + 0.1 * max((len(label) for label in labels), default=0)
    n_legend = max(1, min(len(labels), int(fig.get_figwidth() // entry_width)))
    fig.legend(handles, labels, loc="lower center", ncol=n_legend, frameon=False)
    legend_rows = -(-len(labels) // n_legend)
    bottom = 0.07 if legend_rows <= 1 else 0.02 + 0.3 * legend_rows / fig.get_figheight()
    n = ds.sizes["replicate"]
    replicates = f"95% band, {n} replicates" if n != 1 else "1 replicate (no band)"
    fig.suptitle(f"{ds.attrs.get('experiment', '')}: mean cumulative regret, {replicates}")
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return fig


def _panel_titles(ds: xr.Dataset, setting: dict[str, str]) -> list[str]:
    """Return a panel's title lines: ``dim = coordinate`` per setting dim, noise levels with sd."""
    lines = []
    for dim, label in setting.items():
        if dim == "setting":
            continue
        line = f"{dim} = {label}"
        if dim == "noise_level" and "noise_sd" in ds and dim in ds["noise_sd"].dims:
            sd = ds["noise_sd"].sel({d: c for d, c in setting.items() if d in ds["noise_sd"].dims})
            line += f" (sd {float(sd):.2f})"
        lines.append(line)
    return lines
