"""Every agent kind an experiment may name, with its spec class.

Adding an agent kind is one new module (the agent and its :class:`~gambitts.agents.spec.AgentSpec`
subclass) and one line in :data:`AGENT_SPECS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from gambitts.agents.custom import CustomPoGAMBITTSSpec
from gambitts.agents.custom_fo import CustomFoGAMBITTSSpec
from gambitts.agents.ensemble import EnsPoGAMBITTSSpec
from gambitts.agents.spec import AgentSpec
from gambitts.agents.stdts import StdTSContextualSpec, StdTSSpec
from gambitts.agents.two_stage import FoGAMBITTSSpec, PoGAMBITTSSpec
from gambitts.errors import ExperimentError, InputError, shown

#: Agent kind -> its spec class, in the order the documentation lists them.
AGENT_SPECS: dict[str, type[AgentSpec]] = {
    spec.kind: spec
    for spec in (
        StdTSSpec,
        StdTSContextualSpec,
        PoGAMBITTSSpec,
        FoGAMBITTSSpec,
        EnsPoGAMBITTSSpec,
        CustomPoGAMBITTSSpec,
        CustomFoGAMBITTSSpec,
    )
}


def agent_spec(kind: str, **fields: Any) -> AgentSpec:
    """Return the validated spec of an agent of ``kind`` with ``fields``.

    Raises
    ------
    ExperimentError
        For an unknown kind, a field the kind does not have, or a value that does not fit.
    """
    return agent_from_dict({"kind": kind, **fields})


def agent_from_dict(mapping: Any, where: str = "agent") -> AgentSpec:
    """Validate one agent entry of an experiment file, e.g. ``{kind: StdTS, label: base}``."""
    if not isinstance(mapping, Mapping):
        raise ExperimentError(f"{where} must be a mapping with a `kind`, got {shown(mapping)}")
    fields = dict(mapping)
    kind = fields.pop("kind", None)
    if not isinstance(kind, str) or kind not in AGENT_SPECS:
        raise ExperimentError(
            f"{where}: `kind` must be one of {list(AGENT_SPECS)}, got {shown(kind)}"
        )
    spec_class = AGENT_SPECS[kind]
    allowed = [spec_field.name for spec_field in dataclasses.fields(spec_class)]
    unknown = sorted(set(fields) - set(allowed), key=str)
    if unknown:
        raise ExperimentError(
            f"{where}: {kind} has no setting(s) {unknown}; its settings are {allowed}"
        )
    if fields.get("label") == "":
        raise ExperimentError(f"{where}: `label` must not be empty; leave it out to use the kind")
    try:
        return spec_class(**fields)
    except InputError as error:
        if where == "agent":
            raise
        label = fields.get("label") or kind
        message = str(error).removeprefix(f"agent {label!r}: ")
        raise type(error)(f"{where} ({label}): {message}") from None
