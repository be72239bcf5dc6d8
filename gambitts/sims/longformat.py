"""The paper's long format for a generator database: one row per generated message.

Columns ``prompt``, ``curr_loc`` (home, work, other) and ``prev_steps`` (1..4) say which prompt
and context cell produced the message; every other column is one style dimension holding the
message's numeric score. Cells may have different numbers of rows. Files are CSV (read with
:func:`pandas.read_csv`) or Parquet (:func:`pandas.read_parquet`, which needs ``pyarrow``:
``pip install 'gambitts[parquet]'``).

:func:`read_long_format` turns such a file into a :class:`~gambitts.sims.promptdb.PromptDatabase`;
:func:`to_long_frame` goes the other way. Problems raise
:class:`~gambitts.sims.promptdb.PromptDatabaseError` with a one-line message naming the column,
the row and how to fix it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from gambitts.sims.contexts import (
    CELL_CURR_LOC,
    CELL_LABELS,
    CELL_PREV_STEPS,
    CURR_LOC,
    N_CELLS,
    PREV_STEPS,
)
from gambitts.sims.promptdb import PromptDatabase, PromptDatabaseError

#: Columns that identify a row's prompt and context cell; every other column is a style dim.
KEY_COLUMNS: tuple[str, ...] = ("prompt", "curr_loc", "prev_steps")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_RowNamer = Callable[[int], str]


def read_long_format(path: str | os.PathLike) -> PromptDatabase:
    """Read a generator database stored in the paper's long format.

    Parameters
    ----------
    path : str or path-like
        A ``.csv`` file, or a ``.parquet`` / ``.pq`` file.

    Returns
    -------
    PromptDatabase
        Prompts in order of first appearance, dims in column order, draws of each cell in row
        order; ``attrs["source"]`` is the file name.

    Raises
    ------
    PromptDatabaseError
        If the file is empty, a key column is missing, there are no dim columns, a score is not
        numeric or is missing, a ``curr_loc`` or ``prev_steps`` level is unknown, or some
        prompt has no rows for some context cell.
    """
    path = Path(path)
    frame, rows = _read_frame(path)
    _check_columns(frame, path)
    prompt_codes, prompts = _prompt_codes(frame, rows)
    cells = _cell_codes(frame, rows)
    dims = tuple(str(column) for column in frame.columns if column not in KEY_COLUMNS)
    scores = _scores(frame, dims, rows)
    z, n_draws = _pack(prompt_codes, cells, scores, len(prompts))
    _check_cells_filled(n_draws, prompts)
    return PromptDatabase(
        z=z, n_draws=n_draws, prompts=prompts, dims=dims, attrs={"source": path.name}
    )


def to_long_frame(database: PromptDatabase) -> pd.DataFrame:
    """Return ``database`` as a long-format table, one row per valid draw.

    Parameters
    ----------
    database : PromptDatabase

    Returns
    -------
    pandas.DataFrame
        Columns ``prompt``, ``curr_loc``, ``prev_steps`` and one column per style dim, rows in
        (prompt, cell, draw) order; ``read_long_format`` of its CSV or Parquet gives
        ``database`` back (up to ``attrs``).
    """
    prompt, cell, _ = np.nonzero(database.draw_mask())
    frame = pd.DataFrame(
        {
            "prompt": np.array(database.prompts, dtype=object)[prompt],
            "curr_loc": np.array(CELL_CURR_LOC, dtype=object)[cell],
            "prev_steps": np.array(CELL_PREV_STEPS, dtype=np.int64)[cell],
        }
    )
    scores = pd.DataFrame(database.z[database.draw_mask()], columns=list(database.dims))
    return pd.concat([frame, scores], axis=1)


def _describe_row(position: int, is_csv: bool) -> str:
    """Name the 0-based data row ``position`` for an error message."""
    row = position + 1
    return f"data row {row} (CSV line {row + 1})" if is_csv else f"data row {row}"


def _read_frame(path: Path) -> tuple[pd.DataFrame, _RowNamer]:
    is_parquet = path.suffix.lower() in _PARQUET_SUFFIXES
    if is_parquet:
        _require_pyarrow()
    try:
        frame = pd.read_parquet(path) if is_parquet else pd.read_csv(path)
    except pd.errors.EmptyDataError as exc:
        raise PromptDatabaseError(
            f"long-format file '{path}' is empty; it needs a header row {list(KEY_COLUMNS)} "
            "plus one column per style dimension, and one row per generated message"
        ) from exc
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        reason = " ".join(str(exc).split())
        raise PromptDatabaseError(f"cannot read long-format file '{path}': {reason}") from exc
    if frame.empty:
        raise PromptDatabaseError(
            f"long-format file '{path}' has no data rows; add one row per generated message"
        )
    frame.columns = [str(column) for column in frame.columns]
    return frame.reset_index(drop=True), partial(_describe_row, is_csv=not is_parquet)


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise PromptDatabaseError(
            "reading Parquet needs the optional dependency pyarrow; "
            "install it with pip install 'gambitts[parquet]' or use a CSV file"
        ) from exc


def _check_columns(frame: pd.DataFrame, path: Path) -> None:
    missing = [column for column in KEY_COLUMNS if column not in frame.columns]
    if missing:
        raise PromptDatabaseError(
            f"long-format file '{path}' lacks the column(s) {missing}; it needs "
            f"{list(KEY_COLUMNS)} plus one numeric column per style dimension"
        )
    unnamed = [column for column in frame.columns if column.startswith("Unnamed:")]
    if unnamed:
        raise PromptDatabaseError(
            f"long-format file '{path}' has a column without a header ({unnamed[0]!r}, "
            "likely a saved index); drop it, e.g. write the CSV with index=False"
        )
    if len(frame.columns) == len(KEY_COLUMNS):
        raise PromptDatabaseError(
            f"long-format file '{path}' has no style-dimension columns; add one numeric column "
            f"per dimension besides {list(KEY_COLUMNS)}"
        )


def _prompt_codes(frame: pd.DataFrame, rows: _RowNamer) -> tuple[np.ndarray, tuple[str, ...]]:
    column = frame["prompt"]
    empty = np.flatnonzero(column.isna().to_numpy())
    if empty.size:
        raise PromptDatabaseError(
            f"column 'prompt' is empty at {rows(empty[0])}; give every row its prompt's name"
        )
    codes, names = pd.factorize(column.astype(str), sort=False)
    return codes, tuple(names)


def _cell_codes(frame: pd.DataFrame, rows: _RowNamer) -> np.ndarray:
    location = frame["curr_loc"].astype(object)
    location_codes = _level_codes(location, location, CURR_LOC, rows)
    steps = pd.to_numeric(frame["prev_steps"], errors="coerce")
    step_codes = _level_codes(frame["prev_steps"], steps, PREV_STEPS, rows)
    return location_codes * len(PREV_STEPS) + step_codes


def _level_codes(raw: pd.Series, parsed: pd.Series, levels: tuple, rows: _RowNamer) -> np.ndarray:
    """Return each row's position in ``levels``; ``raw`` is shown if a level is unknown."""
    codes = pd.Index(levels).get_indexer(parsed.to_numpy())
    unknown = np.flatnonzero(codes < 0)
    if unknown.size:
        raise PromptDatabaseError(
            f"column '{raw.name}' has unknown level {_show(raw.iloc[unknown[0]])} at "
            f"{rows(unknown[0])}; valid levels are {', '.join(map(str, levels))}"
        )
    return codes


