"""A study that is not the paper's: its own context space, database and world, end to end."""

from __future__ import annotations

import numpy as np
import xarray as xr
import yaml

from gambitts.design.contexts import ContextSpace, ContextVariable
from gambitts.design.promptdb import PromptDatabase, load_prompt_database
from gambitts.design.standin import make_standin_database
from gambitts.sims.experiments import experiments_from_yaml
from gambitts.sims.sweep import run_sweep

SPACE = ContextSpace(
    (
        ContextVariable("time_of_day", ("morning", "evening")),
        ContextVariable("day", ("weekday", "weekend")),
        ContextVariable("sleep", ("short", "ok", "long"), values=(5.5, 7.0, 8.5)),
    ),
    probabilities=[0.06] * 4 + [0.2] * 2 + [0.06] * 6,
)
WORLD = """
import numpy as np


def expected_reward(z, context):
    evening = context["time_of_day"] == "evening"
    return 6.0 + np.tanh(z[:, 0]) + np.where(evening, 0.5, -0.25) * z[:, 1]
"""


def _study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "world.py").write_text(WORLD)
    db = make_standin_database(n_draws=20, contexts=SPACE)
    block = {
        "own": {
            "description": "our own study",
            "outcome_model": {"type": "python", "function": "world.py:expected_reward",
                              "dims": ["optimism", "formality"], "noise_sd": [0.5, 1.0]},
            "vary": "noise_level", "values": [0, 1], "replicates": 3, "horizon": 40,
            "agents": [
                {"kind": "StdTS:Contextual"},
                {"kind": "poGAMBITTS", "dims": ["optimism", "formality"],
                 "context_features": True},
            ],
        }
    }  # fmt: skip
    return db, list(experiments_from_yaml(yaml.safe_dump(block)).values())


def test_a_database_keeps_its_context_space_through_netcdf(tmp_path):
    db = make_standin_database(n_draws=5, contexts=SPACE)
    db.save(tmp_path / "db.nc")
    back = load_prompt_database(tmp_path / "db.nc")
    assert back.contexts == SPACE and back.n_cells == 12
    np.testing.assert_array_equal(back.z, db.z)
    with xr.open_dataset(tmp_path / "db.nc", engine="h5netcdf") as ds:
        evening = ds.set_xindex("time_of_day").sel(time_of_day="evening")
        assert evening.sizes["cell"] == 6
        assert set(evening["cell"].values) == {c for c in SPACE.cell_labels if "evening" in c}


def test_messages_are_kept(tmp_path):
    db = make_standin_database(n_draws=3, contexts=SPACE)
    text = np.full(db.z.shape[:3], "a message", dtype=object)
    with_text = PromptDatabase(
        z=db.z, n_draws=db.n_draws, prompts=db.prompts, dims=db.dims, contexts=SPACE,
        messages=text,
    )  # fmt: skip
    with_text.save(tmp_path / "db.nc")
    assert load_prompt_database(tmp_path / "db.nc").messages[0, 0, 0] == "a message"


def test_an_own_study_runs_with_its_cells_features_and_arrival(tmp_path, monkeypatch):
    db, specs = _study(tmp_path, monkeypatch)
    path = run_sweep(specs, db, tmp_path / "out", workers=1, save_posteriors=[0])["own"]
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        ds = ds.load()
    assert list(ds["cell"].values) == list(SPACE.cell_labels)
    assert list(ds["sleep"].values) == list(SPACE.cell_level_labels("sleep"))
    # Contexts arrive as the space says: cells 4 and 5 (morning/weekend/short, /ok) at 0.2 each.
    share = np.bincount(ds["context_cell"].values.ravel(), minlength=12) / ds["context_cell"].size
    assert abs(share[4:6].sum() - 0.4) < 4 * np.sqrt(0.4 * 0.6 / ds["context_cell"].size)
    assert np.isfinite(ds["regret"].values).all() and (ds["regret"].values >= -1e-6).all()
    tree = xr.open_datatree(path, engine="h5netcdf")
    posterior = tree["posteriors/sd_0/poGAMBITTS/replicate_0"].to_dataset()
    features = [str(f) for f in posterior["feature"].values]
    assert "sleep" in features and "time_of_day[evening]" in features


def test_the_results_key_changes_with_the_context_space_alone(tmp_path, monkeypatch):
    from gambitts.sims.sweep import database_fingerprint

    db, _ = _study(tmp_path, monkeypatch)
    uniform = ContextSpace(SPACE.variables)
    other = PromptDatabase(
        z=db.z, n_draws=db.n_draws, prompts=db.prompts, dims=db.dims, contexts=uniform
    )
    assert database_fingerprint(other) != database_fingerprint(db)


def test_context_variables_may_not_take_the_names_of_results_coordinates():
    import pytest

    from gambitts.design.contexts import ContextSpaceError

    for name in ("t", "cell", "replicate", "agent", "prompt"):
        with pytest.raises(ContextSpaceError, match=f"cannot be called {name!r}"):
            ContextVariable(name, ("a", "b"))
    with pytest.raises(ContextSpaceError, match="at most 32767 cells, got 40000"):
        many = tuple(str(i) for i in range(200))
        ContextSpace((ContextVariable("a", many), ContextVariable("b", many)))
