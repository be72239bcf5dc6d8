"""A study's context space: the variables the generator sees, their levels, and the cells.

A context variable is categorical, with labelled levels (a binned numeric variable is
categorical with labelled bins). The *context cells* are the combinations of levels the study
uses: the product of all levels, in a fixed order (the first variable varies slowest), or an
explicit list of allowed combinations. Everything downstream (generator databases, worlds,
agents, results, posteriors) refers to a cell by its integer index in that order and takes the
cell count, labels and stage-2 features from the :class:`ContextSpace`.

How a variable enters stage 2 when an agent asks for context features: one-hot (one column per
level) by default, or numeric (one column holding a value per level) when the variable gives
``values``. Numeric columns come first, then the one-hot blocks, each in variable order.

How contexts arrive: uniformly over the cells, or with given probabilities per cell.

The paper's space, ``curr_loc`` (home, work, other; one-hot) x ``prev_steps`` (1..4, numeric),
is :data:`PAPER_CONTEXTS`.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from gambitts.errors import InputError

#: Names a context variable may not have: they name other coordinates or variables of
#: databases and results files (a variable called ``t`` would replace the round coordinate).
RESERVED_NAMES: frozenset[str] = frozenset(
    {"cell", "prompt", "draw", "dim", "z", "n_draws", "message", "agent", "replicate", "t",
     "arm", "setting", "regret", "action", "reward", "optimal_action", "context_cell",
     "expected_reward", "arm_prompt", "noise_sd", "noise_level", "n_prompts", "modelled_dim",
     "draws_per_cell", "n_dims", "context_probabilities", "chain", "feature", "refit",
     "variable"}
)  # fmt: skip
#: Most cells a space may have: results store a round's cell as a 16-bit integer.
MAX_CELLS = 32_767
#: Separator of level labels in a cell label, e.g. ``"home/1"``.
CELL_LABEL_SEPARATOR = "/"


class ContextSpaceError(InputError):
    """A context space, or a context given against one, is invalid."""


@dataclass(frozen=True)
class ContextVariable:
    """One context variable: a name and its levels, with optional numeric values.

    Parameters
    ----------
    name : str
        A plain identifier (it names a NetCDF coordinate and a long-format column).
    levels : sequence of str
        Level labels, in order; numbers are turned into their text (``1`` -> ``"1"``).
    values : sequence of float, optional
        One number per level. Given, the variable enters stage 2 as one numeric column (e.g.
        a binned step count as 1..4); otherwise as one-hot columns, one per level.
    """

    name: str
    levels: tuple[str, ...]
    values: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ContextSpaceError(
                f"a context variable's `name` must be a plain identifier (letters, digits, _), "
                f"got {self.name!r}"
            )
        if isinstance(self.levels, str | bytes) or not isinstance(self.levels, Sequence):
            raise ContextSpaceError(
                f"context variable {self.name!r}: `levels` must be a list, got {self.levels!r}"
            )
        levels = tuple(_level_text(level, self.name) for level in self.levels)
        if len(levels) < 1 or len(set(levels)) != len(levels):
            raise ContextSpaceError(
                f"context variable {self.name!r}: `levels` must be distinct and not empty, "
                f"got {list(levels)}"
            )
        if self.name in RESERVED_NAMES:
            raise ContextSpaceError(
                f"a context variable cannot be called {self.name!r}: that name is taken in "
                "databases and results files; rename the column or variable"
            )
        object.__setattr__(self, "levels", levels)
        if self.values is not None:
            values = tuple(self.values) if isinstance(self.values, Sequence) else None
            if (
                values is None
                or len(values) != len(levels)
                or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)
                    for v in values
                )
            ):
                raise ContextSpaceError(
                    f"context variable {self.name!r}: `values` must be {len(levels)} finite "
                    f"numbers, one per level {list(levels)}, got {self.values!r}"
                )
            object.__setattr__(self, "values", tuple(float(v) for v in values))

    @property
    def numeric(self) -> bool:
        """Whether the variable enters stage 2 as one numeric column (else one-hot)."""
        return self.values is not None

    def level_index(self, level: Any) -> int:
        """Return the position of ``level`` (a label, or a number written as one)."""
        text = _level_text(level, self.name)
        if text not in self.levels:
            raise ContextSpaceError(
                f"context variable {self.name!r} has no level {level!r}; its levels are "
                f"{list(self.levels)}"
            )
        return self.levels.index(text)

    def to_dict(self) -> dict[str, Any]:
        """Return the variable as plain data (YAML, JSON)."""
        data: dict[str, Any] = {"name": self.name, "levels": list(self.levels)}
        if self.values is not None:
            data["values"] = list(self.values)
        return data


@dataclass(frozen=True)
class ContextSpace:
    """The context variables of a study, its cells, and how contexts arrive.

    Parameters
    ----------
    variables : sequence of ContextVariable
        At least one; names distinct.
    cells : sequence of sequence of str, optional
        The allowed combinations of levels, one label per variable, in cell order. Default:
        every combination, the first variable varying slowest.
    probabilities : sequence of float, optional
        How often each cell arrives, in cell order (summing to 1). Default: uniformly.

    Raises
    ------
    ContextSpaceError
        With a one-line message naming what is wrong.
    """

    variables: tuple[ContextVariable, ...]
    cells: tuple[tuple[str, ...], ...] | None = None
    probabilities: tuple[float, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        variables = tuple(self.variables) if isinstance(self.variables, Sequence) else ()
        if not variables or not all(isinstance(v, ContextVariable) for v in variables):
            raise ContextSpaceError(
                f"a context space needs at least one ContextVariable, got {self.variables!r}"
            )
        names = [v.name for v in variables]
        if len(set(names)) != len(names):
            raise ContextSpaceError(f"context variable names must be distinct, got {names}")
        object.__setattr__(self, "variables", variables)
        if self.cells is not None:
            object.__setattr__(self, "cells", self._checked_cells(self.cells))
        n_cells = (
            len(self.cells)
            if self.cells is not None
            else math.prod(len(v.levels) for v in variables)
        )  # counted before the cells are built, which a huge product could not be
        if n_cells > MAX_CELLS:
            raise ContextSpaceError(
                f"a context space may have at most {MAX_CELLS} cells, got {n_cells}; "
                "bin or drop context variables"
            )
        if self.probabilities is not None:
            object.__setattr__(self, "probabilities", self._checked_probabilities())

    def _checked_cells(self, cells: Any) -> tuple[tuple[str, ...], ...]:
        if isinstance(cells, str) or not isinstance(cells, Sequence) or not cells:
            raise ContextSpaceError(
                f"`cells` must be a non-empty list of combinations, got {cells!r}"
            )
        checked = []
        for cell in cells:
            if (
                isinstance(cell, str)
                or not isinstance(cell, Sequence)
                or len(cell) != len(self.variables)
            ):
                raise ContextSpaceError(
                    f"each of `cells` must give one level of each of {self.names}, got {cell!r}"
                )
            checked.append(
                tuple(
                    variable.levels[variable.level_index(level)]
                    for variable, level in zip(self.variables, cell, strict=True)
                )
            )
        if len(set(checked)) != len(checked):
            raise ContextSpaceError(f"`cells` must not repeat a combination, got {checked}")
        return tuple(checked)

    def _checked_probabilities(self) -> tuple[float, ...]:
        probabilities = self.probabilities
        ok = isinstance(probabilities, Sequence) and len(probabilities) == self.n_cells
        if ok:
            array = (
                np.asarray(probabilities, dtype=float)
                if all(
                    isinstance(p, int | float) and not isinstance(p, bool) for p in probabilities
                )
                else None
            )
            ok = array is not None and bool(np.all(array >= 0)) and abs(array.sum() - 1) < 1e-9
        if not ok:
            raise ContextSpaceError(
                f"`probabilities` must be {self.n_cells} non-negative numbers summing to 1, one "
                f"per cell {list(self.cell_labels)}, got {probabilities!r}"
            )
        return tuple(float(p) for p in probabilities)

    # -- the cells -----------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the context variables, in order."""
        return tuple(v.name for v in self.variables)

    def variable(self, name: str) -> ContextVariable:
        """Return the context variable called ``name``."""
        for variable in self.variables:
            if variable.name == name:
                return variable
        raise ContextSpaceError(
            f"unknown context variable {name!r}; the context variables are {list(self.names)}"
        )

    @cached_property
    def cell_levels(self) -> np.ndarray:
        """Level index of each variable in each cell, shape ``(n_cells, n_variables)``."""
        if self.cells is None:
            combos = itertools.product(*(range(len(v.levels)) for v in self.variables))
            return np.array(list(combos), dtype=np.int64).reshape(-1, len(self.variables))
        return np.array(
            [[v.levels.index(level) for v, level in zip(self.variables, cell, strict=True)]
             for cell in self.cells],
            dtype=np.int64,
        )  # fmt: skip

    @property
    def n_cells(self) -> int:
        """Number of context cells."""
        return len(self.cell_levels)

    @cached_property
    def cell_labels(self) -> tuple[str, ...]:
        """Label of each cell: its levels joined by ``/``, e.g. ``"home/1"``."""
        return tuple(
            CELL_LABEL_SEPARATOR.join(v.levels[i] for v, i in zip(self.variables, row, strict=True))
            for row in self.cell_levels
        )

    def cell_level_labels(self, name: str) -> tuple[str, ...]:
        """Return the level label of variable ``name`` in each cell, in cell order."""
        position = self.names.index(self.variable(name).name)
        levels = self.variables[position].levels
        return tuple(levels[i] for i in self.cell_levels[:, position])

    def cell_index(self, context: Mapping[str, Any]) -> int:
        """Return the index of the cell of ``context`` (one level per variable, by name).

        Raises
        ------
        ContextSpaceError
            If a variable is missing or unknown, a level is unknown, or the combination is not
            one of the study's cells.
        """
        return int(
            self.cell_indices({name: [value] for name, value in _as_dict(context).items()})[0]
        )

    def cell_indices(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """Return the cell index of each row of ``columns`` (one sequence per variable).

        Raises
        ------
        ContextSpaceError
            Naming the variable, the row and the unknown level or combination.
        """
        missing = [name for name in self.names if name not in columns]
        unknown = [name for name in columns if name not in self.names]
        if missing or unknown:
            raise ContextSpaceError(
                f"a context must give exactly the variables {list(self.names)}; "
                f"missing {missing}, unknown {unknown}"
            )
        codes = []
        for variable in self.variables:
            texts = [_level_text(level, variable.name) for level in columns[variable.name]]
            position = {level: i for i, level in enumerate(variable.levels)}
            column = np.array([position.get(text, -1) for text in texts], dtype=np.int64)
            bad = np.flatnonzero(column < 0)
            if bad.size:
                raise ContextSpaceError(
                    f"context variable {variable.name!r} has no level "
                    f"{list(columns[variable.name])[bad[0]]!r} (row {bad[0] + 1}); its levels are "
                    f"{list(variable.levels)}"
                )
            codes.append(column)
        lookup = {tuple(row): cell for cell, row in enumerate(self.cell_levels.tolist())}
        rows = np.stack(codes, axis=1) if codes else np.empty((0, 0), dtype=np.int64)
        cells = np.array([lookup.get(tuple(row), -1) for row in rows.tolist()], dtype=np.int64)
        bad = np.flatnonzero(cells < 0)
        if bad.size:
            combination = {v.name: v.levels[rows[bad[0], i]] for i, v in enumerate(self.variables)}
            raise ContextSpaceError(
                f"the context {combination} (row {bad[0] + 1}) is not one of the study's cells"
            )
        return cells

    # -- how contexts arrive ------------------------------------------------------------------

    def with_probabilities(self, probabilities: Sequence[float] | None) -> ContextSpace:
        """Return the same cells arriving with ``probabilities`` (``None``: uniformly).

        Raises
        ------
        ContextSpaceError
            Unless there is one non-negative probability per cell and they sum to 1.
        """
        return replace(self, probabilities=probabilities)

    @property
    def uniform(self) -> bool:
        """Whether every cell arrives equally often."""
        return self.probabilities is None

    def draw_cells(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` context cells from the arrival distribution."""
        if self.uniform:
            return rng.integers(0, self.n_cells, size)
        return rng.choice(self.n_cells, size=size, p=np.asarray(self.probabilities))

    # -- stage-2 features ----------------------------------------------------------------------

    @cached_property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the columns of :meth:`features`: numeric variables, then one-hot levels."""
        numeric = [v.name for v in self.variables if v.numeric]
        onehot = [
            f"{v.name}[{level}]" for v in self.variables if not v.numeric for level in v.levels
        ]
        return tuple(numeric + onehot)

    def features(self) -> np.ndarray:
        """Return the stage-2 context features of every cell, shape ``(n_cells, n_features)``."""
        columns = []
        for position, variable in enumerate(self.variables):
            if variable.numeric:
                columns.append(np.asarray(variable.values)[self.cell_levels[:, position]][:, None])
        for position, variable in enumerate(self.variables):
            if not variable.numeric:
                columns.append(np.eye(len(variable.levels))[self.cell_levels[:, position]])
        return np.concatenate(columns, axis=1)

    # -- plain data and NetCDF ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the space as plain data (the form a study file and NetCDF attributes hold)."""
        data: dict[str, Any] = {"variables": [v.to_dict() for v in self.variables]}
        if self.cells is not None:
            data["cells"] = [list(cell) for cell in self.cells]
        if self.probabilities is not None:
            data["probabilities"] = list(self.probabilities)
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "context space") -> ContextSpace:
        """Validate plain data (as from YAML or JSON) into a :class:`ContextSpace`."""
        if not isinstance(data, Mapping):
            raise ContextSpaceError(f"{where} must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - {"variables", "cells", "probabilities"})
        if unknown:
            raise ContextSpaceError(
                f"{where}: unknown key(s) {unknown}; valid keys are cells, probabilities, variables"
            )
        entries = data.get("variables")
        if not isinstance(entries, list) or not entries:
            raise ContextSpaceError(f"{where}: `variables` must be a non-empty list")
        variables = []
        for entry in entries:
            if (
                not isinstance(entry, Mapping)
                or not {"name", "levels"} <= set(entry)
                or set(entry) - {"name", "levels", "values"}
            ):
                raise ContextSpaceError(
                    f"{where}: each variable needs `name` and `levels` (and optional `values`), "
                    f"got {entry!r}"
                )
            variables.append(ContextVariable(entry["name"], entry["levels"], entry.get("values")))
        return cls(tuple(variables), data.get("cells"), data.get("probabilities"))

    def to_json(self) -> str:
        """Return :meth:`to_dict` as JSON (how files store the space in an attribute)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = "context space") -> ContextSpace:
        """Read a space written by :meth:`to_json`."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            raise ContextSpaceError(f"{where} is not valid JSON: {str(text)[:60]!r}") from None
        return cls.from_dict(data, where)

    def coords(self) -> dict[str, Any]:
        """Return xarray coordinates along ``cell``: its labels and one per variable.

        ``ds.set_xindex(name).sel({name: level})`` then selects by a variable's level.
        """
        coords: dict[str, Any] = {"cell": list(self.cell_labels)}
        for name in self.names:
            coords[name] = ("cell", list(self.cell_level_labels(name)))
        return coords


def _level_text(level: Any, name: str) -> str:
    """Return a level label as text: ``1`` and ``"1"`` are the same level; ``1.5`` is refused."""
    if isinstance(level, np.generic):
        level = level.item()
    if isinstance(level, bool):
        raise ContextSpaceError(f"context variable {name!r}: a level cannot be {level!r}")
    if isinstance(level, int):
        return str(level)
    if isinstance(level, float) and level.is_integer():
        return str(int(level))
    if isinstance(level, str) and level.strip() and level == level.strip():
        return level
    raise ContextSpaceError(
        f"context variable {name!r}: levels must be non-empty labels without surrounding "
        f"spaces, or whole numbers, got {level!r}"
    )


def _as_dict(context: Any) -> dict[str, Any]:
    if not isinstance(context, Mapping):
        raise ContextSpaceError(f"a context must map variable names to levels, got {context!r}")
    return dict(context)


#: The paper's context space: location (one-hot) x yesterday's binned step count (numeric 1..4).
PAPER_CONTEXTS = ContextSpace(
    (
        ContextVariable("curr_loc", ("home", "work", "other")),
        ContextVariable("prev_steps", ("1", "2", "3", "4"), values=(1, 2, 3, 4)),
    )
)
