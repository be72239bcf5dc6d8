"""The generator database: draws of the style vector ``Z`` per (prompt, context cell).

A :class:`PromptDatabase` holds, for every prompt and each context cell of its
:class:`~gambitts.design.contexts.ContextSpace` (the paper's 12 by default), the style scores of
the messages the generator wrote, and optionally the messages' text. Cells may hold different
numbers of draws: ``z`` is padded with NaN beyond ``n_draws[prompt, cell]``.

The database is an in-memory container with a NetCDF form (:meth:`PromptDatabase.to_dataset`,
:meth:`PromptDatabase.save`); :func:`load_prompt_database` also reads the paper's long format
(see :mod:`gambitts.design.longformat`). Every problem with the data raises
:class:`PromptDatabaseError` with a one-line message that says how to fix it; nothing is read
differently from how it was written (names stay text, counts stay whole, scores stay in range).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import xarray as xr

from gambitts.design.contexts import PAPER_CONTEXTS, ContextSpace, ContextSpaceError
from gambitts.errors import InputError, shown

#: Dimension names of ``z`` in :meth:`PromptDatabase.to_dataset`.
Z_DIMS: tuple[str, ...] = ("prompt", "cell", "draw", "dim")
_NETCDF_SUFFIXES = (".nc", ".netcdf")
_LONG_FORMAT_SUFFIXES = (".csv", ".parquet", ".pq")
_ATTR_TYPES = (str, int, float, np.integer, np.floating)
_Z_ENCODING = {"zlib": True, "complevel": 4, "shuffle": True}
_NUMERIC_KINDS = "iuf"  # numpy dtype kinds of real numbers: bool, text, complex are refused

#: Largest magnitude a style score may have. Agents sum squares and cross products of scores over
#: all rounds; at 1e100 a square is 1e200, so sums over even 1e100 rounds stay finite in float64
#: (largest value about 1.8e308), whereas squares of 1e150 are 1e300 and their sums overflow to inf
#: within a long study, or at once when weighted by a precision.
MAX_ABS_SCORE: float = 1e100


class PromptDatabaseError(InputError):
    """A generator database (or a file holding one) is malformed."""


@dataclass(frozen=True, eq=False)
class PromptDatabase:
    """Generator draws of the style vector ``Z`` for every (prompt, context cell).

    Parameters
    ----------
    z : ndarray, shape (n_prompts, n_cells, max_draws, n_dims)
        Style scores; ``z[p, c, :n_draws[p, c]]`` are the draws of cell ``c`` under prompt ``p``,
        the rest is NaN. Cells are indexed in the order of ``contexts``.
        Valid draws must be finite and at most :data:`MAX_ABS_SCORE` in magnitude (so that sums
        of their squares cannot overflow); integer and float arrays are accepted, bool and text
        are not (they are not scores).
    n_draws : ndarray of int, shape (n_prompts, n_cells)
        Number of valid draws of each (prompt, cell); every entry is at least 1. Whole-valued
        floats (as NetCDF may store them) are accepted; fractions are refused rather than
        truncated.
    prompts : tuple of str
        Prompt names, one per prompt, unique and not blank.
    dims : tuple of str
        Style-dimension names, one per dimension of ``z``, unique and not blank.
    attrs : dict, optional
        Provenance (e.g. ``source``, ``seed``, ``gambitts_version``); values must be str, int or
        float so that they survive NetCDF.
    contexts : ContextSpace, optional
        The context variables the generator saw and the cells of axis 1; default the paper's.
    messages : ndarray of str, shape (n_prompts, n_cells, max_draws), optional
        The text of each message whose scores ``z`` holds (empty beyond ``n_draws``).

    Raises
    ------
    PromptDatabaseError
        If shapes disagree, an array is not numeric, ``n_draws`` is fractional or out of
        range, a valid draw is not finite or exceeds :data:`MAX_ABS_SCORE`, or a name is blank.
    """

    z: np.ndarray
    n_draws: np.ndarray
    prompts: tuple[str, ...]
    dims: tuple[str, ...]
    attrs: dict = field(default_factory=dict)
    contexts: ContextSpace = PAPER_CONTEXTS
    messages: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.contexts, ContextSpace):
            raise PromptDatabaseError(
                f"`contexts` must be a ContextSpace, got {type(self.contexts).__name__}"
            )
        z = _numeric_array("z", self.z)
        object.__setattr__(self, "z", np.asarray(z, dtype=np.float64))
        object.__setattr__(self, "n_draws", _numeric_array("n_draws", self.n_draws))
        object.__setattr__(self, "prompts", _name_tuple("prompts", self.prompts))
        object.__setattr__(self, "dims", _name_tuple("dims", self.dims))
        object.__setattr__(self, "attrs", dict(self.attrs))
        _check_shapes(self)
        _check_names("prompts", self.prompts)
        _check_names("dims", self.dims)
        object.__setattr__(self, "n_draws", _draw_counts(self))
        _check_draws(self)
        _check_attrs(self.attrs)
        if self.messages is not None:
            object.__setattr__(self, "messages", _checked_messages(self))

    @property
    def n_prompts(self) -> int:
        """Number of prompts."""
        return self.z.shape[0]

    @property
    def n_cells(self) -> int:
        """Number of context cells (those of :attr:`contexts`)."""
        return self.z.shape[1]

    @property
    def max_draws(self) -> int:
        """Length of the draw axis of ``z`` (the largest cell's number of draws, or more)."""
        return self.z.shape[2]

    @property
    def n_dims(self) -> int:
        """Number of style dimensions."""
        return self.z.shape[3]

    def draw_mask(self) -> np.ndarray:
        """Return which draws are valid, a bool array of shape (n_prompts, n_cells, max_draws)."""
        return np.arange(self.max_draws) < self.n_draws[..., None]

    def dim_index(self, names: Sequence[str]) -> np.ndarray:
        """Return the positions of the style dimensions ``names`` in ``dims``.

        Parameters
        ----------
        names : sequence of str
            Dimension names, in the order wanted.

        Returns
        -------
        ndarray of int64
            One index per name.

        Raises
        ------
        ValueError
            If a name is not a dimension of the database; the message lists the valid ones.
        """
        if isinstance(names, str):
            names = [names]
        unknown = [name for name in names if name not in self.dims]
        if unknown:
            raise ValueError(
                f"unknown style dimension(s) {unknown}; valid dimensions are {list(self.dims)}"
            )
        return np.array([self.dims.index(name) for name in names], dtype=np.int64)

    def cell_means(self) -> np.ndarray:
        """Return the mean of ``Z`` over each cell's valid draws, shape (prompt, cell, dim)."""
        return self._cell_means.copy()

    @cached_property
    def _cell_means(self) -> np.ndarray:
        totals = np.where(self.draw_mask()[..., None], self.z, 0.0).sum(axis=2)
        return totals / self.n_draws[..., None]

    def to_dataset(self) -> xr.Dataset:
        """Return the database as an :class:`xarray.Dataset`.

        Returns
        -------
        xarray.Dataset
            Variables ``z`` (prompt, cell, draw, dim), ``n_draws`` (prompt, cell) and, if the
            database has them, ``message`` (prompt, cell, draw); coordinates ``prompt``, ``cell``
            (labels such as ``"home/1"``) with one coordinate per context variable along it
            (``ds.set_xindex("curr_loc").sel(curr_loc="home")``), ``draw`` and ``dim``;
            ``attrs`` as the dataset's attributes plus ``context_space`` (JSON).
        """
        variables = {
            "z": (Z_DIMS, self.z.copy()),
            "n_draws": (("prompt", "cell"), self.n_draws.copy()),
        }
        if self.messages is not None:
            variables["message"] = (Z_DIMS[:3], self.messages.astype(str))
        return xr.Dataset(
            variables,
            coords={
                "prompt": list(self.prompts),
                **self.contexts.coords(),
                "draw": np.arange(self.max_draws, dtype=np.int64),
                "dim": list(self.dims),
            },
            attrs={**self.attrs, "context_space": self.contexts.to_json()},
        )

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> PromptDatabase:
        """Build a database from a dataset shaped like :meth:`to_dataset`'s output.

        Raises
        ------
        PromptDatabaseError
            If a variable or coordinate is missing, a variable has other dimensions than
            documented, the ``prompt``, ``cell`` or ``dim`` coordinate holds anything but text,
            the cells are not those of its context space in order (the ``context_space``
            attribute; the paper's if absent), a context-variable coordinate contradicts them, or
            the contents fail the checks of :class:`PromptDatabase`.
        """
        for name in ("z", "n_draws"):
            if name not in ds.data_vars:
                raise PromptDatabaseError(
                    f"dataset lacks the variable `{name}`; a generator database needs `z` "
                    "(prompt, cell, draw, dim) and `n_draws` (prompt, cell)"
                )
        _check_variable_dims(ds, "z", Z_DIMS)
        _check_variable_dims(ds, "n_draws", ("prompt", "cell"))
        attrs = {key: _python_scalar(value) for key, value in ds.attrs.items()}
        contexts = _context_space(attrs.pop("context_space", None))
        cells = _coordinate_names(ds, "cell")
        if cells != contexts.cell_labels:
            raise PromptDatabaseError(
                f"coordinate `cell` must list the context cells {list(contexts.cell_labels)} in "
                f"that order, got {list(cells)}"
            )
        _check_cell_coordinates(ds, contexts)
        messages = None
        if "message" in ds.data_vars:
            _check_variable_dims(ds, "message", Z_DIMS[:3])
            messages = ds["message"].transpose(*Z_DIMS[:3]).values
        return cls(
            z=ds["z"].transpose(*Z_DIMS).values,
            n_draws=ds["n_draws"].transpose("prompt", "cell").values,
            prompts=_coordinate_names(ds, "prompt"),
            dims=_coordinate_names(ds, "dim"),
            attrs=attrs,
            contexts=contexts,
            messages=messages,
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write the database to NetCDF (h5netcdf engine, ``z`` shuffled and zlib-compressed).

        The file is written to a temporary file in the same directory and then moved into place,
        so a crash never leaves a half-written database at ``path``.

        Parameters
        ----------
        path : str or path-like
            Destination; its directory must exist.
        """
        from gambitts.files import atomic_path, require_free_space

        path = Path(path)
        require_free_space(path, self.z.nbytes + self.n_draws.nbytes + (1 << 20))
        with atomic_path(path) as temporary:
            self.to_dataset().to_netcdf(temporary, engine="h5netcdf", encoding={"z": _Z_ENCODING})


def load_prompt_database(
    path: str | os.PathLike,
    contexts: ContextSpace | None = None,
    context_columns: Sequence[str] | None = None,
    message_column: str | None = None,
) -> PromptDatabase:
    """Read a generator database, choosing the format by the file extension.

    Parameters
    ----------
    path : str or path-like
        ``.nc`` / ``.netcdf``: NetCDF as written by :meth:`PromptDatabase.save`.
        ``.csv``, ``.parquet`` / ``.pq``: the long format, see
        :func:`gambitts.design.longformat.read_long_format`.
    contexts, context_columns, message_column : optional
        How to read a long-format file's context columns and message texts, passed to
        :func:`~gambitts.design.longformat.read_long_format` (default: the paper's context
        space, messages from a ``message`` or ``text`` column). A NetCDF file carries its own
        context space and messages, so giving any of these with one is an error rather than
        being ignored.

    Returns
    -------
    PromptDatabase

    Raises
    ------
    PromptDatabaseError
        If the file does not exist, has an unknown extension, holds a malformed database, or
        reading options are given with a NetCDF file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _NETCDF_SUFFIXES + _LONG_FORMAT_SUFFIXES:
        raise PromptDatabaseError(
            f"cannot tell the format of prompt database '{path}' from its extension "
            f"{suffix or '(none)'!r}; use one of {list(_NETCDF_SUFFIXES + _LONG_FORMAT_SUFFIXES)}"
        )
    options = {
        "--contexts (`contexts`)": contexts,
        "--context (`context_columns`)": context_columns,
        "--message-column (`message_column`)": message_column,
    }
    given = [name for name, value in options.items() if value is not None]
    if suffix in _NETCDF_SUFFIXES and given:
        raise PromptDatabaseError(
            f"prompt database '{path}' is NetCDF, which carries its own context space and "
            f"messages; the reading option(s) {', '.join(given)} are for long-format files "
            f"{list(_LONG_FORMAT_SUFFIXES)} only, so drop them"
        )
    if path.is_dir():
        raise PromptDatabaseError(f"prompt database '{path}' is a directory; give a file")
    if path.exists() and not path.is_file():
        raise PromptDatabaseError(f"prompt database '{path}' is not a regular file; give a file")
    if not path.is_file():
        raise PromptDatabaseError(f"prompt database file '{path}' does not exist; check the path")
    if suffix in _LONG_FORMAT_SUFFIXES:
        from gambitts.design.longformat import read_long_format  # longformat imports this module

        return read_long_format(
            path, contexts=contexts, context_columns=context_columns, message_column=message_column
        )
    try:
        # phony_dims: name the dimensions of plain HDF5 (not NetCDF) files instead of warning
        with xr.open_dataset(path, engine="h5netcdf", phony_dims="access") as ds:
            ds.load()
    except (OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise PromptDatabaseError(
            f"cannot read '{path}' as NetCDF ({reason}); write it with PromptDatabase.save"
        ) from exc
    return PromptDatabase.from_dataset(ds)


def _numeric_array(argument: str, values: object) -> np.ndarray:
    """Return ``values`` as an array, refusing what is not real numbers (bool, text, complex).

    ``np.asarray(..., dtype=float)`` would parse text and turn ``True`` into 1.0 without a word;
    a database whose scores or counts are not numbers is malformed, so it is refused instead.
    """
    try:
        array = np.asarray(values)
    except ValueError as exc:  # ragged nested sequences
        raise PromptDatabaseError(
            f"`{argument}` must be a rectangular numeric array, got {shown(values)}"
        ) from exc
    if array.dtype.kind not in _NUMERIC_KINDS:
        example = f" such as {shown(array.flat[0])}" if array.size else ""
        raise PromptDatabaseError(
            f"`{argument}` must hold real numbers (int or float), got dtype {array.dtype}"
            f"{example}; pass an array of int or float scores"
        )
    return array


def _name_tuple(argument: str, names: object) -> tuple:
    """Return ``names`` as a tuple; a single string would otherwise become one name per letter."""
    if isinstance(names, str | bytes):
        raise PromptDatabaseError(
            f"`{argument}` must be a sequence of names, got the single string {names!r}; "
            f"wrap it in a tuple, e.g. ({names!r},)"
        )
    return tuple(names)


def _check_variable_dims(ds: xr.Dataset, name: str, dims: tuple[str, ...]) -> None:
    """Refuse a dataset variable whose dimensions are not exactly ``dims`` (in any order)."""
    missing = [dim for dim in dims if dim not in ds[name].dims]
    if missing:
        raise PromptDatabaseError(
            f"variable `{name}` lacks the dimension(s) {missing}; it must have dims {list(dims)}"
        )
    extra = [str(dim) for dim in ds[name].dims if dim not in dims]
    if extra:
        raise PromptDatabaseError(
            f"variable `{name}` has the extra dimension(s) {extra}; it must have exactly the dims "
            f"{list(dims)} (select or drop the others before building the database)"
        )


def _coordinate_names(ds: xr.Dataset, name: str) -> tuple[str, ...]:
    """Return the text labels of the coordinate ``name``, refusing numbers and missing labels.

    Without a coordinate variable xarray would number the labels 0, 1, ...; numeric labels would
    be turned into text silently. Both are refused: a database file names its prompts, cells and
    dims as text. Byte strings (NetCDF character arrays) are decoded as UTF-8.
    """
    if name not in ds.coords:
        raise PromptDatabaseError(
            f"dataset lacks the coordinate `{name}` (the {name} labels); write the database "
            "with PromptDatabase.save, which stores prompts, cells and dims as text"
        )
    labels = []
    for value in ds[name].values.tolist():
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise PromptDatabaseError(
                    f"coordinate `{name}` has the label {value!r}, which is not UTF-8 text; "
                    "store the labels as UTF-8 strings"
                ) from exc
        if not isinstance(value, str):
            raise PromptDatabaseError(
                f"coordinate `{name}` must hold text labels, got {type(value).__name__} "
                f"{shown(value)} (dtype {ds[name].dtype}); store the labels as strings, "
                f"e.g. ds.assign_coords({name}=ds['{name}'].astype(str)) if they are names"
            )
        labels.append(value)
    return tuple(labels)


def _context_space(text: object) -> ContextSpace:
    """Return the context space stored in a file's attribute (the paper's if there is none)."""
    if text is None:
        return PAPER_CONTEXTS  # written before databases carried their context space
    try:
        return ContextSpace.from_json(str(text), "attribute `context_space`")
    except ContextSpaceError as error:
        raise PromptDatabaseError(str(error)) from None


def _check_cell_coordinates(ds: xr.Dataset, contexts: ContextSpace) -> None:
    """Refuse context-variable coordinates that contradict the cell labels.

    The labels decide which cell is which; a file whose other cell coordinates say otherwise is
    ambiguous, so it is refused rather than read by the labels alone. Levels compare as text
    (older files store ``prev_steps`` as integers).
    """
    for name in contexts.names:
        if name not in ds.coords:
            continue
        expected = list(contexts.cell_level_labels(name))
        values = [
            value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            for value in ds[name].values.tolist()
        ]
        if ds[name].dims != ("cell",) or values != expected:
            raise PromptDatabaseError(
                f"coordinate `{name}` contradicts the cell labels: it must be {list(expected)} "
                f"along `cell`, got {shown(values)}; drop it or write it in cell order"
            )


def _check_shapes(db: PromptDatabase) -> None:
    if db.z.ndim != 4:
        raise PromptDatabaseError(
            f"`z` must have 4 axes (prompt, cell, draw, dim), got shape {db.z.shape}"
        )
    if db.n_cells != db.contexts.n_cells:
        raise PromptDatabaseError(
            f"`z` must have the {db.contexts.n_cells} context cells of its context space on "
            f"axis 1, got shape {db.z.shape}"
        )
    if 0 in db.z.shape:
        raise PromptDatabaseError(f"`z` must not be empty, got shape {db.z.shape}")
    if db.n_draws.shape != db.z.shape[:2]:
        raise PromptDatabaseError(
            f"`n_draws` must have shape (n_prompts, n_cells) = {db.z.shape[:2]}, "
            f"got {db.n_draws.shape}"
        )
    if len(db.prompts) != db.n_prompts:
        raise PromptDatabaseError(
            f"`prompts` must name the {db.n_prompts} prompts of `z`, got {len(db.prompts)} names"
        )
    if len(db.dims) != db.n_dims:
        raise PromptDatabaseError(
            f"`dims` must name the {db.n_dims} style dimensions of `z`, got {len(db.dims)} names"
        )


def _check_names(argument: str, names: tuple[str, ...]) -> None:
    not_str = [name for name in names if not isinstance(name, str)]
    if not_str:
        raise PromptDatabaseError(f"`{argument}` must be strings, got {shown(not_str[0])}")
    blank = [name for name in names if not name.strip()]
    if blank:
        raise PromptDatabaseError(
            f"`{argument}` must not be empty or blank, got {blank[0]!r}; give every one a name"
        )
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise PromptDatabaseError(f"`{argument}` must be unique, got duplicates {duplicates}")


def _draw_counts(db: PromptDatabase) -> np.ndarray:
    """Return ``n_draws`` as int64 after checking it holds whole numbers within range.

    Casting first would truncate 30.7 to 30 and turn NaN into a huge negative number, so the
    values are checked as given (counts stored as float, as NetCDF may, are fine if whole).
    """
    counts = db.n_draws
    if counts.dtype.kind == "f":
        fractional = np.argwhere(~np.isfinite(counts) | (counts != np.floor(counts)))
        if fractional.size:
            prompt, cell = fractional[0]
            raise PromptDatabaseError(
                f"`n_draws` must be whole numbers, got {counts[prompt, cell].item()} for prompt "
                f"{db.prompts[prompt]!r}, cell {db.contexts.cell_labels[cell]}; give the count of "
                "valid draws"
            )
    low = np.argwhere((counts < 1) | (counts > db.max_draws))
    if low.size:
        prompt, cell = low[0]
        raise PromptDatabaseError(
            f"`n_draws` must be between 1 and max_draws={db.max_draws}, got "
            f"{counts[prompt, cell].item()} for prompt {db.prompts[prompt]!r}, "
            f"cell {db.contexts.cell_labels[cell]}"
        )
    return np.asarray(counts, dtype=np.int64)


def _check_draws(db: PromptDatabase) -> None:
    valid = db.draw_mask()
    bad = np.argwhere(valid & ~np.isfinite(db.z).all(axis=3))
    if bad.size:
        prompt, cell, draw = bad[0]
        raise PromptDatabaseError(
            f"`z` has a non-finite score in draw {draw} of prompt {db.prompts[prompt]!r}, "
            f"cell {db.contexts.cell_labels[cell]} (within its "
            f"n_draws={db.n_draws[prompt, cell]}); "
            "drop that draw or fix its scores"
        )
    huge = np.argwhere(valid[..., None] & (np.abs(db.z) > MAX_ABS_SCORE))
    if huge.size:
        prompt, cell, draw, dim = huge[0]
        raise PromptDatabaseError(
            f"`z` has the score {db.z[prompt, cell, draw, dim]:.6g} on dimension "
            f"{db.dims[dim]!r} in draw {draw} of prompt {db.prompts[prompt]!r}, cell "
            f"{db.contexts.cell_labels[cell]}; scores must be at most {MAX_ABS_SCORE:g} in "
            "magnitude (sums of larger squares overflow), so rescale that dimension"
        )
    if not np.isnan(db.z[~valid]).all():
        raise PromptDatabaseError(
            "`z` must be NaN beyond each cell's n_draws; set the padding to NaN or raise `n_draws`"
        )


def _check_attrs(attrs: dict) -> None:
    for key, value in attrs.items():
        storable = isinstance(value, _ATTR_TYPES) and not isinstance(value, bool)
        if not (isinstance(key, str) and storable):
            raise PromptDatabaseError(
                f"`attrs` must map str to str, int or float (NetCDF attributes), got "
                f"{shown(key)}: {shown(value)}; convert the value, e.g. to a YAML string"
            )


def _python_scalar(value: object) -> object:
    """Turn a NumPy scalar read back from NetCDF into the Python scalar it was written from."""
    return value.item() if isinstance(value, np.generic) else value


def _checked_messages(db: PromptDatabase) -> np.ndarray:
    """Return the message texts as a str array shaped like ``z`` 's first three axes."""
    messages = np.asarray(db.messages)
    if messages.shape != db.z.shape[:3] or messages.dtype.kind not in "UO":
        raise PromptDatabaseError(
            f"`messages` must be text of shape (prompt, cell, draw) = {db.z.shape[:3]}, got "
            f"shape {messages.shape} and dtype {messages.dtype}"
        )
    text = messages.astype(str)
    valid = db.draw_mask()
    return np.where(valid, text, "")
