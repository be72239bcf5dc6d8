"""Outcome worlds of a user's own, defined inline in an experiment file.

Besides the paper's named worlds (``outcome_model: linear_3d``), an experiment may define its
world in place::

    outcome_model:
      type: linear
      coefs: {warmth: 0.8, urgency: -0.3}
      intercept: 7.0
      context_coefs: {time_of_day: {evening: 0.4}, sleep: 0.1}   # per level, or x numeric values
      noise_sd: [0.5, 1.0, 2.0]                                   # noise_level 0, 1, 2

    outcome_model:
      type: python
      function: "studies/sleep_world.py:expected_reward"
      dims: [warmth, urgency, length]
      noise_sd: 1.0

A Python world is called once, vectorised, on every database row:
``expected_reward(z, context) -> array of shape (n_rows,)``, where ``z`` is a float array
``(n_rows, len(dims))`` of the named dims and ``context`` maps each context variable's name to
an array ``(n_rows,)`` of the row's level labels. Its source (and the local modules it imports)
is part of the results key, so editing it reruns its configurations. Like a custom agent's
builder, the function runs with your permissions: an experiment file is code.

:class:`OutcomeDefinition` is the validated, hashable definition an experiment holds;
:meth:`OutcomeDefinition.build` makes the :class:`~gambitts.sims.worlds.outcomes.OutcomeModel`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from gambitts.design.promptdb import PromptDatabase
from gambitts.errors import InputError
from gambitts.sims.worlds.outcomes import LinearOutcome, OutcomeModel, _context_terms
from gambitts.user_code import check_reference, import_function

WORLD_TYPES: tuple[str, ...] = ("linear", "python")
_KEYS = {
    "linear": {"type", "name", "coefs", "intercept", "context_coefs", "noise_sd"},
    "python": {"type", "name", "function", "dims", "noise_sd"},
}
_REQUIRED = {"linear": {"coefs", "noise_sd"}, "python": {"function", "dims", "noise_sd"}}


@dataclass(frozen=True)
class OutcomeDefinition:
    """A user's outcome world as written in an experiment file, validated and hashable.

    Parameters
    ----------
    text : str
        The definition as canonical JSON (sorted keys); build one with :meth:`from_mapping`.
    """

    text: str

    @classmethod
    def from_mapping(cls, mapping: Any, where: str = "outcome_model") -> OutcomeDefinition:
        """Validate an inline ``outcome_model`` mapping (see the module notes).

        Raises
        ------
        InputError
            One line naming the key and what it must be.
        """
        if not isinstance(mapping, dict):
            raise InputError(f"{where} must be a shipped world's name or a mapping")
        kind = mapping.get("type")
        if kind not in WORLD_TYPES:
            raise InputError(f"{where}: `type` must be one of {list(WORLD_TYPES)}, got {kind!r}")
        unknown = sorted(set(mapping) - _KEYS[kind])
        missing = sorted(_REQUIRED[kind] - set(mapping))
        if unknown or missing:
            raise InputError(
                f"{where} ({kind}): unknown key(s) {unknown}, missing key(s) {missing}; valid "
                f"keys are {sorted(_KEYS[kind])}"
            )
        clean: dict[str, Any] = {"type": kind, "name": _name(mapping.get("name", "custom"), where)}
        clean["noise_sd"] = _noise_grid(mapping["noise_sd"], where)
        if kind == "linear":
            clean["coefs"] = _coefficients(mapping["coefs"], where)
            clean["intercept"] = _number(mapping.get("intercept", 0.0), f"{where}: `intercept`")
            terms = mapping.get("context_coefs", {})
            try:
                clean["context_coefs"] = _context_terms(clean["name"], terms)
            except (InputError, TypeError, ValueError) as error:
                raise InputError(f"{where}: `context_coefs`: {error}") from None
        else:
            function = mapping["function"]
            check_reference(function, f"{where}: `function`")
            clean["function"] = function
            clean["dims"] = _dims(mapping["dims"], where)
        return cls(json.dumps(clean, sort_keys=True))

    @cached_property
    def fields(self) -> dict[str, Any]:
        """The definition as plain data."""
        return json.loads(self.text)

    def has_setting(self, path: str) -> bool:
        """Whether ``path`` names a key of the definition, e.g. ``"coefs.warmth"``."""
        value: Any = self.fields
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                return False
            value = value[part]
        return True

    def with_setting(
        self, path: str, value: Any, where: str = "outcome_model"
    ) -> OutcomeDefinition:
        """Return the definition with the key at ``path`` set to ``value``, validated again.

        Raises
        ------
        InputError
            If there is no such key or the changed definition is invalid.
        """
        if not self.has_setting(path):
            raise InputError(f"{where}: the world defines no key {path!r}")
        mapping = json.loads(self.text)
        *parents, last = path.split(".")
        parent = mapping
        for part in parents:
            parent = parent[part]
        parent[last] = value
        return OutcomeDefinition.from_mapping(mapping, where)

    @property
    def name(self) -> str:
        """The world's label in results (``custom`` unless the definition names it)."""
        return self.fields["name"]

    @property
    def n_noise_levels(self) -> int:
        """How many noise levels the world offers (``noise_level`` 0 .. n - 1)."""
        return len(self.fields["noise_sd"])

    @property
    def function(self) -> str:
        """A Python world's function reference (``""`` for a linear world)."""
        return self.fields.get("function", "")

    def build(self) -> OutcomeModel:
        """Return the outcome model this definition describes."""
        fields = self.fields
        noise = tuple(fields["noise_sd"])
        if fields["type"] == "linear":
            return LinearOutcome(
                name=fields["name"],
                intercept=fields["intercept"],
                context_terms=fields["context_coefs"],
                rmse=noise[-1],
                coefs=dict(fields["coefs"]),
                noise_sds=noise,
            )
        return FunctionOutcome(
            name=fields["name"],
            intercept=0.0,
            context_terms={},
            rmse=noise[-1],
            function=fields["function"],
            input_dims=tuple(fields["dims"]),
            noise_sds=noise,
        )


