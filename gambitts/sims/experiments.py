"""Experiment definitions: which world, which agents, how long, how many replicates.

Experiments are data. The paper's blocks ship in ``data/experiments.yaml``; each entry is
validated into an :class:`ExperimentSpec` (unknown keys and wrong types are errors).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from gambitts.agents.registry import agent_from_dict
from gambitts.agents.spec import AgentSpec
from gambitts.errors import ExperimentError, InputError, shown
from gambitts.sims.worlds.custom import OutcomeDefinition
from gambitts.user_code import source_fingerprint
from gambitts.yaml_files import parse_yaml, read_yaml_text

#: What an experiment block may vary by name, and what a value of it means. A block may also
#: vary any setting of its agents, e.g. ``prior.coef_precision`` or ``ensemble.learning_rate``
#: (every agent that has the setting takes the value), and any key of a world defined in the
#: file, prefixed by :data:`WORLD_PREFIX` (``world.intercept``, ``world.coefs.warmth``).
VARIATIONS: dict[str, str] = {
    "noise_level": "reward noise level k of the grid sd_0 .. sd_4",
    "n_prompts": "number of prompts (arms)",
    "modelled_dim": "the one style dimension the two-stage agents model",
    "draws_per_cell": "generator draws per (cell, prompt) for the agents ('all' or a count)",
    "n_dims": "style dimensions of the linear outcome and of the agents (a subset of linear_full)",
    "context_probabilities": "how often each context cell arrives: one probability per cell",
}
#: Variations that change a setting of the agents, and which setting.
_AGENT_AXES = {"modelled_dim": "dims", "draws_per_cell": "draws_per_cell"}
#: Prefix of the axes that vary a key of a world defined in the experiment file.
WORLD_PREFIX = "world."
#: Pairs of axes a ``grid`` may not cross, and why.
GRID_CONFLICTS: dict[frozenset[str], str] = {
    frozenset({"modelled_dim", "n_dims"}): "both set the style dimensions the agents model",
    frozenset({"modelled_dim", "dims"}): "both set the style dimensions the agents model",
    frozenset({"n_dims", "dims"}): "both set the style dimensions the agents model",
}
#: How many axes a ``grid`` crosses.
GRID_AXES = 2
PAPER_DEFAULTS: dict[str, Any] = {
    "n_prompts": 5,
    "noise_level": 0,
    "horizon": 1000,
    "replicates": 250,
}


@dataclass(frozen=True)
class RunConfig:
    """One fully resolved configuration: one world, one agent.

    Results of a configuration do not depend on the experiment it belongs to, so identical
    configurations of different blocks are run once (see :meth:`key`).
    """

    outcome_model: str | OutcomeDefinition
    outcome_dims: tuple[str, ...] | None
    n_prompts: int
    noise_level: int
    horizon: int
    agent: AgentSpec
    context_probabilities: tuple[float, ...] | None = None

    def key(self, seed: int, replicates: int, database: str) -> str:
        """Return a short hash identifying this configuration's results for a run.

        It covers the configuration, seed, replicate count, database, the package's version,
        code and data (:func:`~gambitts.sims.provenance.code_fingerprint`: an upgrade reruns
        everything) and the source files of a custom agent's builders and of a Python world (and
        of the local modules those import: editing one reruns its configurations).
        """
        from gambitts.sims.provenance import code_fingerprint

        payload = {
            **dataclasses.asdict(self),
            "agent": self.agent.to_dict(),
            "seed": seed,
            "replicates": replicates,
            "db": database,
            "code": code_fingerprint(),
        }
        world = self.outcome_model
        functions = [
            *self.agent.sources(),
            world.function if isinstance(world, OutcomeDefinition) else "",
        ]
        sources = [source_fingerprint(r) for r in functions if r]
        if sources:  # results are stale once a builder's or a world's source changes
            payload["sources"] = sources
        text = json.dumps(payload, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Setting:
    """One value of what a block varies (one combination of a grid), with its configurations.

    Attributes
    ----------
    label : str
        Its name, e.g. ``"sd_1"``; a grid's combination joins its axes' labels, ``"sd_1,8"``.
    value : Any
        The value of what the block varies; a grid's is the tuple of its axes' values.
    configs : tuple of RunConfig
        One configuration per agent of the block.
    axes : dict of str to Any
        What each varied axis is set to (empty for a block that varies nothing).
    coords : dict of str to str
        Its coordinate label along each setting dimension of the results, e.g.
        ``{"noise_level": "sd_1", "n_prompts": "8"}`` (``{"setting": "default"}`` for a block
        that varies nothing).
    """

    label: str
    value: Any
    configs: tuple[RunConfig, ...]
    axes: dict[str, Any] = field(default_factory=dict)
    coords: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExperimentSpec:
    """One experiment block.

    Attributes
    ----------
    name : str
    description : str
    outcome_model : str or OutcomeDefinition
        Name of a shipped outcome model (see
        :func:`gambitts.sims.worlds.outcomes.outcome_model_names`), or a world of the user's own
        (see :mod:`gambitts.sims.worlds.custom`).
    agents : tuple of AgentSpec
        Validated specs, one per agent (see :mod:`gambitts.agents.registry`).
    n_prompts : int
        Number of prompts (arms), chosen from the database the paper's way.
    noise_level : int
        Index into the noise grid ``sd_0 .. sd_4``.
    horizon : int
    replicates : int
    vary : str or None
        What the block varies: one of :data:`VARIATIONS`, a setting of its agents (e.g.
        ``prior.coef_precision``) or ``world.<key>`` of a world defined in the file; ``None``
        for a single setting.
    values : tuple
        The values it takes.
    grid : tuple of (str, tuple) pairs
        Instead of ``vary`` and ``values``: two axes (each what ``vary`` may name) with their
        values, crossed (every combination is a setting; the first axis varies slowest). A
        mapping is accepted too. Empty for a block that varies one thing or nothing.
    context_probabilities : tuple of float or None
        How often each context cell arrives, one probability per cell of the database's context
        space; ``None`` keeps the database's arrival distribution.
    """

    name: str
    description: str
    outcome_model: str | OutcomeDefinition
    agents: tuple[AgentSpec, ...]
    n_prompts: int = PAPER_DEFAULTS["n_prompts"]
    noise_level: int = PAPER_DEFAULTS["noise_level"]
    horizon: int = PAPER_DEFAULTS["horizon"]
    replicates: int = PAPER_DEFAULTS["replicates"]
    vary: str | None = None
    values: tuple = ()
    grid: tuple[tuple[str, tuple], ...] = ()
    context_probabilities: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        check_block_name(self.name)
        where = self.where
        _require_type(where, "description", self.description, str, "a string")
        from gambitts.sims.worlds.outcomes import outcome_model_names

        if isinstance(self.outcome_model, dict):
            object.__setattr__(
                self,
                "outcome_model",
                OutcomeDefinition.from_mapping(self.outcome_model, f"{where}: `outcome_model`"),
            )
        if (
            not isinstance(self.outcome_model, OutcomeDefinition)
            and self.outcome_model not in outcome_model_names()
        ):
            raise ExperimentError(
                f"{where}: unknown `outcome_model` {self.outcome_model!r}; choose one of "
                f"{outcome_model_names()}"
            )
        if not isinstance(self.agents, tuple) or not all(
            isinstance(agent, AgentSpec) for agent in self.agents
        ):
            raise ExperimentError(f"{where}: `agents` must be a tuple of agent specs")
        for name in ("n_prompts", "horizon", "replicates"):
            _require_positive_int(name, getattr(self, name))
        if self.n_prompts < 2:
            raise ExperimentError(f"`n_prompts` must be at least 2, got {self.n_prompts}")
        _require_noise_level(self.noise_level, self.n_noise_levels)
        if not self.agents:
            raise ExperimentError(f"{where} must list at least one agent")
        labels = [agent.label for agent in self.agents]
        if len(set(labels)) != len(labels):
            raise ExperimentError(
                f"agent labels must be unique, got {labels}; set `label` to tell them apart"
            )
        if self.context_probabilities is not None:
            object.__setattr__(
                self,
                "context_probabilities",
                _probabilities(self.context_probabilities, f"{where}: `context_probabilities`"),
            )
        if self.grid:
            self._check_grid()
            return
        if self.vary is None:
            if self.values:
                raise ExperimentError("`values` needs `vary` (what the values are of)")
            return
        self._check_axis(self.vary, "`vary`")
        if isinstance(self.values, str) or not isinstance(self.values, tuple | list):
            raise ExperimentError(f"{where}: `values` must be a list, got {shown(self.values)}")
        if not self.values:
            raise ExperimentError(f"`values` must list at least one value of {self.vary!r}")
        object.__setattr__(self, "values", self._checked_values(self.vary, self.values))

    @property
    def where(self) -> str:
        """How error messages name this block."""
        return f"experiment {self.name!r}"

    def _check_axis(self, axis: Any, what: str) -> None:
        """Refuse an axis that is not a variation, a world key or a setting of some agent."""
        where = self.where
        if not isinstance(axis, str):
            raise ExperimentError(f"{where}: {what} must name what varies, got {shown(axis)}")
        custom_world = isinstance(self.outcome_model, OutcomeDefinition)
        if axis == "n_dims" and custom_world:
            raise ExperimentError(
                f"{where}: `n_dims` picks subsets of the paper's linear_full world; a world of "
                "your own has its own dims, so vary the agents' `dims` instead"
            )
        setting = _AGENT_AXES.get(axis, axis)
        if axis in _AGENT_AXES and not any(agent.has_setting(setting) for agent in self.agents):
            raise ExperimentError(
                f"{where}: {what} {axis!r} changes the agents' `{setting}`, which none of this "
                "block's agents has"
            )
        if axis in VARIATIONS:
            return
        if axis.startswith(WORLD_PREFIX):
            key = axis.removeprefix(WORLD_PREFIX)
            if not custom_world:
                raise ExperimentError(
                    f"{where}: {what} {axis!r} varies a key of a world defined in the file; "
                    f"{self.outcome_model!r} is a shipped world"
                )
            if not self.outcome_model.has_setting(key):
                raise ExperimentError(
                    f"{where}: {what} {axis!r}: the world defines no key {key!r}; its keys are "
                    f"{sorted(self.outcome_model.fields)}"
                )
            return
        having = [agent for agent in self.agents if agent.has_setting(axis)]
        if any(dataclasses.is_dataclass(_value_at(agent, axis)) for agent in having):
            raise ExperimentError(
                f"{where}: {what} {axis!r} names a whole group of settings; vary one of them, "
                f"e.g. '{axis}.{dataclasses.fields(_value_at(having[0], axis))[0].name}'"
            )
        if not having:
            raise ExperimentError(
                f"{where}: {what} {axis!r} is none of {list(VARIATIONS)}, no `world.<key>` and "
                "no setting of this block's agents (e.g. 'prior.coef_precision', "
                "'ensemble.learning_rate', 'refit_every')"
            )

    def _checked_values(self, axis: str, values: tuple | list) -> tuple:
        """Return ``values`` of ``axis`` checked by building each one's configurations.

        Lists become tuples (values must be hashable; mappings are refused by
        :meth:`_check_axis`). Two values that give the same configurations (``1`` and ``1.0``)
        are refused, and so is a value whose label cannot name a results group.
        """
        values = tuple(tuple(v) if isinstance(v, list) else v for v in values)
        resolved = {}
        for value in values:
            if (
                isinstance(value, Mapping)
                or isinstance(value, tuple)
                and any(isinstance(item, Mapping | list | tuple) for item in value)
            ):
                raise ExperimentError(
                    f"{self.where}: values of {axis!r} must be numbers, names or flat lists, "
                    f"got {shown(value)}"
                )
            label = _label(axis, value)
            if not _SETTING_LABEL.match(label):
                raise ExperimentError(
                    f"{self.where}: value {shown(value)} of {axis!r} cannot label results (no "
                    "`/`, no leading `.`, at most 100 characters)"
                )
            if axis in VARIATIONS:
                _check_value(axis, value, self.n_noise_levels)
            try:
                configs = tuple(self._configs({axis: value}))
            except InputError as error:
                raise ExperimentError(f"{self.where}, {axis} = {shown(value)}: {error}") from None
            same = resolved.get(configs)
            if same is not None or label in {_label(axis, v) for v in resolved.values()}:
                raise ExperimentError(
                    f"{self.where}: the values of {axis!r} repeat a setting "
                    f"({shown(same if same is not None else value)} and {shown(value)}); list "
                    "each setting once"
                )
            resolved[configs] = value
        return values

    def _check_grid(self) -> None:
        """Validate ``grid`` (and store it as a tuple of ``(axis, values)`` pairs)."""
        where = self.where
        grid = self.grid
        if isinstance(grid, Mapping):
            grid = tuple(grid.items())
        if not isinstance(grid, tuple | list) or not all(
            isinstance(pair, tuple | list) and len(pair) == 2 for pair in grid
        ):
            raise ExperimentError(
                f"{where}: `grid` must map two axes to lists of values, got {shown(self.grid)}"
            )
        if self.vary is not None or self.values:
            raise ExperimentError(
                f"{where}: give either `grid` (two axes) or `vary` and `values` (one), not both"
            )
        if len(grid) != GRID_AXES:
            raise ExperimentError(
                f"{where}: `grid` must cross exactly {GRID_AXES} axes, got {len(grid)} "
                f"({shown([axis for axis, _ in grid])}); for one axis use `vary` and `values`"
            )
        axes = [axis for axis, _ in grid]
        if len(set(map(str, axes))) != len(axes):
            raise ExperimentError(f"{where}: `grid` names {axes[0]!r} twice; cross two axes")
        first, second = sorted(map(str, axes), key=len)
        if second.startswith(first + "."):
            raise ExperimentError(
                f"{where}: `grid` cannot cross {first!r} with {second!r}, a part of it; vary "
                "one of them"
            )
        conflict = GRID_CONFLICTS.get(frozenset(map(str, axes)))
        if conflict is not None:
            raise ExperimentError(
                f"{where}: `grid` cannot cross {axes[0]!r} with {axes[1]!r} ({conflict}); "
                "vary one of them"
            )
        for axis in axes:
            self._check_axis(axis, "`grid` axis")
        pairs = []
        for axis, values in grid:
            if isinstance(values, str) or not isinstance(values, tuple | list) or not values:
                raise ExperimentError(
                    f"{where}: `grid` values of {axis!r} must be a non-empty list, got "
                    f"{shown(values)}"
                )
            pairs.append((axis, self._checked_values(axis, values)))
        object.__setattr__(self, "grid", tuple(pairs))

    @property
    def n_noise_levels(self) -> int:
        """How many noise levels the block's world offers (the paper's worlds: 5)."""
        if isinstance(self.outcome_model, OutcomeDefinition):
            return self.outcome_model.n_noise_levels
        return 5

    @property
    def setting_dims(self) -> list[str]:
        """Names of the results' setting dimensions: the grid's axes, ``vary`` or ``setting``."""
        if self.grid:
            return [axis for axis, _ in self.grid]
        return [self.vary or "setting"]

    @property
    def dim_name(self) -> str:
        """The results' attribute ``varies``: the setting dimensions' names, comma-separated."""
        return ",".join(self.setting_dims)

    def settings(self) -> list[Setting]:
        """Resolve every value of :attr:`vary` (combination of :attr:`grid`) into its runs.

        A grid's combinations come in order, the first axis varying slowest.
        """
        if self.grid:
            axes = [axis for axis, _ in self.grid]
            settings = []
            for combination in itertools.product(*(values for _, values in self.grid)):
                chosen = dict(zip(axes, combination, strict=True))
                coords = {axis: _label(axis, value) for axis, value in chosen.items()}
                settings.append(
                    Setting(
                        ",".join(coords.values()),
                        combination,
                        tuple(self._configs(chosen)),
                        chosen,
                        coords,
                    )
                )
            return settings
        if self.vary is None:
            configs = tuple(self._configs({}))
            return [Setting("default", "default", configs, {}, {"setting": "default"})]
        settings = []
        for value in self.values:
            label = _label(self.vary, value)
            configs = tuple(self._configs({self.vary: value}))
            settings.append(Setting(label, value, configs, {self.vary: value}, {self.vary: label}))
        return settings

    def _configs(self, change: Mapping[str, Any]) -> list[RunConfig]:
        """Return the configurations with the axes in ``change`` set to their values."""
        outcome_model = self.outcome_model
        outcome_dims = dimension_subset(change["n_dims"]) if "n_dims" in change else None
        for axis, value in change.items():
            if axis.startswith(WORLD_PREFIX):
                outcome_model = outcome_model.with_setting(
                    axis.removeprefix(WORLD_PREFIX),
                    list(value) if isinstance(value, tuple) else value,  # as the file wrote it
                    f"{self.where}: `outcome_model`",
                )
        noise_level = change.get("noise_level", self.noise_level)
        if isinstance(outcome_model, OutcomeDefinition):
            _require_noise_level(noise_level, outcome_model.n_noise_levels)
        probabilities = self.context_probabilities
        if "context_probabilities" in change:
            probabilities = _probabilities(change["context_probabilities"], "a probability list")
        configs = []
        for agent in self.agents:
            for axis, value in change.items():
                agent = _agent_with(agent, axis, value)
            configs.append(
                RunConfig(
                    outcome_model=outcome_model,
                    outcome_dims=outcome_dims,
                    n_prompts=change.get("n_prompts", self.n_prompts),
                    noise_level=noise_level,
                    horizon=self.horizon,
                    agent=agent,
                    context_probabilities=probabilities,
                )
            )
        return configs

    def with_overrides(self, **overrides: Any) -> ExperimentSpec:
        """Return a copy with the given fields replaced (``None`` values are ignored)."""
        changes = {key: value for key, value in overrides.items() if value is not None}
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the resolved definition as plain data (for files' metadata).

        Agents appear with their kind. ``grid`` appears only in a grid block's, as a mapping of
        axis to values, and ``context_probabilities`` only where set.
        """
        data = dataclasses.asdict(self)
        data["agents"] = [agent.to_dict() for agent in self.agents]
        if self.grid:
            data["grid"] = {axis: list(values) for axis, values in self.grid}
        else:
            del data["grid"]  # one-axis blocks describe themselves as before grids existed
        if self.context_probabilities is None:
            del data["context_probabilities"]
        return data


