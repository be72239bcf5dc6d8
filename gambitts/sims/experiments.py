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

from gambitts.agents import Agent, FoGAMBITTS, PoGAMBITTS, StdTS
from gambitts.agents.ensemble import EnsembleConfig, EnsPoGAMBITTS
from gambitts.design.contexts import ContextSpace
from gambitts.errors import InputError
from gambitts.models.priors import LinearPrior
from gambitts.sims.user_code import check_reference, import_function, source_fingerprint
from gambitts.sims.worlds.custom import OutcomeDefinition
from gambitts.yaml_files import parse_yaml, read_yaml_text

AGENT_KINDS: tuple[str, ...] = (
    "StdTS",
    "StdTS:Contextual",
    "poGAMBITTS",
    "foGAMBITTS",
    "ens-poGAMBITTS",
    "custom-poGAMBITTS",
    "custom-foGAMBITTS",
)
#: Agents with a user's PyMC model, refitted every few rounds.
CUSTOM_KINDS: tuple[str, ...] = ("custom-poGAMBITTS", "custom-foGAMBITTS")
#: Agents that model style dimensions (and may use context features and prompt indicators).
TWO_STAGE_KINDS: tuple[str, ...] = ("poGAMBITTS", "foGAMBITTS", "ens-poGAMBITTS", *CUSTOM_KINDS)
#: Agents that use generator draws.
GENERATOR_KINDS: tuple[str, ...] = ("poGAMBITTS", "ens-poGAMBITTS", "custom-poGAMBITTS")
#: Agents whose stage-2 noise model can be chosen (``noise: known | unknown``).
NOISE_KINDS: tuple[str, ...] = ("poGAMBITTS", "foGAMBITTS")
#: How custom agents may refit: :data:`gambitts.agents.custom.METHODS`, repeated here so that
#: reading experiment files does not import ArviZ.
FIT_METHODS: tuple[str, ...] = ("nuts", "nuts-pymc", "laplace", "advi")
#: AgentSpec fields of the custom agents only.
CUSTOM_FIELDS: tuple[str, ...] = (
    "builder", "treatment_builder", "method", "refit_every", "draws", "tune", "chains", "mc_draws",
)  # fmt: skip
#: Presets of ens-poGAMBITTS: the tuned default, and the paper's (with the paper code's fresh
#: optimizer every round, or with persistent Adam).
ENSEMBLE_PRESETS: tuple[str, ...] = ("default", "paper", "paper-persistent-adam")


class ExperimentError(InputError):
    """An experiment definition or override is invalid."""


