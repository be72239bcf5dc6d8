"""The paper's long format for a generator database: one row per generated message.

Columns ``prompt``, ``curr_loc`` (home, work, other) and ``prev_steps`` (1..4) say which prompt
and context cell produced the message; every other column is one style dimension holding the
message's numeric score. Cells may have different numbers of rows. Files are CSV (read with
:func:`pandas.read_csv`) or Parquet (:func:`pandas.read_parquet`, which needs ``pyarrow``:
``pip install 'gambitts[parquet]'``).

The file is read as written or refused: prompt names are text exactly as in the file (``"1"`` and
``"01"`` are two prompts, ``"NA"`` is a name; a Parquet integer column gives the decimal
digits), column names must be distinct (pandas would rename a second ``optimism`` to
``optimism.1`` and read it as a new dimension), every data row has as many fields as the header
(pandas would take a surplus first field as the row index and drop it), and scores are finite
numbers at most :data:`~gambitts.design.promptdb.MAX_ABS_SCORE` in magnitude.

:func:`read_long_format` turns such a file into a :class:`~gambitts.design.promptdb.PromptDatabase`;
:func:`to_long_frame` goes the other way. Problems raise
:class:`~gambitts.design.promptdb.PromptDatabaseError` with a one-line message naming the column,
the row and how to fix it.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from gambitts.design.contexts import PAPER_CONTEXTS, ContextSpace, ContextSpaceError
from gambitts.design.promptdb import MAX_ABS_SCORE, PromptDatabase, PromptDatabaseError

#: Columns that identify a row's prompt and context cell in the paper's files; every other column
#: is a style dim. A database of another context space has ``prompt`` plus its variables' names.
KEY_COLUMNS: tuple[str, ...] = ("prompt", *PAPER_CONTEXTS.names)
_PARQUET_SUFFIXES = (".parquet", ".pq")
_RowNamer = Callable[[int], str]


def read_long_format(
    path: str | os.PathLike, contexts: ContextSpace = PAPER_CONTEXTS
) -> PromptDatabase:
    """Read a generator database stored in the paper's long format.

    Parameters
    ----------
    path : str or path-like
        A ``.csv`` file, or a ``.parquet`` / ``.pq`` file.
    contexts : ContextSpace, optional
        The context variables; each is a column of the file. Default: the paper's.

    Returns
    -------
    PromptDatabase
        Prompts in order of first appearance, dims in column order, draws of each cell in row
        order; ``attrs["source"]`` is the file name.

    Raises
    ------
    PromptDatabaseError
        If the file is empty, two columns share a name, a data row has more fields than the
        header, a key column is missing, there are no dim columns, a prompt name is missing or
        not text, a score is not numeric, is missing or exceeds
        :data:`~gambitts.design.promptdb.MAX_ABS_SCORE` in magnitude, a ``curr_loc`` or
        ``prev_steps`` level is unknown, or some prompt has no rows for some context cell.
    """
    path = Path(path)
    keys = ("prompt", *contexts.names)
    frame, rows = _read_frame(path, keys)
    _check_columns(frame, path, keys)
    prompt_codes, prompts = _prompt_codes(frame, rows)
    cells = _cell_codes(frame, contexts, rows)
    dims = tuple(str(column) for column in frame.columns if column not in keys)
    scores = _scores(frame, dims, rows, keys)
    z, n_draws = _pack(prompt_codes, cells, scores, len(prompts), contexts.n_cells)
    _check_cells_filled(n_draws, prompts, contexts)
    return PromptDatabase(
        z=z,
        n_draws=n_draws,
        prompts=prompts,
        dims=dims,
        attrs={"source": path.name},
        contexts=contexts,
    )


def to_long_frame(database: PromptDatabase) -> pd.DataFrame:
    """Return ``database`` as a long-format table, one row per valid draw.

    Parameters
    ----------
    database : PromptDatabase

    Returns
    -------
    pandas.DataFrame
        Columns ``prompt``, one per context variable and one per style dim, rows in
        (prompt, cell, draw) order; ``read_long_format`` of its CSV or Parquet gives
        ``database`` back (up to ``attrs``).

    Raises
    ------
    PromptDatabaseError
        If a style dimension is named like a key column: the table would have that column twice.
    """
    keys = ("prompt", *database.contexts.names)
    clash = [dim for dim in database.dims if dim in keys]
    if clash:
        raise PromptDatabaseError(
            f"style dimension {clash[0]!r} has the name of a key column of the long format "
            f"{list(keys)}; rename the dimension before writing the long format"
        )
    prompt, cell, _ = np.nonzero(database.draw_mask())
    contexts = database.contexts
    frame = pd.DataFrame(
        {
            "prompt": np.array(database.prompts, dtype=object)[prompt],
            **{
                name: np.array(contexts.cell_level_labels(name), dtype=object)[cell]
                for name in contexts.names
            },
        }
    )
    scores = pd.DataFrame(database.z[database.draw_mask()], columns=list(database.dims))
    return pd.concat([frame, scores], axis=1)


def _describe_row(position: int, is_csv: bool) -> str:
    """Name the 0-based data row ``position`` for an error message."""
    row = position + 1
    return f"data row {row} (CSV line {row + 1})" if is_csv else f"data row {row}"


def _read_frame(path: Path, keys: tuple[str, ...]) -> tuple[pd.DataFrame, _RowNamer]:
    is_parquet = path.suffix.lower() in _PARQUET_SUFFIXES
    if is_parquet:
        _require_pyarrow()
    _check_header(_reading(path, _parquet_header if is_parquet else _csv_header, keys), path)
    frame = _reading(path, pd.read_parquet if is_parquet else _read_csv, keys)
    if frame.empty:
        raise PromptDatabaseError(
            f"long-format file '{path}' has no data rows; add one row per generated message"
        )
    frame.columns = [str(column) for column in frame.columns]
    return frame.reset_index(drop=True), partial(_describe_row, is_csv=not is_parquet)


def _reading(path: Path, reader: Callable[[Path], object], keys: tuple[str, ...]) -> object:
    """Return ``reader(path)``, turning the readers' errors into one-line PromptDatabaseErrors."""
    try:
        return reader(path)
    except PromptDatabaseError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise PromptDatabaseError(
            f"long-format file '{path}' is empty; it needs a header row {list(keys)} "
            "plus one column per style dimension, and one row per generated message"
        ) from exc
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        reason = " ".join(str(exc).split())
        raise PromptDatabaseError(f"cannot read long-format file '{path}': {reason}") from exc


