"""Sweeps: identical results on a Dask cluster and in-process, and resuming after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import xarray as xr

from gambitts.errors import InputError
from gambitts.sims.experiments import experiments_from_yaml
from gambitts.sims.sweep import plan_sweep, run_sweep

TINY = """
tiny_noise:
  description: noise levels
  outcome_model: linear_3d
  vary: noise_level
  values: [0, 3]
  replicates: 6
  horizon: 25
  agents:
    - {kind: StdTS}
    - {kind: poGAMBITTS, dims: [optimism, formality, severity], draws_per_cell: 15}
tiny_arms:
  description: prompts
  outcome_model: linear_3d
  vary: n_prompts
  values: [3, 5]
  replicates: 6
  horizon: 25
  agents:
    - {kind: StdTS}
    - {kind: foGAMBITTS, dims: [optimism]}
"""


def _load(path):
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def test_configurations_shared_by_blocks_run_once(tmp_path):
    specs = list(experiments_from_yaml(TINY).values())
    plan = plan_sweep(specs, "db", tmp_path, seed=0, force=False)
    # StdTS at sd_0 with 5 prompts appears in both blocks: 4 + 4 - 1 distinct configurations.
    assert len(plan.keys) == 7 and len(set(plan.keys.values())) == 7
    # ... but not when the blocks ask for different replicate counts: then it runs twice.
    specs[1] = specs[1].with_overrides(replicates=4)
    plan = plan_sweep(specs, "db", tmp_path, seed=0, force=False)
    assert len(plan.keys) == 8 and len(set(plan.keys.values())) == 8


@pytest.mark.parametrize("cluster", ["local", "scheduler"])
def test_a_two_worker_dask_cluster_gives_the_serial_results(tmp_path, standin_db, cluster):
    specs = list(experiments_from_yaml(TINY).values())
    serial = run_sweep(specs, standin_db, tmp_path / "serial", seed=9, workers=1)
    if cluster == "local":  # the default: a two-process cluster started for the sweep
        parallel = run_sweep(specs, standin_db, tmp_path / "dask", seed=9, workers=2, chunk_size=4)
    else:  # an existing cluster, reached by its scheduler's address (as on SLURM)
        from dask.distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as external:
            parallel = run_sweep(
                specs,
                standin_db,
                tmp_path / "dask",
                seed=9,
                scheduler=external.scheduler_address,
                chunk_size=4,
            )
    for name in serial:
        xr.testing.assert_identical(_load(serial[name]), _load(parallel[name]))


def test_a_killed_sweep_resumes_to_the_uninterrupted_result(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY.replace("horizon: 25", "horizon: 1500"))
    command = [
        sys.executable, "-m", "gambitts.cli", "simulate", "--config", str(config),
        "--workers", "1", "--no-plot", "--seed", "3",
    ]  # fmt: skip
    reference = subprocess.run([*command, "--out", str(tmp_path / "whole")], capture_output=True)
    assert reference.returncode == 0, reference.stderr.decode()

    out = tmp_path / "killed"
    process = subprocess.Popen(
        [*command, "--out", str(out)], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not list((out / "configs").glob("*.nc")) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished = len(list((out / "configs").glob("*.nc")))
    assert 1 <= finished < 7, "the kill came too late to interrupt the sweep"
    assert not list(out.glob("tiny_*.nc"))

    resumed = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{finished} already finished" in resumed.stderr
    for name in ("tiny_noise", "tiny_arms"):
        xr.testing.assert_identical(
            _load(out / f"{name}.nc"), _load(tmp_path / "whole" / f"{name}.nc")
        )


def test_bad_sweep_arguments_are_refused(tmp_path, standin_db):
    specs = list(experiments_from_yaml(TINY).values())
    with pytest.raises(InputError, match="`workers` must be a positive integer, got 0"):
        run_sweep(specs, standin_db, tmp_path, workers=0)
    with pytest.raises(InputError, match=r"`seed` must be an integer from 0 to 2\*\*63 - 1"):
        run_sweep(specs, standin_db, tmp_path, seed=2**64)
    assert not (tmp_path / "configs").exists()  # refused before anything was written
