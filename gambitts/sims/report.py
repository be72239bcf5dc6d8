"""Markdown reports of results: final cumulative regret per block, agent and setting."""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr

from gambitts.sims.results import final_regret_summary, setting_dim

BASELINE = "StdTS"


def block_table(ds: xr.Dataset) -> str:
    """Return a markdown table: final cumulative regret (mean [95% CI]) and ratio to StdTS."""
    dim = setting_dim(ds)
    rows = final_regret_summary(ds)
    baseline = {r.setting: r.mean for r in rows if r.agent == BASELINE}
    lines = [
        f"| {dim} | agent | final cumulative regret | 95% interval | ratio to {BASELINE} |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        ratio = f"{r.mean / baseline[r.setting]:.2f}" if baseline.get(r.setting) else "-"
        lines.append(
            f"| {r.setting} | {r.agent} | {r.mean:.1f} | [{r.low:.1f}, {r.high:.1f}] | {ratio} |"
        )
    return "\n".join(lines)


def block_section(ds: xr.Dataset) -> str:
    """Return the report section of one block: a heading, its description and its table."""
    name = ds.attrs.get("experiment", "results")
    return (
        f"## {name}\n\n{ds.attrs.get('description', '')}\n\n"
        f"Horizon {ds.sizes['t']}, {ds.sizes['replicate']} replicates, "
        f"seed {ds.attrs.get('seed')}.\n\n"
        f"{block_table(ds)}\n"
    )


def results_files(results_dir: str | os.PathLike) -> list[Path]:
    """Return the block results files (``*.nc``) directly in ``results_dir``, sorted."""
    directory = Path(results_dir)
    if not directory.is_dir():
        raise OSError(f"results directory {str(directory)!r} does not exist")
    files = sorted(directory.glob("*.nc"))
    if not files:
        raise OSError(
            f"no results (*.nc) in {str(directory)!r}; "
            f"run `gambitts simulate --out {directory}` first"
        )
    return files


def write_report(
    results_dir: str | os.PathLike, out_path: str | os.PathLike | None = None
) -> tuple[str, Path]:
    """Write ``report.md`` (or ``out_path``) for every block in ``results_dir``; return its text."""
    sections = []
    for path in results_files(results_dir):
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            sections.append(block_section(ds.load()))
    text = "# GAMBITTS simulation results\n\n" + "\n".join(sections)
    target = Path(out_path) if out_path is not None else Path(results_dir) / "report.md"
    target.write_text(text)
    return text, target
