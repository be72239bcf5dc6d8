"""Markdown reports of results: final cumulative regret per block, agent and setting."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import xarray as xr

from gambitts.errors import InputError
from gambitts.files import write_text_atomic
from gambitts.sims.results import block_problem, final_regret_summary, setting_dims

BASELINE = "StdTS"

#: Receives one notice line per ``.nc`` file skipped in a results folder.
Notify = Callable[[str], None]


def block_table(ds: xr.Dataset) -> str:
    """Return a markdown table: final cumulative regret (mean [95% CI]) and ratio to StdTS.

    One column per setting dim (a grid block's two axes), then the agent. The interval reads
    ``n/a`` when a cell has a single replicate.
    """
    dims = setting_dims(ds)
    rows = final_regret_summary(ds)
    baseline = {r.setting: r.mean for r in rows if r.agent == BASELINE}
    lines = [
        f"| {' | '.join(dims)} | agent | final cumulative regret | 95% interval | "
        f"ratio to {BASELINE} |",
        "|---" * len(dims) + "|---|---:|---:|---:|",
    ]
    for r in rows:
        ratio = f"{r.mean / baseline[r.setting]:.2f}" if baseline.get(r.setting) else "-"
        coords = " | ".join(label for _, label in r.coords)
        lines.append(f"| {coords} | {r.agent} | {r.mean:.1f} | {r.interval} | {ratio} |")
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


def results_file_problem(path: str | os.PathLike) -> str | None:
    """Return why ``path`` is not a block's results file, or None if it is one.

    The file is opened lazily; only its ``regret`` variable is read, to catch a damaged file.

    Returns
    -------
    str or None
        What the file is, e.g. ``"not a gambitts results file (no `regret` variable)"`` or
        ``"cannot be read as NetCDF (...)"``.
    """
    path = Path(path)
    if not path.is_file():
        return "not a file"
    try:
        ds = xr.open_dataset(path, engine="h5netcdf")
    except Exception as error:  # any reader error means the file cannot be read
        return f"cannot be read as NetCDF ({_one_line(error)})"
    with ds:
        problem = block_problem(ds)
        if problem is not None:
            return problem
        try:
            ds["regret"].load()
        except Exception as error:  # a damaged chunk fails with the reader's own error
            return f"damaged: its `regret` cannot be read ({_one_line(error)})"
    return None


def results_files(results_dir: str | os.PathLike, notify: Notify | None = None) -> list[Path]:
    """Return the block results files (``*.nc``) directly in ``results_dir``, sorted.

    Other ``.nc`` files (a generator database, a per-configuration file, a damaged or foreign
    file) are skipped; ``notify`` receives one line per skipped file, naming it and why.

    Raises
    ------
    InputError
        If ``results_dir`` is not a directory or holds no block results file.
    """
    directory = Path(results_dir)
    if not directory.is_dir():
        raise InputError(
            f"results directory {str(directory)!r} does not exist; "
            f"run `gambitts simulate --out {directory}` first"
        )
    files, skipped = [], []
    for path in sorted(directory.glob("*.nc")):
        problem = results_file_problem(path)
        if problem is None:
            files.append(path)
            continue
        skipped.append(path.name)
        if notify is not None:
            notify(f"skipped {path.name}: {problem}")
    if not files:
        found = f" (skipped {_names(skipped)}: not results of a block)" if skipped else ""
        raise InputError(
            f"no results (*.nc) in {str(directory)!r}{found}; "
            f"run `gambitts simulate --out {directory}` first"
        )
    return files


def load_block(path: str | os.PathLike) -> xr.Dataset:
    """Return a block's results file read into memory.

    Raises
    ------
    InputError
        If the file cannot be read; the message names it.
    """
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.load()
    except Exception as error:  # any reader error means the file cannot be read
        raise InputError(
            f"cannot read results file {str(path)!r} ({_one_line(error)}); "
            "rerun the `gambitts simulate` that wrote it"
        ) from None


def write_report(
    results_dir: str | os.PathLike,
    out_path: str | os.PathLike | None = None,
    *,
    notify: Notify | None = None,
) -> tuple[str, Path]:
    """Write ``report.md`` (or ``out_path``) for every block in ``results_dir``; return its text.

    The file is written to a temporary file and renamed into place. Other ``.nc`` files in
    ``results_dir`` are skipped, with a line to ``notify`` each (see :func:`results_files`).

    Raises
    ------
    InputError
        If ``results_dir`` holds no block results.
    OutputError
        If the report cannot be written; the message names it.
    """
    sections = [block_section(load_block(path)) for path in results_files(results_dir, notify)]
    text = "# GAMBITTS simulation results\n\n" + "\n".join(sections)
    target = Path(out_path) if out_path is not None else Path(results_dir) / "report.md"
    write_text_atomic(target, text)
    return text, target


def _names(names: list[str], shown: int = 3) -> str:
    """Return the first ``shown`` names, comma-separated, and how many more there are."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _one_line(error: BaseException) -> str:
    """Return an exception's message on one line, with its type if it has no message."""
    text = " ".join(str(error).split())
    return text or type(error).__name__
