"""Tests of the stand-in generator database against the paper's ``database_facts``."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import yaml
from scipy import stats

from gambitts.design.promptdb import PromptDatabase
from gambitts.design.standin import make_standin_database

ENVIRONMENTS = yaml.safe_load(
    resources.files("gambitts.design").joinpath("data/environments.yaml").read_text("utf-8")
)
FACTS = ENVIRONMENTS["database_facts"]
LINEAR_3D = ENVIRONMENTS["linear_3d"]


def pooled_rows(db: PromptDatabase, dims: list[str]) -> np.ndarray:
    """Return all rows (prompt x cell x draw) of the given dims, shape (n_rows, len(dims))."""
    return db.z[db.draw_mask()][:, db.dim_index(dims)]


def pooled_corr(rows: np.ndarray) -> np.ndarray:
    """Return the Pearson correlation matrix of ``rows`` (einsum: no BLAS threads, see standin)."""
    centred = rows - rows.mean(axis=0)
    cov = np.einsum("ni,nj->ij", centred, centred)
    return cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))


def linear_3d_cell_rewards(db: PromptDatabase) -> np.ndarray:
    """Return ``mu(a, x)`` under linear_3d for every (prompt, cell)."""
    coefs = LINEAR_3D["coefs"]
    return LINEAR_3D["intercept"] + db.cell_means()[:, :, db.dim_index(list(coefs))] @ np.array(
        list(coefs.values())
    )


def test_shape_names_and_provenance(standin_db: PromptDatabase) -> None:
    """40 more/less prompts in yaml dim order x 12 cells x 950 draws x the 20 dims."""
    dims = tuple(ENVIRONMENTS["style_dimensions"])
    assert standin_db.z.shape == (40, 12, 950, 20)
    assert (standin_db.n_draws == 950).all()
    assert standin_db.dims == dims
    assert standin_db.prompts[:4] == (
        "more actionability",
        "less actionability",
        "more authenticity",
        "less authenticity",
    )
    assert standin_db.prompts == tuple(f"{way} {dim}" for dim in dims for way in ("more", "less"))
    assert standin_db.attrs["source"] == "stand-in"
    assert standin_db.attrs["seed"] == 0
    assert np.isfinite(standin_db.z).all()


@pytest.mark.parametrize(
    ("dims", "fact"),
    [
        (["optimism"], "optimism"),
        (["optimism", "formality", "severity"], "optimism+formality+severity"),
        (ENVIRONMENTS["style_dimensions"], "all_20"),
    ],
    ids=["optimism", "3-dims", "all-20"],
)
def test_total_squared_deviation_matches_the_facts(standin_db, dims, fact) -> None:
    """Mean over rows of the summed squared deviations equals the fact (re-colouring is exact).

    The paper's tolerance is 10%; the construction hits the fact up to rounding.
    """
    rows = pooled_rows(standin_db, dims)
    measured = ((rows - rows.mean(axis=0)) ** 2).sum(axis=1).mean()
    assert measured == pytest.approx(FACTS["total_squared_deviation"][fact], rel=1e-9)


def test_correlations_match_the_facts(standin_db: PromptDatabase) -> None:
    """The pooled 5x5 Pearson correlations equal the paper's, signs included."""
    expected = np.array(FACTS["correlations"]["matrix"])
    measured = pooled_corr(pooled_rows(standin_db, FACTS["correlations"]["dims"]))
    assert np.abs(measured - expected).max() < 0.15  # the paper's tolerance
    np.testing.assert_allclose(measured, expected, atol=1e-9)  # what the construction achieves
    assert (np.sign(measured) == np.sign(expected)).all()


def test_variance_decomposition(standin_db: PromptDatabase) -> None:
    """Between prompts 25-35%, between cells 3-12%, interaction 6-16%, the rest within cells."""
    z = standin_db.z  # every cell has 950 draws, so the two-way decomposition is orthogonal
    total = z.reshape(-1, standin_db.n_dims).var(axis=0).sum()
    cell_means = standin_db.cell_means()
    grand = cell_means.mean(axis=(0, 1))
    prompt = cell_means.mean(axis=1)
    cell = cell_means.mean(axis=0)
    interaction = cell_means - prompt[:, None] - cell[None] + grand
    shares = {
        "prompt": ((prompt - grand) ** 2).mean(axis=0).sum() / total,
        "cell": ((cell - grand) ** 2).mean(axis=0).sum() / total,
        "interaction": (interaction**2).mean(axis=(0, 1)).sum() / total,
    }
    assert 0.25 <= shares["prompt"] <= 0.35
    assert 0.03 <= shares["cell"] <= 0.12
    assert 0.06 <= shares["interaction"] <= 0.16
    assert 1 - sum(shares.values()) >= 0.4


def test_within_cell_scores_are_not_gaussian(standin_db: PromptDatabase) -> None:
    """The median |skewness| over (prompt, cell, dim) is far above a Gaussian's.

    For Gaussian cells of 950 draws the skewness has sd sqrt(6 / 950) = 0.08, so the median of
    its absolute value would be about 0.05; we require 0.3 (over 9600 cells).
    """
    skewness = stats.skew(standin_db.z, axis=2)
    assert np.median(np.abs(skewness)) > 0.3


def test_best_prompt_changes_with_the_cell(standin_db: PromptDatabase) -> None:
    """Under linear_3d the best prompt differs across cells, among all 40 and the paper's 5."""
    rewards = linear_3d_cell_rewards(standin_db)
    assert np.unique(rewards.argmax(axis=0)).size > 1
    ranking = np.argsort(rewards.mean(axis=1))  # cells have equal weight and equal draws
    picked = ranking[np.round(np.linspace(0, 39, 5)).astype(int)]
    assert picked[0] == ranking[0] and picked[-1] == ranking[-1]
    assert np.unique(picked[rewards[picked].argmax(axis=0)]).size > 1


def test_deterministic_under_a_seed() -> None:
    """Equal seeds give identical databases, different seeds different ones."""
    first = make_standin_database(seed=3, n_draws=20)
    np.testing.assert_array_equal(first.z, make_standin_database(seed=3, n_draws=20).z)
    other = make_standin_database(seed=4, n_draws=20)
    assert np.abs(first.z - other.z).mean() > 0.1
    assert first.z.shape == (40, 12, 20, 20)


def test_rejects_no_draws() -> None:
    """At least one draw per cell is needed."""
    with pytest.raises(ValueError, match=r"`n_draws` must be a positive integer, got 0"):
        make_standin_database(n_draws=0)