@dataclass(frozen=True)
class AgentSpec:
    """One agent of an experiment.

    Attributes
    ----------
    kind : str
        One of :data:`AGENT_KINDS`: ``StdTS``, ``StdTS:Contextual``, ``poGAMBITTS``,
        ``foGAMBITTS``, ``ens-poGAMBITTS``, ``custom-poGAMBITTS``, ``custom-foGAMBITTS``.
    label : str
        Name in results and plots; defaults to ``kind``.
    dims : tuple of str
        Modelled style dimensions (two-stage agents only).
    context_features : bool
        Add the context space's features (numeric variables, one-hot levels) to stage 2.
    prompt_indicators : bool
        Add prompt indicators to stage 2 ("hedged").
    draws_per_cell : int or None
        Generator draws per (cell, prompt) available to poGAMBITTS and ens-poGAMBITTS;
        ``None`` means all.
    noise : {"known", "unknown"}
        Stage-2 noise model of po and fo; ``known`` fixes the variance at 1 as the paper did.
    preset : str
        ens-poGAMBITTS only: one of :data:`ENSEMBLE_PRESETS`. The paper presets perturb rewards
        by the world's true noise sd, as the paper's code did.
    builder : str
        Custom agents only (required): the stage-2 PyMC builder, ``"package.module:function"``
        or ``"path/to/file.py:function"`` (see :mod:`gambitts.agents.custom` for its contract;
        ``gambitts.models.pymc_models:build_outcome_model`` is the built-in linear stage 2).
    treatment_builder : str
        custom-foGAMBITTS only: a stage-1 PyMC builder (see :mod:`gambitts.agents.custom_fo`);
        empty keeps the exact Normal-Inverse-Wishart stage 1 of foGAMBITTS.
    method : {"nuts", "nuts-pymc", "laplace", "advi"}
        Custom agents only: how to refit.
    refit_every : int
        Custom agents only: refit after every ``refit_every`` rounds.
    draws, tune, chains : int
        Custom agents only: posterior draws per chain, tuning steps per chain, chains.
    mc_draws : int or None
        custom-poGAMBITTS only: generator draws per (cell, prompt) averaged over when scoring
        prompts; ``None`` scores at the mean of the generator draws, which is exact (and much
        cheaper) for models linear in ``Z``. custom-foGAMBITTS scores at drawn means of ``Z``.
    """

    kind: str
    label: str = ""
    dims: tuple[str, ...] = ()
    context_features: bool = False
    prompt_indicators: bool = False
    draws_per_cell: int | None = None
    noise: str = "known"
    preset: str = "default"
    builder: str = ""
    treatment_builder: str = ""
    method: str = "nuts"
    refit_every: int = 10
    draws: int = 500
    tune: int = 500
    chains: int = 2
    mc_draws: int | None = 32

    def __post_init__(self) -> None:
        self._check_types()
        if self.kind not in AGENT_KINDS:
            raise ExperimentError(
                f"agent `kind` must be one of {list(AGENT_KINDS)}, got {self.kind!r}"
            )
        if not self.label:
            object.__setattr__(self, "label", self.kind)
        if not _LABEL.match(self.label):
            raise ExperimentError(
                f"agent label {_shown(self.label)} must be printable text without `/`, `\\` or a "
                "leading `.` (it names groups and columns of the results file)"
            )
        two_stage = self.kind in TWO_STAGE_KINDS
        if two_stage and not self.dims:
            raise ExperimentError(
                f"agent {self.label!r}: `dims` must name at least one style dimension"
            )
        if not two_stage and (self.dims or self.context_features or self.prompt_indicators):
            raise ExperimentError(
                f"agent {self.label!r}: `dims`, `context_features` and `prompt_indicators` apply "
                f"only to {', '.join(TWO_STAGE_KINDS)}"
            )
        if self.draws_per_cell is not None and (
            self.kind not in GENERATOR_KINDS or self.draws_per_cell < 1
        ):
            raise ExperimentError(
                f"agent {self.label!r}: `draws_per_cell` must be a positive integer and applies "
                f"only to {', '.join(GENERATOR_KINDS)}, got {self.draws_per_cell!r}"
            )
        if self.preset not in ENSEMBLE_PRESETS or (
            self.preset != "default" and self.kind != "ens-poGAMBITTS"
        ):
            raise ExperimentError(
                f"agent {self.label!r}: `preset` must be one of {list(ENSEMBLE_PRESETS)} and "
                f"applies only to ens-poGAMBITTS, got {self.preset!r}"
            )
        if self.noise not in ("known", "unknown"):
            raise ExperimentError(
                f"agent {self.label!r}: `noise` must be 'known' or 'unknown', got {self.noise!r}"
            )
        if self.noise != "known" and self.kind not in NOISE_KINDS:
            raise ExperimentError(
                f"agent {self.label!r}: `noise` applies only to {', '.join(NOISE_KINDS)}; "
                f"remove it from this {self.kind} agent"
            )
        self._check_custom()

    def _check_types(self) -> None:
        """Refuse values of the wrong type before they are misread.

        YAML and Python would otherwise take ``"no"`` as true, split a ``dims`` string into
        letters and truncate ``draws_per_cell: 2.5``.
        """
        where = f"agent {self.label or self.kind!r}"
        for name in ("kind", "label", "noise", "preset", "builder", "treatment_builder", "method"):
            _require_type(where, name, getattr(self, name), str, "a string")
        for name in ("context_features", "prompt_indicators"):
            _require_type(where, name, getattr(self, name), bool, "true or false")
        if isinstance(self.dims, str) or not isinstance(self.dims, tuple | list):
            raise ExperimentError(
                f"{where}: `dims` must be a list of style-dimension names, e.g. "
                f"[optimism, formality]; got {self.dims!r}"
            )
        object.__setattr__(self, "dims", tuple(self.dims))
        for dim in self.dims:
            _require_type(where, "dims", dim, str, "a list of style-dimension names")
        if len(set(self.dims)) != len(self.dims):
            raise ExperimentError(f"{where}: `dims` must not repeat a dimension, got {self.dims}")
        if self.draws_per_cell is not None:
            _require_type(where, "draws_per_cell", self.draws_per_cell, int, "a whole number")

    def _check_custom(self) -> None:
        defaults = {f.name: f.default for f in dataclasses.fields(AgentSpec)}
        if self.kind not in CUSTOM_KINDS:
            changed = [name for name in CUSTOM_FIELDS if getattr(self, name) != defaults[name]]
            if changed:
                raise ExperimentError(
                    f"agent {self.label!r}: {changed} apply only to {', '.join(CUSTOM_KINDS)}"
                )
            return
        if not self.builder:
            raise ExperimentError(
                f"agent {self.label!r}: `builder` must name a PyMC builder, e.g. "
                "'gambitts.models.pymc_models:build_outcome_model' or 'my_models.py:build'"
            )
        check_reference(self.builder, f"agent {self.label!r}: `builder`")
        if self.mc_draws != defaults["mc_draws"] and self.kind != "custom-poGAMBITTS":
            raise ExperimentError(
                f"agent {self.label!r}: `mc_draws` applies only to custom-poGAMBITTS"
            )
        if self.treatment_builder:
            if self.kind != "custom-foGAMBITTS":
                raise ExperimentError(
                    f"agent {self.label!r}: `treatment_builder` applies only to custom-foGAMBITTS"
                )
            check_reference(self.treatment_builder, f"agent {self.label!r}: `treatment_builder`")
        if self.method not in FIT_METHODS:
            raise ExperimentError(
                f"agent {self.label!r}: `method` must be one of {list(FIT_METHODS)}, "
                f"got {self.method!r}"
            )
        lowest = {"refit_every": 1, "draws": 1, "chains": 1, "tune": 0, "mc_draws": 1}
        for name, low in lowest.items():
            value = getattr(self, name)
            if name == "mc_draws" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ExperimentError(
                    f"agent {self.label!r}: `{name}` must be an integer >= {low}, got {value!r}"
                )

    def key_fields(self) -> dict[str, Any]:
        """Return the fields that identify this agent's results (custom fields for custom kinds)."""
        fields = dataclasses.asdict(self)
        if self.kind not in CUSTOM_KINDS:
            for name in CUSTOM_FIELDS:
                del fields[name]  # keeps the keys of results from before custom agents existed
        return fields

    def load_builders(self) -> dict[str, Any]:
        """Import a custom agent's builders (``builder`` and, if set, ``treatment_builder``).

        Raises
        ------
        gambitts.sims.user_code.UserCodeError
            If one cannot be imported; the message says why.
        ExperimentError
            If ``method`` is ``"nuts"`` and nutpie is not installed.
        """
        if self.kind in CUSTOM_KINDS and self.method == "nuts":
            from gambitts.agents.custom import nutpie_available

            if not nutpie_available():
                raise ExperimentError(
                    f"agent {self.label!r}: `method: nuts` needs nutpie "
                    "(`pip install 'gambitts[nutpie]'`), or use `method: nuts-pymc`"
                )
        found = {}
        for name in ("builder", "treatment_builder"):
            reference = getattr(self, name)
            if reference:
                found[name] = import_function(reference, f"agent {self.label!r}: `{name}`")
        return found

    def build(self, n_arms: int, contexts: ContextSpace, noise_sd: float | None = None) -> Agent:
        """Create the agent for ``n_arms`` prompts in the cells of ``contexts``.

        ``noise_sd`` (the world's true reward noise) is read only by the ensemble's paper
        presets, which used it as their perturbation scale.
        """
        n_cells = contexts.n_cells
        if self.kind in ("StdTS", "StdTS:Contextual"):
            agent = StdTS(n_arms, n_cells, contextual=self.kind == "StdTS:Contextual")
            agent.name = self.label
            return agent
        shared = {
            "context_features": contexts.features() if self.context_features else None,
            "prompt_indicators": self.prompt_indicators,
        }
        if self.kind in CUSTOM_KINDS:
            agent = self._build_custom(n_arms, n_cells, shared)
        elif self.kind == "ens-poGAMBITTS":
            agent = EnsPoGAMBITTS(
                n_arms, len(self.dims), n_cells, config=self._ensemble_config(noise_sd), **shared
            )
        else:
            agent_class = PoGAMBITTS if self.kind == "poGAMBITTS" else FoGAMBITTS
            agent = agent_class(
                n_arms, len(self.dims), n_cells, prior=LinearPrior(noise=self.noise), **shared
            )
        agent.name = self.label
        return agent

    def _build_custom(self, n_arms: int, n_cells: int, shared: dict[str, Any]) -> Agent:
        from gambitts.agents.custom import CustomPoGAMBITTS
        from gambitts.agents.custom_fo import CustomFoGAMBITTS

        builders = self.load_builders()
        options = {
            "builder": builders["builder"],
            "method": self.method,
            "refit_every": self.refit_every,
            "draws": self.draws,
            "tune": self.tune,
            "chains": self.chains,
            "warn_unhealthy": False,  # the CLI reads the stored diagnostics and warns once
        }
        if self.kind == "custom-foGAMBITTS":
            options["treatment_builder"] = builders.get("treatment_builder")
            return CustomFoGAMBITTS(n_arms, len(self.dims), n_cells, **options, **shared)
        options["n_mc_draws"] = self.mc_draws
        return CustomPoGAMBITTS(n_arms, len(self.dims), n_cells, **options, **shared)

    def _ensemble_config(self, noise_sd: float | None) -> EnsembleConfig:
        if self.preset == "default":
            return EnsembleConfig()
        if noise_sd is None:
            raise ExperimentError(
                f"agent {self.label!r}: the paper presets need the world's noise sd"
            )
        persistent = self.preset == "paper-persistent-adam"
        return EnsembleConfig.paper(noise_sd, reset_optimizer_every_round=not persistent)


