"""The long format of a generator database: one row per generated message.

Columns ``prompt`` and one per context variable say which prompt and context cell produced the
message; a ``message`` (or ``text``) column, if present, holds the message itself; every other
column is one style dimension holding the message's numeric score. Cells may have different
numbers of rows. Files are CSV (read with :func:`pandas.read_csv`) or Parquet
(:func:`pandas.read_parquet`, which needs ``pyarrow``: ``pip install 'gambitts[parquet]'``).

Which columns are context variables, in this order of precedence:

- a :class:`~gambitts.design.contexts.ContextSpace` given as ``contexts`` (e.g. from a study
  file, :func:`gambitts.design.study_file.load_context_space`): its variables, levels, cells and
  arrival probabilities, as declared;
- ``context_columns`` (``gambitts ... --context COLUMN``): a space inferred from the data, one
  one-hot variable per named column in the order named, its levels the column's distinct values
  (ordered as numbers when all are whole numbers, else as sorted text), cells every combination;
- neither: the paper's space, ``curr_loc`` (home, work, other) x ``prev_steps`` (1..4).

The file is read as written or refused: prompt names, message texts and the levels of a
declared or inferred space are text exactly as in the file (``"1"`` and ``"01"`` are two prompts,
or two levels; ``"NA"`` is a name; a Parquet integer column gives the decimal digits), column
names must be distinct (pandas would rename a second ``optimism`` to ``optimism.1`` and read it
as a new dimension), every data row has as many fields as the header (pandas would take a surplus
first field as the row index and drop it), scores are finite numbers at most
:data:`~gambitts.design.promptdb.MAX_ABS_SCORE` in magnitude, and a text column that is neither a
key nor the message column is refused with the option that would use it (it is not a score).

:func:`read_long_format` turns such a file into a :class:`~gambitts.design.promptdb.PromptDatabase`;
:func:`to_long_frame` goes the other way. Problems raise
:class:`~gambitts.design.promptdb.PromptDatabaseError` with a one-line message naming the column,
the row and how to fix it.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from gambitts.design.contexts import (
    PAPER_CONTEXTS,
    ContextSpace,
    ContextSpaceError,
    ContextVariable,
)
from gambitts.design.promptdb import MAX_ABS_SCORE, PromptDatabase, PromptDatabaseError
from gambitts.errors import shown

#: Columns that identify a row's prompt and context cell in the paper's files; every other column
#: is a style dim. A database of another context space has ``prompt`` plus its variables' names.
KEY_COLUMNS: tuple[str, ...] = ("prompt", *PAPER_CONTEXTS.names)
#: Column names taken as the message text when ``message_column`` is not given (first found).
MESSAGE_COLUMNS: tuple[str, ...] = ("message", "text")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_WHOLE_NUMBER = re.compile(r"[-+]?[0-9]+")
_RowNamer = Callable[[int], str]


def read_long_format(
    path: str | os.PathLike,
    contexts: ContextSpace | None = None,
    context_columns: Sequence[str] | None = None,
    message_column: str | None = None,
) -> PromptDatabase:
    """Read a generator database stored in the long format.

    Parameters
    ----------
    path : str or path-like
        A ``.csv`` file, or a ``.parquet`` / ``.pq`` file.
    contexts : ContextSpace, optional
        The study's declared context space (e.g. from a study file); each variable is a column
        of the file, and every level must occur in the file for every prompt.
    context_columns : sequence of str, optional
        Columns to infer the context space from, instead of ``contexts``: one one-hot variable
        per column, in this order; its levels are the column's distinct values, ordered as
        numbers when all are whole numbers (``2`` before ``10``), else as sorted text; the cells
        are every combination (the first column varying slowest).
    message_column : str, optional
        The column holding each message's text. Default: a column named ``message``, else one
        named ``text``, else none.

    Returns
    -------
    PromptDatabase
        Prompts in order of first appearance, dims in column order, draws of each cell in row
        order, ``messages`` if the file has a message column; ``attrs["source"]`` is the file
        name. Without ``contexts`` or ``context_columns`` the context space is the paper's.

    Raises
    ------
    PromptDatabaseError
        If both ``contexts`` and ``context_columns`` are given, the file is empty, two columns
        share a name, a data row has more fields than the header, a key column or the named
        message column is missing, there are no dim columns, a prompt name, level or message is
        missing or not text, a text column is neither a key nor the message column, a score is
        not numeric, is missing or exceeds :data:`~gambitts.design.promptdb.MAX_ABS_SCORE` in
        magnitude, a level is not one of the context space's, or some prompt has no rows for
        some context cell.
    """
    path = Path(path)
    names = _context_names(contexts, context_columns, message_column)
    paper = not names
    if paper:
        contexts = PAPER_CONTEXTS
        names = contexts.names
    keys = ("prompt", *names)
    frame, rows, message = _read_frame(path, keys, message_column, verbatim=not paper)
    _check_columns(frame, path, keys, message, paper=paper)
    prompt_codes, prompts = _prompt_codes(frame, rows)
    if contexts is None:
        contexts = _inferred_contexts(frame, keys[1:], rows, len(prompts))
    cells = _cell_codes(frame, contexts, rows)
    dims = tuple(str(column) for column in frame.columns if column not in (*keys, message))
    scores = _scores(frame, dims, rows, keys)
    texts = None if message is None else _message_texts(frame, message, rows, message_column)
    group, draw, n_draws = _placement(prompt_codes, cells, len(prompts), contexts.n_cells)
    _check_cells_filled(n_draws, prompts, contexts)
    return PromptDatabase(
        z=_packed(scores, group, draw, n_draws, np.nan),
        n_draws=n_draws,
        prompts=prompts,
        dims=dims,
        attrs={"source": path.name},
        contexts=contexts,
        messages=None
        if texts is None
        else _packed(texts[:, None], group, draw, n_draws, "")[..., 0],
    )


def to_long_frame(database: PromptDatabase) -> pd.DataFrame:
    """Return ``database`` as a long-format table, one row per valid draw.

    Parameters
    ----------
    database : PromptDatabase

    Returns
    -------
    pandas.DataFrame
        Columns ``prompt``, one per context variable, ``message`` if the database has message
        texts, and one per style dim, rows in (prompt, cell, draw) order; ``read_long_format`` of
        its CSV or Parquet (with the database's context space) gives ``database`` back (up to
        ``attrs``).

    Raises
    ------
    PromptDatabaseError
        If a style dimension is named like a key column or the message column: the table would
        have that column twice.
    """
    keys = ("prompt", *database.contexts.names)
    if database.messages is not None:
        keys = (*keys, MESSAGE_COLUMNS[0])
    clash = [dim for dim in database.dims if dim in keys]
    if clash:
        raise PromptDatabaseError(
            f"style dimension {clash[0]!r} has the name of a key column of the long format "
            f"{list(keys)}; rename the dimension before writing the long format"
        )
    valid = database.draw_mask()
    prompt, cell, _ = np.nonzero(valid)
    contexts = database.contexts
    columns = {
        "prompt": np.array(database.prompts, dtype=object)[prompt],
        **{
            name: np.array(contexts.cell_level_labels(name), dtype=object)[cell]
            for name in contexts.names
        },
    }
    if database.messages is not None:
        columns[MESSAGE_COLUMNS[0]] = database.messages[valid].astype(object)
    scores = pd.DataFrame(database.z[valid], columns=list(database.dims))
    return pd.concat([pd.DataFrame(columns), scores], axis=1)


def _context_names(
    contexts: ContextSpace | None, context_columns: Sequence[str] | None, message_column: str | None
) -> tuple[str, ...]:
    """Return the context columns the caller asked for (none: the paper's space, read as before).

    Checks the arguments before the file is read, so a wrong call is told apart from a wrong file.
    """
    if contexts is not None and context_columns is not None:
        raise PromptDatabaseError(
            "give either `contexts` (a context space, e.g. --contexts STUDY.yaml) or "
            "`context_columns` (columns to infer one from, --context COLUMN), not both"
        )
    if message_column is not None and (not isinstance(message_column, str) or not message_column):
        raise PromptDatabaseError(
            f"`message_column` (--message-column) must name a column, got {message_column!r}"
        )
    if contexts is not None:
        if not isinstance(contexts, ContextSpace):
            raise PromptDatabaseError(
                f"`contexts` must be a ContextSpace (e.g. from load_context_space), got "
                f"{type(contexts).__name__}"
            )
        names = contexts.names
    elif context_columns is not None:
        if isinstance(context_columns, str | bytes) or not isinstance(context_columns, Sequence):
            raise PromptDatabaseError(
                f"`context_columns` must be a list of column names, got {context_columns!r}; "
                f"wrap a single name in a list, e.g. [{context_columns!r}]"
            )
        names = tuple(context_columns)
        if not names:
            raise PromptDatabaseError(
                "`context_columns` (--context COLUMN) is empty; name at least one context column"
            )
        for name in names:
            _check_context_column_name(name)
        repeated = sorted(name for name, count in Counter(names).items() if count > 1)
        if repeated:
            raise PromptDatabaseError(
                f"context column {repeated[0]!r} is named twice (--context {repeated[0]}); "
                "name each context column once"
            )
    else:
        return ()
    if message_column is not None and message_column in ("prompt", *names):
        raise PromptDatabaseError(
            f"column {message_column!r} cannot be both the message column (--message-column) and "
            f"a key column {['prompt', *names]}; name the column that holds the messages' text"
        )
    return names


def _check_context_column_name(name: object) -> None:
    if not isinstance(name, str):
        raise PromptDatabaseError(f"`context_columns` must be column names, got {name!r}")
    if name.lower().endswith((".yaml", ".yml")):
        raise PromptDatabaseError(
            f"--context names a column, got the file {name!r}; give a study file with "
            f"--contexts {name}"
        )
    if name == "prompt":
        raise PromptDatabaseError(
            "column 'prompt' names the prompts and cannot be a context variable (--context); "
            "name the columns of the context variables"
        )
    if not name.isidentifier():
        raise PromptDatabaseError(
            f"context column {name!r} (--context) cannot name a context variable: names must be "
            "plain identifiers (letters, digits, _); rename the column, e.g. "
            f"{re.sub(r'[^0-9a-zA-Z_]+', '_', name).strip('_') or 'context'!r}"
        )


def _describe_row(position: int, is_csv: bool) -> str:
    """Name the 0-based data row ``position`` for an error message."""
    row = position + 1
    return f"data row {row} (CSV line {row + 1})" if is_csv else f"data row {row}"


def _read_frame(
    path: Path, keys: tuple[str, ...], message_column: str | None, verbatim: bool
) -> tuple[pd.DataFrame, _RowNamer, str | None]:
    """Read the file; return the frame, how to name its rows, and the message column (if any).

    With ``verbatim`` the context columns are read as the text written (a declared or inferred
    space labels its levels as text), otherwise as pandas parses them (the paper's files).
    """
    is_parquet = path.suffix.lower() in _PARQUET_SUFFIXES
    if is_parquet:
        _require_pyarrow()
    header = _reading(path, _parquet_header if is_parquet else _csv_header, keys)
    _check_header(header, path)
    message = _message_column(header, message_column, path)
    text_columns = ["prompt", *(keys[1:] if verbatim else ()), *([message] if message else [])]
    reader = pd.read_parquet if is_parquet else partial(_read_csv, text_columns=text_columns)
    frame = _reading(path, reader, keys)
    if frame.empty:
        raise PromptDatabaseError(
            f"long-format file '{path}' has no data rows; add one row per generated message"
        )
    frame.columns = [str(column) for column in frame.columns]
    frame = frame.reset_index(drop=True)
    # A quoted field may span lines (a message with a line break): then a data row is no longer
    # one CSV line, and errors name the data row only.
    one_line_rows = not is_parquet and not _has_line_breaks(frame)
    return frame, partial(_describe_row, is_csv=one_line_rows), message


def _has_line_breaks(frame: pd.DataFrame) -> bool:
    """Whether any text field holds a line break (pandas 3 reads text as ``str``, not object)."""
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            values = frame[column].dropna().tolist()
            if any(isinstance(v, str) and ("\n" in v or "\r" in v) for v in values):
                return True
    return False


def _message_column(header: list[str], message_column: str | None, path: Path) -> str | None:
    """Return the column holding the messages' text: the one named, else ``message``/``text``."""
    if message_column is not None:
        if message_column not in header:
            raise PromptDatabaseError(
                f"long-format file '{path}' has no message column {message_column!r} "
                f"(--message-column); its columns are {header}"
            )
        return message_column
    found = [name for name in MESSAGE_COLUMNS if name in header]
    if len(found) > 1:
        raise PromptDatabaseError(
            f"long-format file '{path}' has both a 'message' and a 'text' column; say which holds "
            "the messages' text with --message-column (`message_column`)"
        )
    return found[0] if found else None


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


def _read_csv(path: Path, text_columns: Sequence[str] = ("prompt",)) -> pd.DataFrame:
    """Read a long-format CSV with its prompt names (and other ``text_columns``) as written.

    These columns are read as text, so ``"01"`` stays ``"01"``; values pandas takes for missing
    (``"NA"``, ``"null"``, ...) are read again verbatim, so only an empty field is missing (and
    an empty message or level is refused later, naming its row).
    """
    frame = pd.read_csv(path, dtype=dict.fromkeys(text_columns, str))
    if not isinstance(frame.index, pd.RangeIndex):  # pandas made surplus first fields the index
        raise PromptDatabaseError(
            f"long-format file '{path}' has data rows with more fields than the "
            f"{len(frame.columns)} names of its header row (row names? trailing commas?); "
            "give every column a header name or drop the extra fields"
        )
    reread = [name for name in text_columns if name in frame and frame[name].isna().any()]
    if reread:
        verbatim = pd.read_csv(path, usecols=reread, dtype=str, keep_default_na=False)
        for name in reread:
            frame[name] = verbatim[name].to_numpy()
    return frame


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise PromptDatabaseError(
            "reading Parquet needs the optional dependency pyarrow; "
            "install it with pip install 'gambitts[parquet]' or use a CSV file"
        ) from exc


def _check_columns(
    frame: pd.DataFrame, path: Path, keys: tuple[str, ...], message: str | None, paper: bool
) -> None:
    missing = [column for column in keys if column not in frame.columns]
    if missing:
        hint = (
            " (the paper's context variables; for your own, name their columns with "
            "--context COLUMN or give a study file with --contexts STUDY.yaml)"
            if paper and missing != ["prompt"]
            else ""
        )
        raise PromptDatabaseError(
            f"long-format file '{path}' lacks the column(s) {missing}; it needs "
            f"{list(keys)} plus one numeric column per style dimension{hint}"
        )
    unnamed = [
        column for column in frame.columns if column.startswith("Unnamed:") or not column.strip()
    ]
    if unnamed:
        raise PromptDatabaseError(
            f"long-format file '{path}' has a column without a header ({unnamed[0]!r}, "
            "likely a saved index); drop it, e.g. write the CSV with index=False"
        )
    if len(frame.columns) == len(keys) + (message is not None):
        besides = [*keys, message] if message is not None else list(keys)
        raise PromptDatabaseError(
            f"long-format file '{path}' has no style-dimension columns; add one numeric column "
            f"per dimension besides {besides}"
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
            declared = ""
            if contexts is not PAPER_CONTEXTS:
                declared = (
                    "; fix the row, or declare the level in the context space (the study file's "
                    "`contexts`)"
                )
            raise PromptDatabaseError(
                f"column {variable.name!r} has unknown level {_show(column.iloc[unknown[0]])} at "
                f"{rows(unknown[0])}; valid levels are {', '.join(variable.levels)}{declared}"
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
    """Refuse a column that is not scores, saying what it could be instead.

    A column without a single number in it (weekday names, free text) is not a style dimension
    with a typo: the error names the options that would read it as a context variable or as the
    messages. A numeric column with a stray value gets the error naming that value's row.
    """
    numeric = pd.to_numeric(column.astype(object), errors="coerce")
    present = column.notna().to_numpy()
    if not pd.api.types.is_bool_dtype(column) and present.any() and numeric.isna().all():
        position = int(np.argmax(present))
        value = column.iloc[position]
        value = value.item() if isinstance(value, np.generic) else value
        holds = "text" if isinstance(value, str) else f"{type(value).__name__} values"
        raise PromptDatabaseError(
            f"column {dim!r} holds {holds} ({_show(value)} at {rows(position)}), so it is not a "
            f"style dimension; name it as a context variable (`--context {dim}`, or in the study "
            f"file's `contexts`) or as the message column (`--message-column {dim}`), or drop it"
        )
    offending = np.flatnonzero((numeric.isna() & column.notna()).to_numpy())
    position = offending[0] if offending.size else 0
    raise PromptDatabaseError(
        f"style-dimension column {dim!r} is not numeric: value {_show(column.iloc[position])} at "
        f"{rows(position)}; every column besides {list(keys)} must hold numeric scores"
    )


def _show(value: object) -> str:
    """Return ``value`` as written in an error message: its repr, ``''`` if missing."""
    return "''" if pd.isna(value) else shown(value)


def _object_values(column: pd.Series) -> np.ndarray:
    """Return a column's values as Python objects (categories as their values)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(object)
    return np.array(
        [value.item() if isinstance(value, np.generic) else value for value in column.tolist()],
        dtype=object,
    )


def _message_texts(
    frame: pd.DataFrame, message: str, rows: _RowNamer, message_column: str | None
) -> np.ndarray:
    """Return each row's message text, refusing missing, blank and non-text messages.

    Text is kept as written; integers (a Parquet int column) become their decimal digits.

    A column taken as the messages only by its name (``message``/``text``) that holds nothing
    but numbers is more likely a style dimension so named: it is refused rather than read as
    text, and naming it with ``--message-column`` reads it as text after all.
    """
    values = _object_values(frame[message])
    if message_column is None and values.size:
        as_numbers = pd.to_numeric(pd.Series(values), errors="coerce")
        if as_numbers.notna().all() and not any(isinstance(v, bool) for v in values):
            raise PromptDatabaseError(
                f"column {message!r} is read as the messages' text by its name but holds only "
                f"numbers ({_show(values[0])} at {rows(0)}); rename it if it is a style dimension, "
                f"or confirm it with --message-column {message}"
            )
    for position, value in enumerate(values):
        if isinstance(value, int) and not isinstance(value, bool):
            values[position] = str(value)  # a Parquet integer column: its decimal digits
            continue
        if value is None or (isinstance(value, float) and math.isnan(value)):
            problem = "is empty"
        elif not isinstance(value, str):
            problem = f"holds the {type(value).__name__} {_show(value)}"
        elif not value.strip():
            problem = f"holds the blank message {value!r}" if value else "is empty"
        else:
            continue
        raise PromptDatabaseError(
            f"message column {message!r} {problem} at {rows(position)}; every row needs the text "
            "of its message (drop the row, or the column if the texts are not wanted)"
        )
    return values


def _inferred_contexts(
    frame: pd.DataFrame, names: tuple[str, ...], rows: _RowNamer, n_prompts: int
) -> ContextSpace:
    """Infer a context space from the columns ``names``: one one-hot variable each.

    Levels are the distinct values, as whole numbers in numeric order when all are (``2`` before
    ``10``), otherwise as text in sorted order, so the same file always gives the same cells
    whatever the row order. Cells are every combination of levels.
    """
    variables = []
    for name in names:
        codes, uniques = pd.factorize(pd.Series(_object_values(frame[name])), use_na_sentinel=True)
        if (codes < 0).any():
            raise PromptDatabaseError(
                f"context column {name!r} is empty at {rows(int(np.argmax(codes < 0)))}; give "
                "every row its level"
            )
        first_rows = np.unique(codes, return_index=True)[1]
        labels = {
            _inferred_level(value, name, rows(int(first_rows[index])))
            for index, value in enumerate(uniques)
        }
        if all(_WHOLE_NUMBER.fullmatch(label) for label in labels):
            levels = sorted(labels, key=lambda label: (int(label), label))
        else:
            levels = sorted(labels)
        variables.append(ContextVariable(name, tuple(levels)))
    n_cells = math.prod(len(variable.levels) for variable in variables)
    if n_cells * n_prompts > len(frame):
        sizes = " x ".join(f"{v.name!r} ({len(v.levels)} levels)" for v in variables)
        raise PromptDatabaseError(
            f"the context columns {sizes} make {n_cells} cells, so {n_prompts} prompt(s) need at "
            f"least {n_cells * n_prompts} rows, but the file has {len(frame)}; every prompt needs "
            "rows in every cell (is one of these columns a score or an ID rather than a context?)"
        )
    return ContextSpace(tuple(variables))


def _inferred_level(value: object, name: str, where: str) -> str:
    """Return a context column's value as a level label: text as written, whole numbers."""
    if value == "":  # a CSV's empty field, read verbatim
        raise PromptDatabaseError(
            f"context column {name!r} is empty at {where}; give every row its level"
        )
    if isinstance(value, str):
        if value.strip() and value == value.strip():
            return value
        problem = f"the level {value!r}"
    elif isinstance(value, bool):
        problem = f"the bool {value!r}"
    elif isinstance(value, int):
        return str(value)
    elif isinstance(value, float) and value.is_integer():
        return str(int(value))
    else:
        problem = f"the {type(value).__name__} {_show(value)}"
    raise PromptDatabaseError(
        f"context column {name!r} holds {problem} at {where}; a level is a non-blank label "
        "without surrounding spaces or a whole number, so bin the column or write it as labels"
    )


def _placement(
    prompt_codes: np.ndarray, cells: np.ndarray, n_prompts: int, n_cells: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return each row's (prompt, cell) group and draw number (row order), and the counts."""
    group = prompt_codes * n_cells + cells
    counts = np.bincount(group, minlength=n_prompts * n_cells)
    order = np.argsort(group, kind="stable")
    starts = np.cumsum(counts) - counts
    draw = np.empty_like(group)
    draw[order] = np.arange(group.size) - starts[group[order]]
    return group, draw, counts.reshape(n_prompts, n_cells)


def _packed(
    values: np.ndarray, group: np.ndarray, draw: np.ndarray, counts: np.ndarray, fill: object
) -> np.ndarray:
    """Scatter rows of ``values`` into a padded (prompt, cell, draw, column) array."""
    n_prompts, n_cells = counts.shape
    width = max(int(counts.max()), 1)
    packed = np.full((n_prompts * n_cells, width, values.shape[1]), fill, dtype=values.dtype)
    packed[group, draw] = values
    return packed.reshape(n_prompts, n_cells, width, values.shape[1])


def _check_cells_filled(
    n_draws: np.ndarray, prompts: tuple[str, ...], contexts: ContextSpace
) -> None:
    empty = np.argwhere(n_draws == 0)
    if empty.size:
        prompt, cell = empty[0]
        cause = _unused_level(n_draws, contexts)
        raise PromptDatabaseError(
            f"prompt {prompts[prompt]!r} has no rows for cell {contexts.cell_labels[cell]} "
            f"({len(empty)} empty (prompt, cell) pair(s) in all); every prompt needs draws in "
            f"all {contexts.n_cells} cells ({' x '.join(contexts.names)}){cause}"
        )


def _unused_level(n_draws: np.ndarray, contexts: ContextSpace) -> str:
    """Name a declared level without any rows, the likely cause of empty cells ('' if none)."""
    per_cell = n_draws.sum(axis=0)
    for position, variable in enumerate(contexts.variables):
        per_level = np.bincount(
            contexts.cell_levels[:, position], weights=per_cell, minlength=len(variable.levels)
        )
        for level, count in zip(variable.levels, per_level, strict=True):
            if count == 0:
                return (
                    f"; level {level!r} of {variable.name!r} has no rows at all (add its rows, or "
                    "drop the level from the context space)"
                )
    return ""