def _scores(frame: pd.DataFrame, dims: tuple[str, ...], rows: _RowNamer) -> np.ndarray:
    for dim in dims:
        column = frame[dim]
        if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
            _raise_non_numeric(column, dim, rows)
    scores = frame.loc[:, list(dims)].to_numpy(dtype=np.float64)
    missing = np.argwhere(~np.isfinite(scores))
    if missing.size:
        row, dim = missing[0]
        raise PromptDatabaseError(
            f"column '{dims[dim]}' has an empty, NaN or infinite score at {rows(row)}; every "
            "message needs a finite score on every style dimension (drop the row or fill it in)"
        )
    return scores


def _raise_non_numeric(column: pd.Series, dim: str, rows: _RowNamer) -> None:
    numeric = pd.to_numeric(column.astype(object), errors="coerce")
    offending = np.flatnonzero((numeric.isna() & column.notna()).to_numpy())
    position = offending[0] if offending.size else 0
    raise PromptDatabaseError(
        f"style-dimension column '{dim}' is not numeric: value {_show(column.iloc[position])} at "
        f"{rows(position)}; every column besides {list(KEY_COLUMNS)} must hold numeric scores"
    )


def _show(value: object) -> str:
    """Return ``value`` as written in an error message: its repr, ``''`` if missing."""
    if pd.isna(value):
        return "''"
    return repr(value.item() if isinstance(value, np.generic) else value)


def _pack(
    prompt_codes: np.ndarray, cells: np.ndarray, scores: np.ndarray, n_prompts: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scatter rows into the padded (prompt, cell, draw, dim) array, keeping row order."""
    group = prompt_codes * N_CELLS + cells
    counts = np.bincount(group, minlength=n_prompts * N_CELLS)
    order = np.argsort(group, kind="stable")
    starts = np.cumsum(counts) - counts
    draw = np.empty_like(group)
    draw[order] = np.arange(group.size) - starts[group[order]]
    z = np.full((n_prompts * N_CELLS, counts.max(), scores.shape[1]), np.nan)
    z[group, draw] = scores
    return (
        z.reshape(n_prompts, N_CELLS, counts.max(), scores.shape[1]),
        counts.reshape(n_prompts, N_CELLS),
    )


def _check_cells_filled(n_draws: np.ndarray, prompts: tuple[str, ...]) -> None:
    empty = np.argwhere(n_draws == 0)
    if empty.size:
        prompt, cell = empty[0]
        raise PromptDatabaseError(
            f"prompt {prompts[prompt]!r} has no rows for cell {CELL_LABELS[cell]} "
            f"({len(empty)} empty (prompt, cell) pair(s) in all); every prompt needs draws in "
            "all 12 cells (curr_loc x prev_steps)"
        )