#: What an experiment block may vary, and what a value of it means.
VARIATIONS: dict[str, str] = {
    "noise_level": "reward noise level k of the grid sd_0 .. sd_4",
    "n_prompts": "number of prompts (arms)",
    "modelled_dim": "the one style dimension the two-stage agents model",
    "draws_per_cell": "generator draws per (cell, prompt) for the agents ('all' or a count)",
    "n_dims": "style dimensions of the linear outcome and of the agents (a subset of linear_full)",
}
#: Pairs of :data:`VARIATIONS` a ``grid`` may not cross, and why.
GRID_CONFLICTS: dict[frozenset[str], str] = {
    frozenset({"modelled_dim", "n_dims"}): "both set the style dimensions the agents model",
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

    def key(self, seed: int, replicates: int, database: str) -> str:
        """Return a short hash identifying this configuration's results for a run.

        It covers the configuration, seed, replicate count, database, the package's version,
        code and data (:func:`~gambitts.sims.provenance.code_fingerprint`: an upgrade reruns
        everything) and, for custom agents, the source files of their builders and of the local
        modules those import (editing one reruns its configurations).
        """
        from gambitts.sims.provenance import code_fingerprint

        payload = {
            **dataclasses.asdict(self),
            "agent": self.agent.key_fields(),
            "seed": seed,
            "replicates": replicates,
            "db": database,
            "code": code_fingerprint(),
        }
        world = self.outcome_model
        functions = (
            self.agent.builder,
            self.agent.treatment_builder,
            world.function if isinstance(world, OutcomeDefinition) else "",
        )
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
    n_prompts : int
        Number of prompts (arms), chosen from the database the paper's way.
    noise_level : int
        Index into the noise grid ``sd_0 .. sd_4``.
    horizon : int
    replicates : int
    vary : str or None
        What the block varies, one of :data:`VARIATIONS`; ``None`` for a single setting.
    values : tuple
        The values it takes.
    grid : tuple of (str, tuple) pairs
        Instead of ``vary`` and ``values``: two of :data:`VARIATIONS`, each with its values,
        crossed (every combination is a setting; the first axis varies slowest). A mapping is
        accepted too. Empty for a block that varies one thing or nothing.
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

    def __post_init__(self) -> None:
        check_block_name(self.name)
        where = f"experiment {self.name!r}"
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
        if self.vary is not None:
            _require_type(where, "vary", self.vary, str, f"one of {list(VARIATIONS)}")
        if not isinstance(self.agents, tuple) or not all(
            isinstance(agent, AgentSpec) for agent in self.agents
        ):
            raise ExperimentError(f"{where}: `agents` must be a tuple of AgentSpec")
        for name in ("n_prompts", "horizon", "replicates"):
            _require_positive_int(name, getattr(self, name))
        if self.n_prompts < 2:
            raise ExperimentError(f"`n_prompts` must be at least 2, got {self.n_prompts}")
        _require_noise_level(self.noise_level, self.n_noise_levels)
        if not self.agents:
            raise ExperimentError(f"experiment {self.name!r} must list at least one agent")
        labels = [agent.label for agent in self.agents]
        if len(set(labels)) != len(labels):
            raise ExperimentError(
                f"agent labels must be unique, got {labels}; set `label` to tell them apart"
            )
        if self.grid:
            self._check_grid()
            return
        if self.vary is None:
            if self.values:
                raise ExperimentError("`values` needs `vary` (what the values are of)")
            return
        if self.vary not in VARIATIONS:
            raise ExperimentError(f"`vary` must be one of {list(VARIATIONS)}, got {self.vary!r}")
        if not self.values:
            raise ExperimentError(f"`values` must list at least one value of {self.vary!r}")
        self._check_values(self.vary, self.values, "`values`")

    def _check_values(self, axis: str, values: tuple, where: str) -> None:
        """Check each value of ``axis`` (as ``vary`` would) and refuse a repeated one."""
        if axis == "n_dims" and isinstance(self.outcome_model, OutcomeDefinition):
            raise ExperimentError(
                f"experiment {self.name!r}: `n_dims` picks subsets of the paper's linear_full "
                "world; a world of your own has its own dims, so vary the agents' `dims` instead"
            )
        for value in values:
            _check_value(axis, value, self.n_noise_levels)
        labels = [_label(axis, value) for value in values]
        if len(set(labels)) != len(labels):
            raise ExperimentError(
                f"experiment {self.name!r}: {where} of {axis!r} repeat a value, got "
                f"{_shown(list(values))}; list each setting once"
            )

    def _check_grid(self) -> None:
        """Validate ``grid`` (and store it as a tuple of ``(axis, values)`` pairs)."""
        where = f"experiment {self.name!r}"
        grid = self.grid
        if isinstance(grid, Mapping):
            grid = tuple(grid.items())
        if not isinstance(grid, tuple | list) or not all(
            isinstance(pair, tuple | list) and len(pair) == 2 for pair in grid
        ):
            raise ExperimentError(
                f"{where}: `grid` must map two of {list(VARIATIONS)} to lists of values, got "
                f"{_shown(self.grid)}"
            )
        if self.vary is not None or self.values:
            raise ExperimentError(
                f"{where}: give either `grid` (two axes) or `vary` and `values` (one), not both"
            )
        if len(grid) != GRID_AXES:
            raise ExperimentError(
                f"{where}: `grid` must cross exactly {GRID_AXES} axes, got {len(grid)} "
                f"({_shown([axis for axis, _ in grid])}); for one axis use `vary` and `values`"
            )
        axes = [axis for axis, _ in grid]
        for axis in axes:
            if not isinstance(axis, str) or axis not in VARIATIONS:
                raise ExperimentError(
                    f"{where}: `grid` axis {_shown(axis)} must be one of {list(VARIATIONS)}"
                )
        if len(set(axes)) != len(axes):
            raise ExperimentError(f"{where}: `grid` names {axes[0]!r} twice; cross two axes")
        conflict = GRID_CONFLICTS.get(frozenset(axes))
        if conflict is not None:
            raise ExperimentError(
                f"{where}: `grid` cannot cross {axes[0]!r} with {axes[1]!r} ({conflict}); "
                "vary one of them"
            )
        pairs = []
        for axis, values in grid:
            if isinstance(values, str) or not isinstance(values, tuple | list) or not values:
                raise ExperimentError(
                    f"{where}: `grid` values of {axis!r} must be a non-empty list, got "
                    f"{_shown(values)}"
                )
            self._check_values(axis, tuple(values), "`grid` values")
            pairs.append((axis, tuple(values)))
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
                        tuple(self._configs(**chosen)),
                        chosen,
                        coords,
                    )
                )
            return settings
        if self.vary is None:
            return [
                Setting("default", "default", tuple(self._configs()), {}, {"setting": "default"})
            ]
        settings = []
        for value in self.values:
            label = _label(self.vary, value)
            configs = tuple(self._configs(**{self.vary: value}))
            settings.append(Setting(label, value, configs, {self.vary: value}, {self.vary: label}))
        return settings

    def _configs(self, **change: Any) -> list[RunConfig]:
        outcome_dims = None
        if "n_dims" in change:
            outcome_dims = dimension_subset(change["n_dims"])
        configs = []
        for agent in self.agents:
            if agent.kind in TWO_STAGE_KINDS and "modelled_dim" in change:
                agent = dataclasses.replace(agent, dims=(change["modelled_dim"],))
            if agent.kind in TWO_STAGE_KINDS and outcome_dims is not None:
                agent = dataclasses.replace(agent, dims=outcome_dims)
            if agent.kind in GENERATOR_KINDS and "draws_per_cell" in change:
                draws = change["draws_per_cell"]
                agent = dataclasses.replace(agent, draws_per_cell=None if draws == "all" else draws)
            configs.append(
                RunConfig(
                    outcome_model=self.outcome_model,
                    outcome_dims=outcome_dims,
                    n_prompts=change.get("n_prompts", self.n_prompts),
                    noise_level=change.get("noise_level", self.noise_level),
                    horizon=self.horizon,
                    agent=agent,
                )
            )
        return configs

    def with_overrides(self, **overrides: Any) -> ExperimentSpec:
        """Return a copy with the given fields replaced (``None`` values are ignored)."""
        changes = {key: value for key, value in overrides.items() if value is not None}
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the resolved definition as plain data (for files' metadata).

        ``grid`` appears only in a grid block's, as a mapping of axis to values.
        """
        data = dataclasses.asdict(self)
        if self.grid:
            data["grid"] = {axis: list(values) for axis, values in self.grid}
        else:
            del data["grid"]  # one-axis blocks describe themselves as before grids existed
        return data


#: Agent labels name results coordinates and NetCDF groups: printable, no path separators.
_LABEL = re.compile(r"^(?![.])[^/\\\x00-\x1f\x7f]{1,100}$")
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


def _label(vary: str, value: Any) -> str:
    if vary == "noise_level":
        return f"sd_{value}"
    return str(value)


def _shown(value: Any, limit: int = 60) -> str:
    """Return ``repr(value)`` on one line, cut to ``limit`` characters for error messages."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _require_type(where: str, name: str, value: Any, kind: type, wanted: str) -> None:
    """Raise unless ``value`` is a ``kind`` (a bool is not an int, a string not a bool)."""
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise ExperimentError(f"{where}: `{name}` must be {wanted}, got {_shown(value)}")


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


def agent_from_dict(mapping: Any, where: str = "agent") -> AgentSpec:
    """Validate one agent entry of an experiment file."""
    fields = {f.name for f in dataclasses.fields(AgentSpec)}
    values = dict(_checked_keys(mapping, fields, where))
    if "label" in values and values["label"] == "":
        raise ExperimentError(f"{where}: `label` must not be empty; leave it out to use the kind")
    return AgentSpec(**values)


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
                f"experiment {name!r}: `grid` must map two of {list(VARIATIONS)} to lists of "
                f"values, e.g. {{noise_level: [0, 1], n_prompts: [4, 8]}}; got {_shown(grid)}"
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
                f"{source}: experiment name {_shown(name)} is read by YAML as a "
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