def _csv_header(path: Path) -> list[str]:
    """Return the CSV's column names as written (pandas' own header would rename duplicates).

    The header row is read by the same parser as the data, without a header, so quoting, a
    byte-order mark and leading blank lines are handled exactly as in :func:`_read_csv`.
    """
    row = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
    return [str(name) for name in row.iloc[0]]


def _parquet_header(path: Path) -> list[str]:
    """Return the Parquet file's column names as stored (they may repeat)."""
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)


def _check_header(header: list[str], path: Path) -> None:
    """Refuse a header that names a column twice (blank names are left to _check_columns)."""
    counts = Counter(name for name in header if name.strip())
    repeated = [name for name, count in counts.items() if count > 1]
    if repeated:
        name = repeated[0]
        raise PromptDatabaseError(
            f"long-format file '{path}' has the column {name!r} {counts[name]} times; every "
            "column needs its own name, so drop or rename the copies"
        )


def _read_csv(path: Path) -> pd.DataFrame:
    """Read a long-format CSV with its prompt names as written.

    Prompt names are read as text, so ``"01"`` stays ``"01"``; names pandas takes for missing
    values (``"NA"``, ``"null"``, ...) are read again verbatim, so only an empty field is missing.
    """
    frame = pd.read_csv(path, dtype={"prompt": str})
    if not isinstance(frame.index, pd.RangeIndex):  # pandas made surplus first fields the index
        raise PromptDatabaseError(
            f"long-format file '{path}' has data rows with more fields than the "
            f"{len(frame.columns)} names of its header row (row names? trailing commas?); "
            "give every column a header name or drop the extra fields"
        )
    if "prompt" in frame.columns and frame["prompt"].isna().any():
        verbatim = pd.read_csv(path, usecols=["prompt"], dtype=str, keep_default_na=False)
        frame["prompt"] = verbatim["prompt"].to_numpy()
    return frame


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise PromptDatabaseError(
            "reading Parquet needs the optional dependency pyarrow; "
            "install it with pip install 'gambitts[parquet]' or use a CSV file"
        ) from exc


