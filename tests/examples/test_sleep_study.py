"""The sleep-study example end to end at reduced size, as the README tells a new user to run it.

Make the database, check it, simulate the experiment on it, plot, report and inspect, all
through the ``gambitts`` command.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import xarray as xr
from click.testing import CliRunner

from gambitts.cli.main import main

STUDY = Path(__file__).resolve().parents[2] / "examples" / "sleep_study"

pytestmark = pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS:UserWarning")


def _gambitts(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_the_sleep_study_runs_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(STUDY.parents[1])  # the experiment names its world relative to the root
    spec = importlib.util.spec_from_file_location("make_database", STUDY / "make_database.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    database = maker.main([str(tmp_path / "sleep.csv"), "--per-cell", "12"])
    reading = ["--prompt-db", str(database), "--contexts", str(STUDY / "study.yaml")]

    checked = _gambitts(
        "promptdb", "--check", str(database), "--contexts", str(STUDY / "study.yaml")
    )
    assert "prompts: 8, cells: 12, draws per cell: 12, dims: 5" in checked
    assert "time_of_day (morning, evening) x day (weekday, weekend) x sleep" in checked
    assert "messages: yes" in checked

    out = tmp_path / "results"
    simulated = _gambitts(
        "simulate", "--config", str(STUDY / "experiment.yaml"), *reading, "--out", str(out),
        "--replicates", "3", "--horizon", "40", "--workers", "1", "--save-posteriors", "0",
    )  # fmt: skip
    assert "sleep_noise: final cumulative regret at T=40" in simulated
    assert "noise_level=sd_2, n_prompts=8" in simulated  # the block crosses two axes
    with xr.open_dataset(out / "sleep_noise.nc", engine="h5netcdf") as ds:
        assert ds["regret"].dims == ("noise_level", "n_prompts", "agent", "replicate", "t")
        assert dict(ds["regret"].sizes) == {
            "noise_level": 3, "n_prompts": 2, "agent": 5, "replicate": 3, "t": 40,
        }  # fmt: skip
        assert ds.attrs["varies"] == "noise_level,n_prompts"
        agents = json.loads(ds.attrs["config"])["agents"]
        assert agents[2]["kind"] == "poGAMBITTS" and agents[2]["prior"]["intercept_mean"] == 6.0
        assert list(ds["n_prompts"].values) == ["4", "8"]
        assert ds["noise_sd"].sel(n_prompts="4").values.tolist() == [0.25, 0.5, 1.0]
        assert (ds["arm_prompt"].sel(n_prompts="4").isel(arm=slice(4, None)) == "").all()
        evening = ds.set_xindex("time_of_day").sel(time_of_day="evening")
        assert evening.sizes["cell"] == 6
    assert (out / "plots" / "sleep_noise.png").stat().st_size > 10_000

    _gambitts("plot", str(out))
    assert "| noise_level | n_prompts | agent |" in _gambitts("report", str(out))
    inspected = _gambitts("inspect", str(out / "sleep_noise.nc"))
    assert "beta[warmth]" in inspected and "/posteriors/sd_0/8/poGAMBITTS/replicate_0" in inspected
