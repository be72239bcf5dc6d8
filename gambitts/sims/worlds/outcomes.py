"""Outcome models of the paper's simulation study: ``E[Y | Z, x]`` and the noise grid.

The numbers live in the package's ``data/environments.yaml`` (copied from the paper's published
configuration); this module turns them into vectorised functions of the database's ``Z``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

from gambitts.design.contexts import ContextSpace
from gambitts.design.promptdb import PromptDatabase
from gambitts.errors import InputError


@cache
def _environments() -> dict[str, Any]:
    text = resources.files("gambitts.design").joinpath("data/environments.yaml").read_text()
    return yaml.safe_load(text)


def outcome_model_names() -> list[str]:
    """Names of the outcome models shipped with the package."""
    return [
        name
        for name, spec in _environments().items()
        if isinstance(spec, dict) and "sd_grid" in spec
    ]


@dataclass(frozen=True)
class OutcomeModel:
    """An outcome model ``E[Y | Z, x] = treatment_effect(Z) + intercept + context terms``.

    Subclasses define :attr:`dims` and :meth:`treatment_effect`; the expected-reward table,
    context terms and noise grid follow from them.

    Attributes
    ----------
    name : str
    intercept : float
    context_terms : dict
        How each context variable shifts the reward, by variable name: a mapping of levels to
        additive effects (absent levels add 0), or one coefficient times the variable's
        numeric level values (e.g. the paper's ``prev_steps: 0.026`` times 1..4). Variables
        not named add nothing.
    rmse : float
        The model's held-out RMSE: the largest noise level ``sd_4``.
    noise_sds : tuple of float, optional
        A user's world's own noise levels (``noise_level`` indexes them); ``None`` for the
        paper's grid.
    """

    name: str
    intercept: float
    context_terms: dict[str, dict[str, float] | float]
    rmse: float
    noise_sds: tuple[float, ...] | None = field(default=None, kw_only=True)

    @property
    def dims(self) -> tuple[str, ...]:  # pragma: no cover - abstract
        """Style dimensions the outcome depends on, in the order :meth:`treatment_effect` takes."""
        raise NotImplementedError

    def treatment_effect(self, z: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Return the part of ``E[Y | Z, x]`` due to ``Z``; ``z`` has shape ``(..., len(dims))``."""
        raise NotImplementedError

    def row_effects(self, db: PromptDatabase, prompts: np.ndarray | None = None) -> np.ndarray:
        """Return :meth:`treatment_effect` of every database row, shape (prompt, cell, draw).

        Only the rows of ``prompts`` if given; rows beyond a cell's ``n_draws`` hold 0.
        """
        prompts = np.arange(db.n_prompts) if prompts is None else np.asarray(prompts)
        z = np.nan_to_num(db.z[prompts][..., db.dim_index(self.dims)])
        return np.where(db.draw_mask()[prompts], self.treatment_effect(z), 0.0)

    def context_offset(self, contexts: ContextSpace) -> np.ndarray:
        """Return the intercept plus context terms of every context cell, shape ``(n_cells,)``.

        Raises
        ------
        InputError
            If a term names a variable or level the context space lacks, or gives a
            coefficient for a variable without numeric values.
        """
        offset = np.full(contexts.n_cells, float(self.intercept))
        unknown = sorted(set(self.context_terms) - set(contexts.names))
        if unknown:
            raise InputError(
                f"outcome model {self.name!r} has terms for the context variable(s) {unknown}, "
                f"which the database's context space lacks (it has {list(contexts.names)})"
            )
        for position, variable in enumerate(contexts.variables):
            term = self.context_terms.get(variable.name)
            if term is None:
                continue
            levels = contexts.cell_levels[:, position]
            offset = offset + _term_per_level(self.name, variable, term)[levels]
        return offset

    def expected_reward_table(self, db: PromptDatabase) -> np.ndarray:
        """Return exact ``mu(prompt, cell)``: the mean of ``E[Y | Z, x]`` over the cell's rows."""
        effects = self.row_effects(db).sum(axis=2) / db.n_draws
        return effects + self.context_offset(db.contexts)[None, :]

    def noise_grid(self, db: PromptDatabase, n_levels: int = 5) -> np.ndarray:
        """Return the 2nd-stage noise levels: the world's own, or the paper's recomputed on ``db``.

        A user's world (:attr:`noise_sds`) gives its levels; the paper's worlds derive
        ``sd_0 .. sd_4`` from ``db`` as below.

        ``sd_0`` is the mean over all database rows of ``sum_d (Z_d - mean Z_d)^2`` over the
        model's dimensions; the last level is the model's held-out RMSE; the levels between are
        evenly spaced.
        """
        if self.noise_sds is not None:
            return np.asarray(self.noise_sds, dtype=np.float64)
        sd_0 = total_squared_deviation(db, self.dims)
        return np.linspace(sd_0, self.rmse, n_levels)


@dataclass(frozen=True)
class LinearOutcome(OutcomeModel):
    """A linear outcome model: ``treatment_effect(Z) = sum_d coef_d Z_d``.

    Attributes
    ----------
    coefs : dict of str to float
        Coefficient of each style dimension the model uses.
    """

    coefs: dict[str, float]

    @property
    def dims(self) -> tuple[str, ...]:
        """Style dimensions the outcome depends on."""
        return tuple(self.coefs)

    def treatment_effect(self, z: np.ndarray) -> np.ndarray:
        """Return ``sum_d coef_d Z_d``; ``z`` has shape ``(..., len(dims))``."""
        return np.einsum("...d,d->...", z, np.array(list(self.coefs.values())))

    def expected_reward_table(self, db: PromptDatabase) -> np.ndarray:
        """Return exact ``mu(prompt, cell)`` (for a linear model: the effect of the cell means)."""
        means = db.cell_means()[..., db.dim_index(self.dims)]
        return self.treatment_effect(means) + self.context_offset(db.contexts)[None, :]


def total_squared_deviation(db: PromptDatabase, dims: tuple[str, ...]) -> float:
    """Mean over all database rows of ``sum_d (Z_d - mean Z_d)^2`` for the dimensions ``dims``."""
    rows = db.z[..., db.dim_index(dims)][db.draw_mask()]
    return float(np.sum(np.mean((rows - rows.mean(axis=0)) ** 2, axis=0)))


def dimension_subsets() -> dict[int, tuple[str, ...]]:
    """Return the paper's style-dimension subsets of ``scale_dimensions``, by size."""
    env = _environments()
    subsets = {}
    for size, dims in env["dimension_subsets"].items():
        subsets[int(size)] = tuple(env["style_dimensions"]) if dims == "all" else tuple(dims)
    return subsets


def build_outcome(outcome_model: Any, dims: tuple[str, ...] | None = None) -> OutcomeModel:
    """Return the world an experiment names: a shipped model's name or a user's definition.

    ``outcome_model`` is a name (see :func:`load_outcome_model`, which ``dims`` restricts) or a
    :class:`~gambitts.sims.worlds.custom.OutcomeDefinition`.
    """
    if isinstance(outcome_model, str):
        return load_outcome_model(outcome_model, dims)
    return outcome_model.build()


def load_outcome_model(name: str, dims: tuple[str, ...] | None = None) -> OutcomeModel:
    """Return the shipped outcome model ``name`` (e.g. ``"linear_3d"``).

    Parameters
    ----------
    name : str
    dims : tuple of str, optional
        Restrict a linear model to these dimensions (its intercept and their coefficients), as
        the paper's ``scale_dimensions`` block does with ``linear_full``.

    Raises
    ------
    ValueError
        If there is no outcome model of that name, or it lacks one of ``dims``.
    """
    specs = _environments()
    known = outcome_model_names()
    if name not in known:
        raise InputError(f"unknown outcome model {name!r}; choose one of {known}")
    spec = specs[name]
    base = specs[spec["base"]] if "base" in spec else spec
    if base.get("type") == "mlp":
        from gambitts.sims.worlds.nonlinear import load_nonlinear_outcome

        if dims is not None:
            raise InputError(
                f"outcome model {name!r} is not linear: it cannot be restricted to dims"
            )
        return load_nonlinear_outcome(name)
    if base.get("type") != "linear":
        raise InputError(f"outcome model {name!r} has unknown type {base.get('type')!r}")
    context_terms = _context_terms(name, spec.get("context_coefs", {}))
    coefs = {dim: float(c) for dim, c in base["coefs"].items()}
    if dims is not None:
        missing = [dim for dim in dims if dim not in coefs]
        if missing:
            raise InputError(f"outcome model {name!r} has no coefficient for {missing}")
        coefs = {dim: coefs[dim] for dim in dims}
    return LinearOutcome(
        name=name if dims is None else f"{name}[{len(dims)} dims]",
        intercept=float(base["intercept"]),
        coefs=coefs,
        context_terms=context_terms,
        rmse=float(spec["sd_grid"][-1]),
    )


def _context_terms(name: str, terms: Any) -> dict[str, dict[str, float] | float]:
    """Validate an outcome model's ``context_coefs``: per-level effects or one coefficient."""
    if not isinstance(terms, dict):
        raise InputError(f"outcome model {name!r}: `context_coefs` must be a mapping")
    checked: dict[str, dict[str, float] | float] = {}
    for variable, term in terms.items():
        if isinstance(term, dict):
            checked[str(variable)] = {
                str(level): _finite(v, f"outcome model {name!r}: effect of {variable}={level}")
                for level, v in term.items()
            }
        elif isinstance(term, int | float) and not isinstance(term, bool):
            checked[str(variable)] = _finite(term, f"outcome model {name!r}: `{variable}`")
        else:
            raise InputError(
                f"outcome model {name!r}: the context term of {variable!r} must be a mapping of "
                f"levels to effects or one coefficient, got {term!r}"
            )
    return checked


def _finite(value: Any, where: str) -> float:
    """Return ``value`` as a float if it is a finite real number (``true`` and ``"2"`` are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise InputError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _term_per_level(name: str, variable: Any, term: dict[str, float] | float) -> np.ndarray:
    """Return a context term's additive effect of each level of ``variable``."""
    if isinstance(term, dict):
        unknown = sorted(set(term) - set(variable.levels))
        if unknown:
            raise InputError(
                f"outcome model {name!r} has effects for the level(s) {unknown} of "
                f"{variable.name!r}, whose levels are {list(variable.levels)}"
            )
        return np.array([term.get(level, 0.0) for level in variable.levels])
    if not variable.numeric:
        raise InputError(
            f"outcome model {name!r} gives {variable.name!r} one coefficient, but that variable "
            "has no numeric `values`; give an effect per level instead"
        )
    return term * np.asarray(variable.values)
