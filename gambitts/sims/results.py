"""Writing, summarising and plotting simulation results."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr


def check_writable_directory(directory: str | os.PathLike) -> Path:
    """Create ``directory`` if needed and make sure files can be written in it.

    Raises
    ------
    OSError
        With a message naming the directory, if it cannot be created or written.
    """
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".gambitts-write-check-"):
            pass
    except OSError as error:
        raise OSError(
            f"cannot write to output directory {str(path)!r}: {error.strerror or error}"
        ) from None
    return path


def write_netcdf_atomic(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to NetCDF (h5netcdf, compressed) via a temporary file and an atomic rename.

    A reader never sees a half-written file, and an interrupted write leaves no file behind.
    """
    path = Path(path)
    encoding = {
        name: {"zlib": True, "complevel": 4}
        for name, variable in ds.data_vars.items()
        if variable.dtype.kind in "fiu"
    }
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        ds.to_netcdf(temporary, engine="h5netcdf", encoding=encoding)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@dataclass(frozen=True)
class RegretSummary:
    """Final cumulative regret of one agent at one setting, over replicates."""

    setting: str
    agent: str
    mean: float
    low: float
    high: float


def final_regret_summary(ds: xr.Dataset) -> list[RegretSummary]:
    """Return mean final cumulative regret per (noise level, agent) with a 95% interval."""
    final = ds["regret"].astype(np.float64).sum("t")
    n = final.sizes["replicate"]
    mean = final.mean("replicate")
    half_width = 1.96 * final.std("replicate", ddof=1 if n > 1 else 0) / np.sqrt(n)
    return [
        RegretSummary(
            setting=str(level),
            agent=str(agent),
            mean=float(mean.sel(noise_level=level, agent=agent)),
            low=float((mean - half_width).sel(noise_level=level, agent=agent)),
            high=float((mean + half_width).sel(noise_level=level, agent=agent)),
        )
        for level in ds["noise_level"].values
        for agent in ds["agent"].values
    ]


def format_summary(ds: xr.Dataset) -> str:
    """Return a plain-text table of :func:`final_regret_summary`, a row per noise level."""
    rows = final_regret_summary(ds)
    agents = [str(a) for a in ds["agent"].values]
    width = max(24, *(len(a) + 2 for a in agents))
    header = f"{'noise':<8}{'sd':>8}  " + "".join(f"{a:>{width}}" for a in agents)
    lines = [
        f"Final cumulative regret at T={ds.sizes['t']}: mean [95% interval], "
        f"{ds.sizes['replicate']} replicates",
        header,
        "-" * len(header),
    ]
    for level, sd in zip(ds["noise_level"].values, ds["noise_sd"].values, strict=True):
        cells = {
            r.agent: f"{r.mean:.1f} [{r.low:.1f}, {r.high:.1f}]" for r in rows if r.setting == level
        }
        lines.append(f"{level:<8}{sd:>8.3f}  " + "".join(f"{cells[a]:>{width}}" for a in agents))
    return "\n".join(lines)


def plot_cumulative_regret(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Save mean cumulative regret with 95% bands per agent, one panel per noise level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    cumulative = ds["regret"].astype(np.float64).cumsum("t")
    n = cumulative.sizes["replicate"]
    mean = cumulative.mean("replicate")
    half_width = 1.96 * cumulative.std("replicate") / np.sqrt(n)
    agents = [str(a) for a in ds["agent"].values]
    colours = dict(zip(agents, sns.color_palette("colorblind", len(agents)), strict=True))
    levels = ds["noise_level"].values
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(
        1, len(levels), figsize=(3.6 * len(levels), 3.4), sharey=False, squeeze=False
    )
    t = ds["t"].values
    for ax, level, sd in zip(axes[0], levels, ds["noise_sd"].values, strict=True):
        for agent in agents:
            m = mean.sel(noise_level=level, agent=agent).values
            h = half_width.sel(noise_level=level, agent=agent).values
            ax.plot(t, m, color=colours[agent], label=agent)
            ax.fill_between(t, m - h, m + h, color=colours[agent], alpha=0.25, linewidth=0)
        ax.set_title(f"{level} (sd = {sd:.2f})")
        ax.set_xlabel("round")
    axes[0, 0].set_ylabel("cumulative regret")
    axes[0, -1].legend(loc="upper left", frameon=True)
    fig.suptitle(
        f"{ds.attrs.get('experiment', '')}: mean cumulative regret, 95% band, {n} replicates"
    )
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
