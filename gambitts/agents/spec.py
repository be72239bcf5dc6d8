"""How an experiment describes an agent: one validated, hashable spec class per agent kind.

An experiment file lists agents as mappings, e.g.
``{kind: poGAMBITTS, dims: [optimism], prior: {coef_precision: 0.5}}``. Each kind has one spec
class, a frozen dataclass next to its agent, listed in :mod:`gambitts.agents.registry`. The
spec's fields are what a file may set (any other key is an error) and their annotations say
what each value must be: :class:`AgentSpec` checks every value against them, so a bool is not
a count, ``2.5`` is not a whole number and a string is not a list of names. A field whose type
is a dataclass (a prior, the ensemble's hyper-parameters) is written as a mapping of its fields.

A spec is also what an experiment varies: :meth:`AgentSpec.with_setting` changes one field,
or one field of a prior (``"prior.coef_precision"``), and checks the result.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from gambitts.errors import ExperimentError, shown

if TYPE_CHECKING:
    from gambitts.agents.base import Agent
    from gambitts.design.contexts import ContextSpace

#: Agent labels name results coordinates and NetCDF groups: printable, no path separators.
_LABEL = re.compile(r"^(?![.])[^/\\\x00-\x1f\x7f]{1,100}$")


@dataclass(frozen=True)
class AgentSpec:
    """The validated description of one agent of an experiment (base of every kind's spec).

    Attributes
    ----------
    label : str
        Name in results and plots; defaults to the kind.
    kind : str
        The registry name of the agent kind (a class attribute, not a field).
    refits : bool
        Whether the agent refits a model every few rounds (a class attribute; such agents'
        replicates are spread over all workers, and their fit diagnostics are kept).
    """

    kind: ClassVar[str] = ""
    refits: ClassVar[bool] = False

    label: str = ""

    def __post_init__(self) -> None:
        if not self.label and isinstance(self.label, str):
            object.__setattr__(self, "label", self.kind)
        hints = typing.get_type_hints(type(self))
        for spec_field in dataclasses.fields(self):
            name = spec_field.name
            value = check_value(self.where, name, getattr(self, name), hints[name])
            object.__setattr__(self, name, value)
        if not _LABEL.match(self.label):
            raise ExperimentError(
                f"agent label {shown(self.label)} must be printable text without `/`, `\\` or a "
                "leading `.` (it names groups and columns of the results file)"
            )
        self.check()

    @property
    def where(self) -> str:
        """How error messages name this agent."""
        label = self.label if isinstance(self.label, str) and self.label else self.kind
        return f"agent {label!r}"

    def check(self) -> None:
        """Check rules between fields (each field's type is already checked)."""

    @property
    def modelled_dims(self) -> tuple[str, ...]:
        """The style dimensions the agent models (none for agents of the reward alone)."""
        return ()

    @property
    def draws_wanted(self) -> int | None:
        """Generator draws per (cell, prompt) the agent may use; ``None`` for all.

        The agent's ``draws_per_cell`` for the kinds that have that setting.
        """
        return getattr(self, "draws_per_cell", None)

    def build(self, n_arms: int, contexts: ContextSpace, noise_sd: float | None = None) -> Agent:
        """Create the agent for ``n_arms`` prompts in the cells of ``contexts``, named by label.

        ``noise_sd`` is the world's true reward noise; only agents that were given it in the
        paper (the ensemble's paper presets) read it.
        """
        agent = self.make_agent(n_arms, contexts, noise_sd)
        agent.name = self.label
        return agent

    def make_agent(
        self, n_arms: int, contexts: ContextSpace, noise_sd: float | None = None
    ) -> Agent:
        """Create the agent (each kind's spec says how); :meth:`build` names it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_agent")

    def load_builders(self) -> dict[str, Any]:
        """Import the user's functions the agent runs (none unless it has a custom model)."""
        return {}

    def sources(self) -> list[str]:
        """Return the user's functions (references) whose source decides the results."""
        return []

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as plain data, ``kind`` first: what identifies its results."""
        return {"kind": self.kind, **dataclasses.asdict(self)}

    def has_setting(self, path: str) -> bool:
        """Whether ``path`` (a field, or ``field.subfield`` of a prior) is one of this spec's.

        ``label`` names the agent in results and is not a setting.
        """
        if path == "label":
            return False
        value: Any = self
        for part in path.split("."):
            if not dataclasses.is_dataclass(value) or part not in _field_names(value):
                return False
            value = getattr(value, part)
        return True

    def with_setting(self, path: str, value: Any) -> AgentSpec:
        """Return a copy with the field at ``path`` set to ``value``, checked like a file's.

        Raises
        ------
        ExperimentError
            If the spec has no such field or the value does not fit it.
        """
        if not self.has_setting(path):
            raise ExperimentError(f"{self.where} ({self.kind}) has no setting {path!r}")
        head, _, rest = path.partition(".")
        if rest:  # rebuild the nested dataclass from a mapping, so its values are checked too
            value = _as_mapping_with(getattr(self, head), rest, value)
        return dataclasses.replace(self, **{head: value})


def _field_names(instance: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(instance)}


def _as_mapping_with(instance: Any, path: str, value: Any) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    mapping = {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)}
    mapping[head] = _as_mapping_with(mapping[head], rest, value) if rest else value
    return mapping


def check_value(where: str, name: str, value: Any, annotation: Any) -> Any:
    """Return ``value`` checked against the type ``annotation`` (converted where lossless).

    Understands ``bool``, ``int``, ``float`` (an int is accepted and converted), ``str``,
    ``Literal[...]``, ``X | None``, ``tuple[X, ...]``, fixed-length tuples (a list is accepted)
    and dataclasses (an instance, or a mapping of its fields).

    Raises
    ------
    ExperimentError
        ``"<where>: `<name>` must be <what>, got <value>"``.
    """
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in arguments:
            return None
        (inner,) = [a for a in arguments if a is not type(None)]
        return check_value(where, name, value, inner)
    if origin is typing.Literal:
        if not isinstance(value, str) or value not in arguments:
            _refuse(where, name, value, f"one of {list(arguments)}")
        return value
    if origin is tuple:
        return _check_tuple(where, name, value, arguments)
    if dataclasses.is_dataclass(annotation):
        return _check_dataclass(where, name, value, annotation)
    if annotation is bool:
        if not isinstance(value, bool):
            _refuse(where, name, value, "true or false")
    elif annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _refuse(where, name, value, "a whole number")
    elif annotation is float:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not _finite(value):
            _refuse(where, name, value, "a finite number")
        return float(value)
    elif annotation is str:
        if not isinstance(value, str):
            _refuse(where, name, value, "a string")
    else:  # a spec declared a field of a type this checker does not know
        raise TypeError(f"{where}: field `{name}` has an unsupported type {annotation!r}")
    return value


def _check_tuple(where: str, name: str, value: Any, arguments: tuple) -> tuple:
    if isinstance(value, str) or not isinstance(value, tuple | list):
        items = "names, e.g. [a, b]" if arguments[0] is str else "values"
        _refuse(where, name, value, f"a list of {items}")
    if len(arguments) == 2 and arguments[1] is Ellipsis:
        items = [check_value(where, name, item, arguments[0]) for item in value]
        if len(set(items)) != len(items):
            raise ExperimentError(f"{where}: `{name}` must not repeat a value, got {shown(value)}")
        return tuple(items)
    if len(value) != len(arguments):
        _refuse(where, name, value, f"a list of {len(arguments)} values")
    return tuple(check_value(where, name, v, a) for v, a in zip(value, arguments, strict=True))


def _check_dataclass(where: str, name: str, value: Any, cls: type) -> Any:
    if isinstance(value, cls):
        return value
    allowed = [f.name for f in dataclasses.fields(cls) if f.init]
    if not isinstance(value, Mapping):
        _refuse(where, name, value, f"a mapping of {allowed}")
    unknown = sorted(set(value) - set(allowed), key=str)
    if unknown:
        raise ExperimentError(
            f"{where}: `{name}` has unknown key(s) {unknown}; valid keys are {allowed}"
        )
    hints = typing.get_type_hints(cls)
    checked = {
        key: check_value(where, f"{name}.{key}", item, hints[key]) for key, item in value.items()
    }
    try:
        return cls(**checked)
    except ValueError as error:
        raise ExperimentError(f"{where}: `{name}`: {error}") from None


def _finite(number: float) -> bool:
    """Whether ``number`` is a finite float (an integer too large for a float is not)."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def _refuse(where: str, name: str, value: Any, wanted: str) -> typing.NoReturn:
    raise ExperimentError(f"{where}: `{name}` must be {wanted}, got {shown(value)}")