def _value_at(spec: Any, path: str) -> Any:
    """Return the value at a dotted ``path`` of a spec (``"prior.coef_precision"``)."""
    for part in path.split("."):
        spec = getattr(spec, part)
    return spec


def _agent_with(agent: AgentSpec, axis: str, value: Any) -> AgentSpec:
    """Return ``agent`` with ``axis`` set to ``value``, if the axis concerns it."""
    if axis == "modelled_dim":
        axis, value = "dims", (value,)
    elif axis == "n_dims":
        axis, value = "dims", dimension_subset(value)
    elif axis == "draws_per_cell":
        value = None if value == "all" else value
    elif axis in VARIATIONS or axis.startswith(WORLD_PREFIX):
        return agent
    return agent.with_setting(axis, value) if agent.has_setting(axis) else agent


def _probabilities(value: Any, where: str) -> tuple[float, ...]:
    """Return ``value`` as a tuple of probabilities (their count is checked with the database)."""
    if isinstance(value, str) or not isinstance(value, tuple | list) or not value:
        raise ExperimentError(
            f"{where} must be a list of probabilities, one per context cell, got {shown(value)}"
        )
    for p in value:
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
            raise ExperimentError(f"{where}: each probability must be in [0, 1], got {shown(p)}")
    return tuple(float(p) for p in value)