def _check_columns(frame: pd.DataFrame, path: Path, keys: tuple[str, ...]) -> None:
    missing = [column for column in keys if column not in frame.columns]
    if missing:
        raise PromptDatabaseError(
            f"long-format file '{path}' lacks the column(s) {missing}; it needs "
            f"{list(keys)} plus one numeric column per style dimension"
        )
    unnamed = [
        column for column in frame.columns if column.startswith("Unnamed:") or not column.strip()
    ]
    if unnamed:
        raise PromptDatabaseError(
            f"long-format file '{path}' has a column without a header ({unnamed[0]!r}, "
            "likely a saved index); drop it, e.g. write the CSV with index=False"
        )
    if len(frame.columns) == len(keys):
        raise PromptDatabaseError(
            f"long-format file '{path}' has no style-dimension columns; add one numeric column "
            f"per dimension besides {list(keys)}"
        )


def _prompt_codes(frame: pd.DataFrame, rows: _RowNamer) -> tuple[np.ndarray, tuple[str, ...]]:
    """Return each row's prompt number (in order of first appearance) and the prompt names."""
    column = frame["prompt"]
    empty = column.isna().to_numpy()
    if not empty.any():
        column = _prompt_text(column, rows)
        empty = (column.str.strip() == "").to_numpy()
    if empty.any():
        raise PromptDatabaseError(
            f"column 'prompt' is empty at {rows(np.argmax(empty))}; give every row its "
            "prompt's name"
        )
    codes, names = pd.factorize(column, sort=False)
    return codes, tuple(str(name) for name in names)


def _prompt_text(column: pd.Series, rows: _RowNamer) -> pd.Series:
    """Return the prompt names as the text written in the file.

    Text is kept verbatim (no stripping, no number parsing); integers (a Parquet int column) are
    named by their decimal digits. Floats, bools and other types have no faithful text form and
    are refused.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(object)
    kind = pd.api.types.infer_dtype(column, skipna=False)
    if kind == "string":
        return column
    if kind == "integer":
        return column.astype(str)
    values = column.to_numpy(dtype=object)
    position = next(index for index, value in enumerate(values) if not isinstance(value, str))
    value = values[position]
    value = value.item() if isinstance(value, np.generic) else value
    raise PromptDatabaseError(
        f"column 'prompt' holds the {type(value).__name__} {_show(value)} at {rows(position)}; "
        "prompt names must be text (or integers in Parquet), so write the column as strings"
    )


def _cell_codes(frame: pd.DataFrame, contexts: ContextSpace, rows: _RowNamer) -> np.ndarray:
    """Return each row's context cell, naming the column and row of an unknown level."""
    levels = np.empty((len(frame), len(contexts.variables)), dtype=np.int64)
    for position, variable in enumerate(contexts.variables):
        column = frame[variable.name]
        codes, uniques = pd.factorize(column.astype(object), use_na_sentinel=True)
        lookup = np.empty(len(uniques) + 1, dtype=np.int64)
        lookup[-1] = -1  # a missing value (sentinel -1 indexes the last slot)
        for index, value in enumerate(uniques):
            try:
                lookup[index] = variable.level_index(value)
            except ContextSpaceError:
                lookup[index] = -1
        levels[:, position] = lookup[codes]
        unknown = np.flatnonzero(levels[:, position] < 0)
        if unknown.size:
            raise PromptDatabaseError(
                f"column {variable.name!r} has unknown level {_show(column.iloc[unknown[0]])} at "
                f"{rows(unknown[0])}; valid levels are {', '.join(variable.levels)}"
            )
    lookup = {tuple(row): cell for cell, row in enumerate(contexts.cell_levels.tolist())}
    cells = np.array([lookup.get(tuple(row), -1) for row in levels.tolist()], dtype=np.int64)
    outside = np.flatnonzero(cells < 0)
    if outside.size:
        row = outside[0]
        combination = {v.name: v.levels[levels[row, i]] for i, v in enumerate(contexts.variables)}
        raise PromptDatabaseError(
            f"the context {combination} at {rows(row)} is not one of the study's cells; drop "
            "those rows or add the combination to the context space's `cells`"
        )
    return cells


