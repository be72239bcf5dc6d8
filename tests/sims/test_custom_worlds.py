"""Outcome worlds of a user's own: inline linear worlds and vectorised Python functions."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from gambitts.errors import InputError
from gambitts.sims.experiments import ExperimentError, experiments_from_yaml
from gambitts.sims.sweep import plan_sweep, run_sweep
from gambitts.sims.worlds.custom import OutcomeDefinition
from gambitts.sims.worlds.outcomes import build_outcome

LINEAR = {
    "type": "linear",
    "coefs": {"optimism": 1.0, "formality": -0.5},
    "intercept": 7.0,
    "context_coefs": {"curr_loc": {"work": 0.3}, "prev_steps": 0.1},
    "noise_sd": [0.5, 2.0],
}
WORLD_PY = """
import numpy as np


def expected_reward(z, context):
    at_work = context["curr_loc"] == "work"
    return 5.0 + z[:, 0] - 0.5 * z[:, 1] ** 2 + 0.3 * at_work * z[:, 0]
"""


def _block(world, **extra) -> str:
    block = {
        "mine": {
            "description": "a user's world",
            "outcome_model": world,
            "replicates": 2,
            "horizon": 8,
            "agents": [{"kind": "StdTS"}, {"kind": "poGAMBITTS", "dims": ["optimism"]}],
            **extra,
        }
    }
    return yaml.safe_dump(block)


def test_an_inline_linear_world_gives_the_expected_reward_it_says(standin_db):
    outcome = OutcomeDefinition.from_mapping(LINEAR).build()
    table = outcome.expected_reward_table(standin_db)  # (prompt, cell)
    means = standin_db.cell_means()[..., standin_db.dim_index(["optimism", "formality"])]
    locations = standin_db.contexts.cell_level_labels("curr_loc")
    steps = np.array(standin_db.contexts.cell_level_labels("prev_steps"), dtype=float)
    offset = 7.0 + 0.3 * (np.array(locations) == "work") + 0.1 * steps
    np.testing.assert_allclose(table, means @ [1.0, -0.5] + offset, rtol=1e-12)
    np.testing.assert_array_equal(outcome.noise_grid(standin_db), [0.5, 2.0])


def test_a_python_world_runs_and_its_source_is_in_the_key(tmp_path, standin_db, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "world.py").write_text(WORLD_PY)
    world = {"type": "python", "function": "world.py:expected_reward",
             "dims": ["optimism", "formality"], "noise_sd": 1.0}  # fmt: skip
    specs = list(experiments_from_yaml(_block(world)).values())
    outcome = build_outcome(specs[0].outcome_model)
    effects = outcome.row_effects(standin_db)
    z = standin_db.z[0, 4, 0, standin_db.dim_index(["optimism", "formality"])]
    assert effects[0, 4, 0] == pytest.approx(5.0 + z[0] - 0.5 * z[1] ** 2 + 0.3 * z[0])  # work/1
    written = run_sweep(specs, standin_db, tmp_path / "out", workers=1)
    assert written["mine"].exists()
    before = set(plan_sweep(specs, "db", tmp_path, seed=0, force=False).keys.values())
    (tmp_path / "world.py").write_text(WORLD_PY.replace("5.0 +", "6.0 +"))
    after = set(plan_sweep(specs, "db", tmp_path, seed=0, force=False).keys.values())
    assert before.isdisjoint(after)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"type": "quadratic"}, "`type` must be one of"),
        ({"noise_sd": None}, "`noise_sd` must be a finite number"),
        ({"noise_sd": [-1.0]}, "`noise_sd` must be a non-negative number"),
        ({"coefs": {}}, "`coefs` must map style dimensions to coefficients"),
        ({"colour": "red"}, r"unknown key\(s\) \['colour'\]"),
        ({"intercept": "high"}, "`intercept` must be a finite number, got 'high'"),
        ({"context_coefs": {"curr_loc": "x"}}, "must be a mapping of levels to effects"),
    ],
    ids=lambda x: str(x)[:24],
)
def test_bad_inline_worlds_are_one_line_errors(change, message):
    with pytest.raises(InputError, match=message) as caught:
        experiments_from_yaml(_block({**LINEAR, **change}))
    assert "\n" not in str(caught.value)


def test_noise_levels_are_those_of_the_world():
    experiments_from_yaml(_block(LINEAR, vary="noise_level", values=[0, 1]))
    with pytest.raises(ExperimentError, match=r"noise levels must be 0..1 \(sd_0 .. sd_1\), got 2"):
        experiments_from_yaml(_block(LINEAR, vary="noise_level", values=[2]))


@pytest.mark.parametrize(
    "source,message",
    [
        (
            "def expected_reward(z, context):\n    return z[:, 0] * context['time']\n",
            "raised KeyError: 'time'",
        ),
        (
            "def expected_reward(z, context):\n    return z[:3, 0]\n",
            r"must return one number per row, an array of shape \(\d+,\), got \(3,\)",
        ),
        (
            "import numpy as np\ndef expected_reward(z, context):\n    return z[:, 0] * np.inf\n",
            "returned a non-finite expected reward",
        ),
    ],
    ids=["raises", "wrong-shape", "non-finite"],
)
def test_a_failing_python_world_is_refused_before_any_work(
    tmp_path, standin_db, monkeypatch, source, message
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "world.py").write_text(source)
    world = {"type": "python", "function": "world.py:expected_reward",
             "dims": ["optimism"], "noise_sd": 1.0}  # fmt: skip
    specs = list(experiments_from_yaml(_block(world)).values())
    with pytest.raises(InputError, match=message):
        run_sweep(specs, standin_db, tmp_path / "out", workers=1)
    assert not list((tmp_path / "out").glob("configs/*.nc"))


def test_context_terms_must_fit_the_databases_context_space(tmp_path, standin_db):
    world = {**LINEAR, "context_coefs": {"time_of_day": {"evening": 1.0}}}
    specs = list(experiments_from_yaml(_block(world)).values())
    with pytest.raises(InputError, match=r"context variable\(s\) \['time_of_day'\]"):
        run_sweep(specs, standin_db, tmp_path, workers=1)


@pytest.mark.parametrize(
    "terms,message",
    [
        ({"curr_loc": {"work": True}}, "effect of curr_loc=work must be a finite number, got True"),
        ({"curr_loc": {"work": "2.5"}}, "must be a finite number, got '2.5'"),
        ({"curr_loc": {"work": float("nan")}}, "must be a finite number, got nan"),
        ({"prev_steps": float("inf")}, "`prev_steps` must be a finite number, got inf"),
    ],
    ids=["bool", "text", "nan", "inf"],
)
def test_context_effects_must_be_finite_numbers(terms, message):
    with pytest.raises(InputError, match=message):
        OutcomeDefinition.from_mapping({**LINEAR, "context_coefs": terms})


def test_a_world_whose_rewards_are_unusable_is_refused_before_any_work(tmp_path, standin_db):
    world = {**LINEAR, "coefs": {"optimism": 1e300}, "intercept": 1e300}
    specs = list(experiments_from_yaml(_block(world)).values())
    with pytest.raises(InputError, match="expected rewards are not finite numbers of a usable"):
        run_sweep(specs, standin_db, tmp_path, workers=1)
    assert not list(tmp_path.glob("configs/*.nc"))


def test_n_dims_cannot_vary_with_a_world_of_ones_own():
    with pytest.raises(ExperimentError, match="`n_dims` picks subsets of the paper's"):
        experiments_from_yaml(_block(LINEAR, vary="n_dims", values=[3]))