#: Setting labels name results coordinates and groups (``posteriors/<label>/...``).
_SETTING_LABEL = re.compile(r"^(?![.])[^/\\\x00-\x1f\x7f]{1,100}$")
#: Block names become file names (``OUT/<name>.nc``, ``OUT/plots/<name>.png``).
_BLOCK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def check_block_name(name: Any) -> None:
    """Refuse a block name that is not a plain file name (it would write outside ``--out``).

    Raises
    ------
    ExperimentError
        Unless ``name`` is 1-100 letters, digits, ``_``, ``.`` or ``-``, starting with a letter
        or digit (so no ``/``, ``..`` or hidden files).
    """
    if not isinstance(name, str) or not _BLOCK_NAME.match(name) or name.endswith("."):
        raise ExperimentError(
            f"experiment name {name!r} is not a plain file name; use letters, digits, `_`, `.` "
            "and `-` only (it names the results file OUT/<name>.nc)"
        )


def dimension_subset(n_dims: int) -> tuple[str, ...]:
    """Return the paper's subset of ``n_dims`` style dimensions for ``scale_dimensions``."""
    from gambitts.sims.worlds.outcomes import dimension_subsets

    subsets = dimension_subsets()
    if n_dims not in subsets:
        raise ExperimentError(f"`n_dims` must be one of {sorted(subsets)}, got {n_dims!r}")
    return subsets[n_dims]