def _scores(
    frame: pd.DataFrame, dims: tuple[str, ...], rows: _RowNamer, keys: tuple[str, ...]
) -> np.ndarray:
    for dim in dims:
        column = frame[dim]
        if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
            _raise_non_numeric(column, dim, rows, keys)
    scores = frame.loc[:, list(dims)].to_numpy(dtype=np.float64)
    missing = np.argwhere(~np.isfinite(scores))
    if missing.size:
        row, dim = missing[0]
        raise PromptDatabaseError(
            f"column {dims[dim]!r} has an empty, NaN or infinite score at {rows(row)}; every "
            "message needs a finite score on every style dimension (drop the row or fill it in)"
        )
    huge = np.argwhere(np.abs(scores) > MAX_ABS_SCORE)
    if huge.size:
        row, dim = huge[0]
        raise PromptDatabaseError(
            f"column {dims[dim]!r} has the score {scores[row, dim]:.6g} at {rows(row)}; scores "
            f"must be at most {MAX_ABS_SCORE:g} in magnitude (sums of larger squares overflow), "
            "so rescale that dimension"
        )
    return scores


def _raise_non_numeric(column: pd.Series, dim: str, rows: _RowNamer, keys: tuple[str, ...]) -> None:
    numeric = pd.to_numeric(column.astype(object), errors="coerce")
    offending = np.flatnonzero((numeric.isna() & column.notna()).to_numpy())
    position = offending[0] if offending.size else 0
    raise PromptDatabaseError(
        f"style-dimension column {dim!r} is not numeric: value {_show(column.iloc[position])} at "
        f"{rows(position)}; every column besides {list(keys)} must hold numeric scores"
    )


def _show(value: object) -> str:
    """Return ``value`` as written in an error message: its repr, ``''`` if missing."""
    if pd.isna(value):
        return "''"
    return repr(value.item() if isinstance(value, np.generic) else value)


def _pack(
    prompt_codes: np.ndarray, cells: np.ndarray, scores: np.ndarray, n_prompts: int, n_cells: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scatter rows into the padded (prompt, cell, draw, dim) array, keeping row order."""
    group = prompt_codes * n_cells + cells
    counts = np.bincount(group, minlength=n_prompts * n_cells)
    order = np.argsort(group, kind="stable")
    starts = np.cumsum(counts) - counts
    draw = np.empty_like(group)
    draw[order] = np.arange(group.size) - starts[group[order]]
    z = np.full((n_prompts * n_cells, counts.max(), scores.shape[1]), np.nan)
    z[group, draw] = scores
    return (
        z.reshape(n_prompts, n_cells, counts.max(), scores.shape[1]),
        counts.reshape(n_prompts, n_cells),
    )


def _check_cells_filled(
    n_draws: np.ndarray, prompts: tuple[str, ...], contexts: ContextSpace
) -> None:
    empty = np.argwhere(n_draws == 0)
    if empty.size:
        prompt, cell = empty[0]
        raise PromptDatabaseError(
            f"prompt {prompts[prompt]!r} has no rows for cell {contexts.cell_labels[cell]} "
            f"({len(empty)} empty (prompt, cell) pair(s) in all); every prompt needs draws in "
            f"all {contexts.n_cells} cells ({' x '.join(contexts.names)})"
        )