@dataclass(frozen=True)
class FunctionOutcome(OutcomeModel):
    """An outcome world given by a user's vectorised Python function (see the module notes).

    Attributes
    ----------
    function : str
        ``"path/to/file.py:name"`` or ``"package.module:name"``.
    input_dims : tuple of str
        The style dimensions passed to the function, in order.
    """

    function: str = ""
    input_dims: tuple[str, ...] = field(default=())

    @property
    def dims(self) -> tuple[str, ...]:
        """Style dimensions the function reads."""
        return self.input_dims

    def row_effects(self, db: PromptDatabase, prompts: np.ndarray | None = None) -> np.ndarray:
        """Return the function's expected reward of every database row, (prompt, cell, draw).

        Rows beyond a cell's ``n_draws`` hold 0; the context of a row is its cell's levels.

        Raises
        ------
        InputError
            If the function fails, or returns anything but one finite number per row.
        """
        prompts = np.arange(db.n_prompts) if prompts is None else np.asarray(prompts)
        valid = db.draw_mask()[prompts]
        z = db.z[prompts][..., db.dim_index(self.dims)][valid]
        cells = np.broadcast_to(np.arange(db.n_cells)[None, :, None], valid.shape)[valid]
        context = {
            name: np.asarray(db.contexts.cell_level_labels(name))[cells]
            for name in db.contexts.names
        }
        values = self._call(z, context)
        effects = np.zeros(valid.shape)
        effects[valid] = values
        return effects

    def _call(self, z: np.ndarray, context: dict[str, np.ndarray]) -> np.ndarray:
        where = f"outcome function {self.function!r}"
        function = import_function(self.function, where)
        try:
            values = function(z.copy(), {name: column.copy() for name, column in context.items()})
        except Exception as error:  # the user's code failed: say where, in one line
            message = " ".join(str(error).split())
            raise InputError(f"{where} raised {type(error).__name__}: {message}") from error
        try:
            values = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            values = None
        if values is None or values.shape != (len(z),):
            raise InputError(
                f"{where} must return one number per row, an array of shape ({len(z)},), got "
                f"{type(values).__name__ if values is None else values.shape}"
            )
        if not np.isfinite(values).all():
            raise InputError(f"{where} returned a non-finite expected reward")
        return values

    def treatment_effect(self, z: np.ndarray) -> np.ndarray:
        """Not defined: a Python world's reward depends on the context too (see row_effects)."""
        raise InputError(
            f"outcome function {self.function!r} depends on the context; use row_effects"
        )


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: `name` must be a non-empty string, got {value!r}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise InputError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _noise_grid(value: Any, where: str) -> list[float]:
    values = value if isinstance(value, list) else [value]
    grid = [_number(v, f"{where}: `noise_sd`") for v in values]
    if not grid or any(v < 0 for v in grid):
        raise InputError(
            f"{where}: `noise_sd` must be a non-negative number or a non-empty list of them "
            f"(one per noise level), got {value!r}"
        )
    return grid


def _coefficients(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise InputError(
            f"{where}: `coefs` must map style dimensions to coefficients, e.g. "
            f"{{optimism: 1.0}}; got {value!r}"
        )
    return {str(dim): _number(c, f"{where}: `coefs` of {dim!r}") for dim, c in value.items()}


def _dims(value: Any, where: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list) or not value:
        raise InputError(f"{where}: `dims` must be a list of style-dimension names, got {value!r}")
    if not all(isinstance(dim, str) for dim in value) or len(set(value)) != len(value):
        raise InputError(f"{where}: `dims` must be distinct names, got {value!r}")
    return list(value)