def _label(axis: str, value: Any) -> str:
    """Return a value's label in results: ``sd_1``, ``8``, ``optimism formality``."""
    if axis == "noise_level":
        return f"sd_{value}"
    if isinstance(value, tuple | list):
        return " ".join(_label(axis, item) for item in value)
    return str(value)


def _require_type(where: str, name: str, value: Any, kind: type, wanted: str) -> None:
    """Raise unless ``value`` is a ``kind`` (a bool is not an int, a string not a bool)."""
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise ExperimentError(f"{where}: `{name}` must be {wanted}, got {shown(value)}")


def _require_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ExperimentError(f"`{name}` must be a positive integer, got {value!r}")


def _require_noise_level(value: Any, n_levels: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value not in range(n_levels):
        raise ExperimentError(
            f"noise levels must be 0..{n_levels - 1} (sd_0 .. sd_{n_levels - 1}), got {value!r}"
        )


def _check_value(vary: str, value: Any, n_noise_levels: int) -> None:
    if vary == "noise_level":
        _require_noise_level(value, n_noise_levels)
    elif vary == "n_prompts":
        _require_positive_int("n_prompts", value)
    elif vary == "modelled_dim" and not isinstance(value, str):
        raise ExperimentError(f"`modelled_dim` values must be dimension names, got {value!r}")
    elif vary == "draws_per_cell" and value != "all":
        _require_positive_int("draws_per_cell", value)
    elif vary == "n_dims":
        dimension_subset(value)


def _checked_keys(mapping: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(mapping, dict):
        raise ExperimentError(f"{where} must be a mapping, got {type(mapping).__name__}")
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise ExperimentError(
            f"{where}: unknown key(s) {unknown}; valid keys are {sorted(allowed)}"
        )
    return mapping


def experiment_from_dict(name: str, mapping: Any) -> ExperimentSpec:
    """Validate one experiment entry (as loaded from YAML) into an :class:`ExperimentSpec`."""
    fields = {f.name for f in dataclasses.fields(ExperimentSpec)} - {"name"}
    values = dict(_checked_keys(mapping, fields, f"experiment {name!r}"))
    missing = sorted({"description", "outcome_model", "agents"} - set(values))
    if missing:
        raise ExperimentError(f"experiment {name!r}: missing key(s) {missing}")
    if not isinstance(values.get("values", []), list):
        raise ExperimentError(f"experiment {name!r}: `values` must be a list")
    values["values"] = tuple(values.get("values", ()))
    if "grid" in values:
        grid = values["grid"]
        if not isinstance(grid, dict) or not grid:
            raise ExperimentError(
                f"experiment {name!r}: `grid` must map two axes to lists of values, e.g. "
                f"{{noise_level: [0, 1], n_prompts: [4, 8]}}; got {shown(grid)}"
            )
        values["grid"] = tuple(grid.items())
    if not isinstance(values["agents"], list):
        raise ExperimentError(f"experiment {name!r}: `agents` must be a list of agents")
    values["agents"] = tuple(
        agent_from_dict(entry, f"experiment {name!r}, agent {i + 1}")
        for i, entry in enumerate(values.get("agents", ()))
    )
    return ExperimentSpec(name=name, **values)


def experiments_from_yaml(text: str, source: str = "experiment file") -> dict[str, ExperimentSpec]:
    """Validate a YAML document mapping experiment names to definitions."""
    try:
        document = parse_yaml(text, source)
    except ValueError as error:
        raise ExperimentError(str(error)) from None
    if not isinstance(document, dict) or not document:
        raise ExperimentError(
            f"{source} must map experiment names to definitions (see `gambitts experiments`)"
        )
    for name in document:
        if not isinstance(name, str):
            raise ExperimentError(
                f"{source}: experiment name {shown(name)} is read by YAML as a "
                f"{type(name).__name__}, not text; quote it, e.g. '{name}':"
            )
    return {name: experiment_from_dict(name, entry) for name, entry in document.items()}


def load_experiment_file(path: str | os.PathLike) -> dict[str, ExperimentSpec]:
    """Read user-defined experiments from a YAML file (same schema as the shipped ones)."""
    source = f"experiment file {str(path)!r}"
    try:
        text = read_yaml_text(path, source)
    except ValueError as error:
        raise ExperimentError(str(error)) from None
    return experiments_from_yaml(text, source)


@cache
def _shipped() -> dict[str, ExperimentSpec]:
    text = resources.files("gambitts.sims").joinpath("data/experiments.yaml").read_text()
    return experiments_from_yaml(text, "the shipped experiments.yaml")


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
