"""Load a results NetCDF written by ``gambitts simulate`` and redraw cumulative regret from it.

``python examples/reanalyse_netcdf.py RESULTS.nc [OUT.png]``; without a file, a small run of the
``var_decomp_linear`` block is simulated and saved first (:func:`gambitts.simulate`, which runs
what ``gambitts simulate`` runs). :func:`gambitts.open_results` reads either.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402

import gambitts  # noqa: E402


def write_example_results(path: Path, fast: bool = False) -> Path:
    """Simulate a reduced ``var_decomp_linear`` block and save it to ``path``."""
    replicates, horizon = (3, 100) if fast else (20, 1000)
    results = gambitts.simulate("var_decomp_linear", replicates=replicates, horizon=horizon)
    return results.save(path)


def plot_cumulative_regret(ds: xr.Dataset, out: Path) -> Path:
    """Plot mean cumulative regret (+- 2 standard errors) per agent, one panel per setting."""
    (dim,) = [dim for dim in ds["regret"].dims if dim not in ("agent", "replicate", "t")]
    cumulative = ds["regret"].astype("float64").cumsum("t")
    mean = cumulative.mean("replicate")
    se = cumulative.std("replicate") / ds.sizes["replicate"] ** 0.5
    settings = list(ds[dim].values)
    figure, axes = plt.subplots(1, len(settings), figsize=(3.2 * len(settings), 3), squeeze=False)
    for axis, setting in zip(axes[0], settings, strict=True):
        for agent in ds["agent"].values:
            at = {dim: setting, "agent": agent}
            m, s = mean.sel(at), se.sel(at)
            axis.plot(ds["t"], m, label=str(agent))
            axis.fill_between(ds["t"], m - 2 * s, m + 2 * s, alpha=0.2)
        axis.set_title(f"{dim} = {setting}")
        axis.set_xlabel("round t")
    axes[0, 0].set_ylabel("cumulative regret")
    axes[0, -1].legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


def main(fast: bool = False, path: str | None = None, out: str | None = None) -> Path:
    """Reanalyse ``path`` (simulating one if None) and write the figure; return its path."""
    workdir = Path(tempfile.mkdtemp(prefix="gambitts-reanalyse-"))
    source = Path(path) if path else write_example_results(workdir / "results.nc", fast=fast)
    results = gambitts.open_results(source)
    print(results.summary().to_string(index=False))
    out = Path(out) if out else workdir / "cumulative_regret.png"
    figure = plot_cumulative_regret(results.regret, out)
    print(f"figure: {figure}")
    return figure


if __name__ == "__main__":
    main(
        path=sys.argv[1] if len(sys.argv) > 1 else None,
        out=sys.argv[2] if len(sys.argv) > 2 else None,
    )
