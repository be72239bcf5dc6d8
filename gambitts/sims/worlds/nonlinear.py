"""The nonlinear outcome model ``nonlinear_3d``: a seeded stand-in for the paper's fitted MLP.

The paper fitted a one-hidden-layer (64 ReLU) network on (optimism, severity, formality) to the
same outcome as ``linear_3d``, but did not publish it. :func:`make_nonlinear_standin` builds a
fixed, seeded network of that shape whose weights ship as plain numbers in
``data/nonlinear_3d.yaml``; :func:`load_nonlinear_outcome` reads them.

Construction (all randomness from one ``numpy.random.SeedSequence(seed)``):

1. Inputs are standardised by the pooled mean and sd of the database rows, so every hidden
   unit's kink ``v_j . z_std + c_j = 0`` (``v_j, c_j ~ N(0, 1)``) cuts through the data.
2. Output weights ``w ~ N(0, 1)`` are split into the part ``q`` whose output has no linear
   covariance with ``Z`` over the database rows and the rest ``p``; ``w = q + lam p`` with
   ``lam`` chosen so that the best linear fit of the treatment effect on ``Z`` over the rows
   explains exactly ``linear_share`` (default 0.5) of its variance. Half linear, half not: a
   linear agent still learns something, but not the best arm everywhere.
3. The output is scaled so that the spread of ``mu(prompt, cell)`` across prompts (the sd over
   prompts, averaged over cells) equals ``linear_3d``'s on the same database, and shifted so that
   the pooled mean effect over the rows is 0 (as ``linear_3d``'s is on a centred database).
   The standardisation is folded into the first layer, so
   ``treatment_effect(z) = relu(z @ W1 + b1) @ w2 + b2`` on raw scores.

The intercept is ``linear_3d``'s (``environments.yaml`` gives ``nonlinear_3d`` no intercept: the
network was fitted to the same outcome), the noise grid is ``nonlinear_3d``'s ``sd_grid`` by the
paper's rule (:meth:`OutcomeModel.noise_grid`). :func:`nonlinearity_report` measures how far
from linear the result is.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import yaml

from gambitts.design.promptdb import PromptDatabase
from gambitts.sims.worlds.outcomes import OutcomeModel, _environments, load_outcome_model

#: Style dimensions of ``nonlinear_3d``, in the order the network takes them.
NONLINEAR_DIMS: tuple[str, ...] = ("optimism", "severity", "formality")
N_HIDDEN = 64
_CHUNK_ROWS = 8192


@dataclass(frozen=True, eq=False)
class MlpOutcome(OutcomeModel):
    """An outcome model whose treatment effect is a one-hidden-layer ReLU network.

    ``treatment_effect(z) = relu(z @ W1 + b1) @ w2 + b2``.

    Attributes
    ----------
    input_dims : tuple of str
        Style dimensions the network takes, in order.
    W1 : ndarray, shape (n_dims, n_hidden)
    b1 : ndarray, shape (n_hidden,)
    w2 : ndarray, shape (n_hidden,)
    b2 : float
    """

    input_dims: tuple[str, ...]
    W1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: float

    def __post_init__(self) -> None:
        for name in ("W1", "b1", "w2"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=float))
        object.__setattr__(self, "input_dims", tuple(self.input_dims))
        n_dims, n_hidden = len(self.input_dims), self.b1.shape[0]
        if self.W1.shape != (n_dims, n_hidden) or self.w2.shape != (n_hidden,):
            raise ValueError(
                f"`W1` must have shape ({n_dims}, {n_hidden}) and `w2` ({n_hidden},), "
                f"got {self.W1.shape} and {self.w2.shape}"
            )

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.to_dict() == other.to_dict() and all(
            getattr(self, name) == getattr(other, name)
            for name in ("name", "intercept", "context_terms", "rmse")
        )

    __hash__ = None  # mutable arrays inside

    @property
    def dims(self) -> tuple[str, ...]:
        """Style dimensions the outcome depends on."""
        return self.input_dims

    def treatment_effect(self, z: np.ndarray) -> np.ndarray:
        """Return ``relu(z @ W1 + b1) @ w2 + b2``; ``z`` has shape ``(..., len(dims))``.

        Rows go through the network in chunks, so a whole database (half a million rows)
        needs a few MB of hidden activations rather than a few hundred.
        """
        z = np.asarray(z, dtype=float)
        rows = z.reshape(-1, z.shape[-1])
        out = np.empty(len(rows))
        for start in range(0, len(rows), _CHUNK_ROWS):
            chunk = rows[start : start + _CHUNK_ROWS]
            out[start : start + len(chunk)] = np.maximum(chunk @ self.W1 + self.b1, 0.0) @ self.w2
        return out.reshape(z.shape[:-1]) + self.b2

    def to_dict(self) -> dict[str, Any]:
        """Return the network as plain numbers (the content of ``nonlinear_3d.yaml``)."""
        return {
            "dims": list(self.input_dims),
            "W1": [[float(v) for v in row] for row in self.W1],
            "b1": [float(v) for v in self.b1],
            "w2": [float(v) for v in self.w2],
            "b2": float(self.b2),
        }


def _base_fields(name: str) -> dict[str, Any]:
    """Intercept (``linear_3d``'s), context terms (none) and RMSE of ``name``."""
    spec = _environments()[name]
    return {
        "name": name,
        "intercept": load_outcome_model("linear_3d").intercept,
        "context_terms": {},
        "rmse": float(spec["sd_grid"][-1]),
    }


def _pooled_rows(db: PromptDatabase, dims: tuple[str, ...]) -> np.ndarray:
    return db.z[..., db.dim_index(dims)][db.draw_mask()]


def _prompt_spread(table: np.ndarray) -> float:
    """Sd of ``mu(prompt, cell)`` over prompts, averaged over cells."""
    return float(table.std(axis=0).mean())


def make_nonlinear_standin(
    db: PromptDatabase,
    seed: int = 0,
    *,
    linear_share: float = 0.5,
    name: str = "nonlinear_3d",
) -> MlpOutcome:
    """Build the seeded stand-in network for ``nonlinear_3d`` on database ``db``.

    Parameters
    ----------
    db : PromptDatabase
        The database the world simulates with (the stand-in for the shipped numbers).
    seed : int, default 0
    linear_share : float, default 0.5
        Share of the treatment effect's variance over the database rows explained by its best
        linear fit on ``Z``; in ``(0, 1)``.
    name : str, default "nonlinear_3d"
        Outcome model whose RMSE (``sd_grid[-1]``) the model carries.

    Returns
    -------
    MlpOutcome
    """
    if not 0 < linear_share < 1:
        raise ValueError(f"`linear_share` must lie in (0, 1), got {linear_share}")
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    rows = _pooled_rows(db, NONLINEAR_DIMS)
    mean, sd = rows.mean(axis=0), rows.std(axis=0)
    directions = rng.standard_normal((len(NONLINEAR_DIMS), N_HIDDEN))
    offsets = rng.standard_normal(N_HIDDEN)
    weights = rng.standard_normal(N_HIDDEN)
    W1 = directions / sd[:, None]
    b1 = offsets - (mean / sd) @ directions
    hidden = np.maximum(rows @ W1 + b1, 0.0)
    w2 = _mix_linear_share(hidden - hidden.mean(axis=0), rows - mean, weights, linear_share)
    unscaled = MlpOutcome(
        **_base_fields(name), input_dims=NONLINEAR_DIMS, W1=W1, b1=b1, w2=w2, b2=0.0
    )
    target = _prompt_spread(load_outcome_model("linear_3d").expected_reward_table(db))
    scale = target / _prompt_spread(unscaled.expected_reward_table(db))
    b2 = -scale * float(np.mean(hidden @ w2))
    return MlpOutcome(
        **_base_fields(name), input_dims=NONLINEAR_DIMS, W1=W1, b1=b1, w2=scale * w2, b2=b2
    )


def _mix_linear_share(
    hidden: np.ndarray, z: np.ndarray, weights: np.ndarray, share: float
) -> np.ndarray:
    """Return ``q + lam p`` (see the module notes) for centred ``hidden`` and ``z``."""
    cov = hidden.T @ z  # (n_hidden, n_dims)
    basis, _ = np.linalg.qr(cov)
    p = basis @ (basis.T @ weights)
    q = weights - p  # hidden @ q has no covariance with z
    out_q, out_p = hidden @ q, hidden @ p
    coef, *_ = np.linalg.lstsq(z, out_p, rcond=None)
    a, b = np.var(z @ coef), np.var(out_q)
    c, d = np.mean(out_q * out_p), np.var(out_p)
    # R^2(lam) = lam^2 a / (b + 2 lam c + lam^2 d) = share, a quadratic in lam
    lead = a - share * d
    if lead <= 0:
        raise ValueError(
            f"`linear_share` {share} is out of reach for this seed (at most {a / d:.3f}); "
            "choose a smaller share or another seed"
        )
    lam = (share * c + np.sqrt((share * c) ** 2 + lead * share * b)) / lead
    return q + lam * p


def nonlinearity_report(
    outcome: OutcomeModel, db: PromptDatabase, arm_prompts: np.ndarray | None = None
) -> dict[str, float]:
    """Measure how far ``outcome`` is from linear in ``Z`` on ``db``.

    Two linear surrogates of ``mu(prompt, cell)`` are compared with the truth: the least-squares
    fit of the treatment effect on ``Z`` over the database rows (what a linear stage 2 such as
    poGAMBITTS' converges to), applied to the cell means; and the least-squares fit of the
    treatment part of ``mu`` on the cell means directly.

    Parameters
    ----------
    outcome : OutcomeModel
    db : PromptDatabase
    arm_prompts : ndarray of int, optional
        The world's prompts; default all prompts.

    Returns
    -------
    dict
        ``row_r2`` and ``cell_r2``: variance explained by the two fits;
        ``row_best_arm_mismatch`` and ``cell_best_arm_mismatch``: share of cells in which the
        fit's best arm is not the true best; ``row_regret_ratio`` and ``cell_regret_ratio``: mean
        regret (over cells) of always playing the fit's best arm, over uniform play's;
        ``prompt_spread``: sd of ``mu`` over the arms, averaged over cells.
    """
    arms = np.arange(db.n_prompts) if arm_prompts is None else np.asarray(arm_prompts)
    rows = _pooled_rows(db, outcome.dims)
    effect = outcome.treatment_effect(rows)
    design = np.column_stack([rows, np.ones(len(rows))])
    row_coef, *_ = np.linalg.lstsq(design, effect, rcond=None)
    table = outcome.expected_reward_table(db)[arms] - outcome.context_offset(db.contexts)
    means = db.cell_means()[arms][..., db.dim_index(outcome.dims)]
    cell_design = np.concatenate([means, np.ones((*means.shape[:2], 1))], axis=2)
    flat = cell_design.reshape(-1, cell_design.shape[2])
    cell_coef, *_ = np.linalg.lstsq(flat, table.reshape(-1), rcond=None)
    report = {"prompt_spread": _prompt_spread(table)}
    report["row_r2"] = 1 - np.var(effect - design @ row_coef) / np.var(effect)
    report["cell_r2"] = 1 - np.var(table.reshape(-1) - flat @ cell_coef) / np.var(table)
    for key, coef in (("row", row_coef), ("cell", cell_coef)):
        chosen = np.argmax(cell_design @ coef, axis=0)
        best = table.max(axis=0)
        report[f"{key}_best_arm_mismatch"] = float(np.mean(chosen != table.argmax(axis=0)))
        regret = best - table[chosen, np.arange(table.shape[1])]
        report[f"{key}_regret_ratio"] = float(regret.mean() / (best - table.mean(axis=0)).mean())
    return {key: float(value) for key, value in report.items()}


def load_nonlinear_outcome(name: str = "nonlinear_3d") -> MlpOutcome:
    """Return the shipped nonlinear outcome model ``name``.

    The weights come from ``gambitts/sims/data/<name>.yaml`` (written by
    :func:`write_nonlinear_standin`), the RMSE from ``environments.yaml``.
    """
    spec = _environments().get(name)
    if not isinstance(spec, dict) or spec.get("type") != "mlp":
        raise ValueError(f"{name!r} is not an MLP outcome model of environments.yaml")
    text = resources.files("gambitts.sims").joinpath(f"data/{name}.yaml").read_text()
    weights = yaml.safe_load(text)["network"]
    return MlpOutcome(
        **_base_fields(name),
        input_dims=tuple(weights["dims"]),
        W1=np.array(weights["W1"], dtype=float),
        b1=np.array(weights["b1"], dtype=float),
        w2=np.array(weights["w2"], dtype=float),
        b2=float(weights["b2"]),
    )


def nonlinear_standin_yaml(outcome: MlpOutcome, seed: int = 0) -> str:
    """Return the text of the shipped data file for ``outcome`` (built with ``seed``)."""
    header = (
        "# Stand-in for the paper's unpublished nonlinear_3d outcome network (plain numbers).\n"
        "# Regenerate: python -m gambitts.sims.worlds.nonlinear"
        " > gambitts/sims/data/nonlinear_3d.yaml\n"
        "# treatment_effect(z) = relu(z @ W1 + b1) @ w2 + b2, z = (optimism, severity, formality)\n"
    )
    body = {
        "seed": seed,
        "built_by": "gambitts.sims.worlds.nonlinear.make_nonlinear_standin("
        "make_standin_database())",
        "network": outcome.to_dict(),
    }
    return header + yaml.safe_dump(body, sort_keys=False, width=100, default_flow_style=None)


def write_nonlinear_standin() -> str:
    """Build the stand-in on the stand-in database and return the data file's text."""
    from gambitts.design.standin import make_standin_database

    return nonlinear_standin_yaml(make_nonlinear_standin(make_standin_database()))


if __name__ == "__main__":  # pragma: no cover - regeneration entry point
    print(write_nonlinear_standin(), end="")
