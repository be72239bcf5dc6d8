"""Experiment definitions: which world, which agents, how long, how many replicates.

Experiments are data. The paper's blocks ship in ``data/experiments.yaml``; each entry is
validated into an :class:`ExperimentSpec` (unknown keys and wrong types are errors).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from gambitts.agents import Agent, FoGAMBITTS, PoGAMBITTS, StdTS
from gambitts.models.priors import LinearPrior
from gambitts.sims.contexts import N_CELLS, context_features

AGENT_KINDS: tuple[str, ...] = ("StdTS", "StdTS:Contextual", "poGAMBITTS", "foGAMBITTS")


class ExperimentError(ValueError):
    """An experiment definition or override is invalid."""


@dataclass(frozen=True)
class AgentSpec:
    """One agent of an experiment.

    Attributes
    ----------
    kind : str
        One of ``StdTS``, ``StdTS:Contextual``, ``poGAMBITTS``, ``foGAMBITTS``.
    label : str
        Name in results and plots; defaults to ``kind``.
    dims : tuple of str
        Modelled style dimensions (two-stage agents only).
    context_features : bool
        Add ``prev_steps`` and one-hot ``curr_loc`` to stage 2.
    prompt_indicators : bool
        Add prompt indicators to stage 2 ("hedged").
    draws_per_cell : int or None
        Generator draws per (cell, prompt) available to poGAMBITTS; ``None`` means all.
    noise : {"known", "unknown"}
        Stage-2 noise model; ``known`` fixes the variance at 1 as the paper did.
    """

    kind: str
    label: str = ""
    dims: tuple[str, ...] = ()
    context_features: bool = False
    prompt_indicators: bool = False
    draws_per_cell: int | None = None
    noise: str = "known"

    def __post_init__(self) -> None:
        if self.kind not in AGENT_KINDS:
            raise ExperimentError(
                f"agent `kind` must be one of {list(AGENT_KINDS)}, got {self.kind!r}"
            )
        if not self.label:
            object.__setattr__(self, "label", self.kind)
        two_stage = self.kind in ("poGAMBITTS", "foGAMBITTS")
        if two_stage and not self.dims:
            raise ExperimentError(
                f"agent {self.label!r}: `dims` must name at least one style dimension"
            )
        if not two_stage and (self.dims or self.context_features or self.prompt_indicators):
            raise ExperimentError(
                f"agent {self.label!r}: `dims`, `context_features` and `prompt_indicators` apply "
                "only to poGAMBITTS and foGAMBITTS"
            )
        if self.draws_per_cell is not None and (
            self.kind != "poGAMBITTS" or self.draws_per_cell < 1
        ):
            raise ExperimentError(
                f"agent {self.label!r}: `draws_per_cell` must be a positive integer and applies "
                f"only to poGAMBITTS, got {self.draws_per_cell!r}"
            )
        if self.noise not in ("known", "unknown"):
            raise ExperimentError(
                f"agent {self.label!r}: `noise` must be 'known' or 'unknown', got {self.noise!r}"
            )

    def build(self, n_arms: int) -> Agent:
        """Create the agent for ``n_arms`` prompts."""
        if self.kind in ("StdTS", "StdTS:Contextual"):
            return StdTS(n_arms, N_CELLS, contextual=self.kind == "StdTS:Contextual")
        agent_class = PoGAMBITTS if self.kind == "poGAMBITTS" else FoGAMBITTS
        agent = agent_class(
            n_arms,
            len(self.dims),
            N_CELLS,
            context_features=context_features() if self.context_features else None,
            prompt_indicators=self.prompt_indicators,
            prior=LinearPrior(noise=self.noise),
        )
        agent.name = self.label
        return agent


@dataclass(frozen=True)
class ExperimentSpec:
    """One experiment block.

    Attributes
    ----------
    name : str
    description : str
    outcome_model : str
        Name of a shipped outcome model (see :func:`gambitts.sims.outcomes.outcome_model_names`).
    n_prompts : int
        Number of prompts (arms), chosen from the database the paper's way.
    noise_levels : tuple of int
        Indices into the noise grid ``sd_0 .. sd_4``.
    horizon : int
    replicates : int
    agents : tuple of AgentSpec
    """

    name: str
    description: str
    outcome_model: str
    n_prompts: int
    noise_levels: tuple[int, ...]
    horizon: int
    replicates: int
    agents: tuple[AgentSpec, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("n_prompts", "horizon", "replicates"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ExperimentError(f"`{name}` must be a positive integer, got {value!r}")
        if self.n_prompts < 2:
            raise ExperimentError(f"`n_prompts` must be at least 2, got {self.n_prompts}")
        if not self.noise_levels or any(level not in range(5) for level in self.noise_levels):
            raise ExperimentError(
                "`noise_levels` must be a non-empty list of levels 0..4 (sd_0 .. sd_4), "
                f"got {list(self.noise_levels)}"
            )
        if not self.agents:
            raise ExperimentError(f"experiment {self.name!r} must list at least one agent")
        labels = [agent.label for agent in self.agents]
        if len(set(labels)) != len(labels):
            raise ExperimentError(
                f"agent labels must be unique, got {labels}; set `label` to tell them apart"
            )

    def with_overrides(self, **overrides: Any) -> ExperimentSpec:
        """Return a copy with the given fields replaced (``None`` values are ignored)."""
        changes = {key: value for key, value in overrides.items() if value is not None}
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the resolved definition as plain data (for files' metadata)."""
        return dataclasses.asdict(self)


def _checked_keys(mapping: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(mapping, dict):
        raise ExperimentError(f"{where} must be a mapping, got {type(mapping).__name__}")
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise ExperimentError(
            f"{where}: unknown key(s) {unknown}; valid keys are {sorted(allowed)}"
        )
    return mapping


def agent_from_dict(mapping: Any, where: str = "agent") -> AgentSpec:
    """Validate one agent entry of an experiment file."""
    fields = {f.name for f in dataclasses.fields(AgentSpec)}
    values = dict(_checked_keys(mapping, fields, where))
    if "dims" in values:
        values["dims"] = tuple(values["dims"])
    return AgentSpec(**values)


def experiment_from_dict(name: str, mapping: Any) -> ExperimentSpec:
    """Validate one experiment entry (as loaded from YAML) into an :class:`ExperimentSpec`."""
    fields = {f.name for f in dataclasses.fields(ExperimentSpec)} - {"name"}
    values = dict(_checked_keys(mapping, fields, f"experiment {name!r}"))
    missing = sorted(fields - {"agents"} - set(values))
    if missing:
        raise ExperimentError(f"experiment {name!r}: missing key(s) {missing}")
    values["noise_levels"] = tuple(values["noise_levels"])
    values["agents"] = tuple(
        agent_from_dict(entry, f"experiment {name!r}, agent {i + 1}")
        for i, entry in enumerate(values.get("agents", ()))
    )
    return ExperimentSpec(name=name, **values)


@cache
def _shipped() -> dict[str, ExperimentSpec]:
    text = resources.files("gambitts.sims").joinpath("data/experiments.yaml").read_text()
    return {name: experiment_from_dict(name, entry) for name, entry in yaml.safe_load(text).items()}


def experiment_names() -> list[str]:
    """Names of the experiments shipped with the package."""
    return list(_shipped())


def load_experiment(name: str) -> ExperimentSpec:
    """Return the shipped experiment ``name``.

    Raises
    ------
    ExperimentError
        If there is no such experiment.
    """
    experiments = _shipped()
    if name not in experiments:
        raise ExperimentError(f"unknown experiment {name!r}; choose one of {list(experiments)}")
    return experiments[name]
