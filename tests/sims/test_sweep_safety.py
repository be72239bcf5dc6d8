"""Sweeps never report numbers from other input, never write outside OUT, never lose results."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr

from gambitts.design.promptdb import PromptDatabase
from gambitts.errors import InputError, OutputError
from gambitts.sims.experiments import experiments_from_yaml
from gambitts.sims.sweep import estimate_memory, output_lock, run_sweep

TWO_BLOCKS = """
few:
  description: a block with few replicates
  outcome_model: linear_3d
  replicates: 2
  horizon: 12
  agents:
    - {kind: StdTS}
many:
  description: the same configuration with more replicates
  outcome_model: linear_3d
  replicates: 5
  horizon: 12
  agents:
    - {kind: StdTS}
"""


def _specs(text: str = TWO_BLOCKS):
    return list(experiments_from_yaml(text).values())


def _load(path):
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def test_blocks_sharing_a_configuration_keep_their_own_replicate_counts(tmp_path, standin_db):
    written = run_sweep(_specs(), standin_db, tmp_path, workers=1)
    few, many = _load(written["few"]), _load(written["many"])
    assert few.sizes["replicate"] == 2 and many.sizes["replicate"] == 5
    # Replicates are keyed by number: the first two agree, whichever block ran them.
    np.testing.assert_array_equal(few["regret"].values, many["regret"].values[..., :2, :])


def test_cached_configurations_are_reused_with_a_notice_and_keyed_on_the_code(
    tmp_path, standin_db, monkeypatch
):
    notices = []
    run_sweep(_specs(), standin_db, tmp_path, workers=1)
    run_sweep(_specs(), standin_db, tmp_path, workers=1, notify=notices.append)
    assert any("reusing 2 finished configuration(s)" in n and "code" in n for n in notices)

    # After an upgrade (another code fingerprint) nothing old is reused.
    import gambitts.sims.provenance as provenance

    monkeypatch.setattr(provenance, "code_fingerprint", lambda: "0123456789abcdef")
    plans = []
    written = run_sweep(_specs(), standin_db, tmp_path, workers=1, on_plan=plans.append)
    assert plans[0].done == set() and len(plans[0].todo) == 2
    assert _load(written["few"]).attrs["code"] == "0123456789abcdef"


def test_a_corrupted_cached_configuration_is_recomputed_alone(tmp_path, standin_db):
    first = run_sweep(_specs(), standin_db, tmp_path, workers=1)
    reference = _load(first["many"])
    cached = sorted((tmp_path / "configs").glob("*.nc"))
    assert len(cached) == 2
    cached[0].write_bytes(cached[0].read_bytes()[:300])  # truncated
    notices, plans = [], []
    second = run_sweep(
        _specs(), standin_db, tmp_path, workers=1, notify=notices.append, on_plan=plans.append
    )
    assert any(str(cached[0]) in n and "recomputing it" in n for n in notices)
    assert len(plans[0].done) == 1 and len(plans[0].todo) == 1
    xr.testing.assert_identical(_load(second["many"]), reference)


def test_a_second_run_on_the_same_output_folder_is_refused(tmp_path, standin_db):
    with output_lock(tmp_path):
        with pytest.raises(OutputError, match="is in use by another gambitts run"):
            run_sweep(_specs(), standin_db, tmp_path, workers=1)
    assert not list(tmp_path.glob("*.nc"))
    run_sweep(_specs(), standin_db, tmp_path, workers=1)  # the lock is released


def test_the_lock_holds_across_processes(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            "import sys, time; from pathlib import Path; from gambitts.sims.sweep import "
            "output_lock\nwith output_lock(Path(sys.argv[1])):\n print('locked', flush=True);"
            " time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputError, match=rf"pid {holder.pid}\)"):
            with output_lock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    with output_lock(tmp_path):  # a killed holder leaves no lock behind
        pass


def test_replacing_a_block_file_of_other_settings_is_said(tmp_path, standin_db):
    run_sweep(_specs(), standin_db, tmp_path, workers=1, seed=1)
    notices = []
    run_sweep(_specs(), standin_db, tmp_path, workers=1, seed=2, notify=notices.append)
    replaced = [n for n in notices if n.startswith("replaced")]
    assert len(replaced) == 2 and all("seed 1 -> 2" in n for n in replaced)
    assert _load(tmp_path / "few.nc").attrs["seed"] == 2


def test_stale_temporary_files_of_dead_runs_are_removed(tmp_path, standin_db):
    (tmp_path / "configs").mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True).stdout.strip()  # fmt: skip
    stale = tmp_path / "configs" / f".abc.nc.{dead}.x1y2.tmp"
    live = tmp_path / f".few.nc.{os.getpid()}.x1y2.tmp"
    stale.write_bytes(b"partial")
    live.write_bytes(b"being written")
    notices = []
    run_sweep(_specs(), standin_db, tmp_path, workers=1, notify=notices.append)
    assert not stale.exists() and live.exists()
    assert any(str(stale) in n for n in notices)


def test_everything_is_checked_before_anything_runs(tmp_path, standin_db):
    specs = _specs()
    with pytest.raises(InputError, match=r"`save_posteriors` replicates \[3\] are outside 0..1"):
        run_sweep(specs, standin_db, tmp_path, workers=1, save_posteriors=[3])
    small = PromptDatabase(
        z=standin_db.z[:3], n_draws=standin_db.n_draws[:3], prompts=standin_db.prompts[:3],
        dims=standin_db.dims,
    )  # fmt: skip
    with pytest.raises(InputError, match="asks for 5 prompts but the database has 3"):
        run_sweep(specs, small, tmp_path, workers=1)
    keep = [i for i, dim in enumerate(standin_db.dims) if dim != "optimism"]
    no_optimism = PromptDatabase(
        z=standin_db.z[..., keep], n_draws=standin_db.n_draws, prompts=standin_db.prompts,
        dims=[standin_db.dims[i] for i in keep],
    )  # fmt: skip
    with pytest.raises(InputError, match=r"uses style dimension\(s\) \['optimism'\]"):
        run_sweep(specs, no_optimism, tmp_path, workers=1)
    huge = [spec.with_overrides(replicates=10**9, horizon=10**6) for spec in specs]
    with pytest.raises(InputError, match="GiB of memory but"):
        run_sweep(huge, standin_db, tmp_path, workers=1)
    assert not (tmp_path / "configs").exists() or not list((tmp_path / "configs").iterdir())


def test_the_memory_estimate_grows_with_the_run():
    specs = _specs()
    small = estimate_memory(specs, chunk_size=125, workers=2)
    large = estimate_memory(
        [s.with_overrides(replicates=250, horizon=1000) for s in specs], chunk_size=125, workers=2
    )
    assert large > 100 * small > 0


def test_overflowing_results_are_refused_and_not_cached(tmp_path, standin_db):
    big = PromptDatabase(
        z=standin_db.z * 1e37, n_draws=standin_db.n_draws, prompts=standin_db.prompts,
        dims=standin_db.dims,
    )  # fmt: skip
    with pytest.raises(InputError, match="expected rewards are not finite numbers of a usable"):
        run_sweep(_specs(), big, tmp_path, workers=1)
    assert not list((tmp_path / "configs").glob("*.nc"))


def test_block_names_that_are_not_file_names_are_refused():
    for name in ("../x", "/abs/victim", ".hidden", "a/b", "x.."):
        with pytest.raises(InputError, match="is not a plain file name"):
            experiments_from_yaml(TWO_BLOCKS.replace("few:", f"{name!r}:"))


#: A world that works when checked before the run and fails in the run itself (its second call
#: in any process that has not called it before: the check's call is counted in a file).
FAILING_WORLD = """
from pathlib import Path


def expected_reward(z, context):
    calls = Path(__file__).with_name("calls")
    seen = int(calls.read_text()) if calls.exists() else 0
    calls.write_text(str(seen + 1))
    if seen >= 1:
        raise RuntimeError("the world failed in the run")
    return z[:, 0]
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_error_reaches_the_caller_as_the_same_one_line_error(
    tmp_path, standin_db, workers, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "world.py").write_text(FAILING_WORLD)
    world = "{type: python, function: world.py:expected_reward, dims: [optimism], noise_sd: 1.0}"
    specs = _specs(TWO_BLOCKS.replace("outcome_model: linear_3d", f"outcome_model: {world}"))
    start = time.monotonic()
    with pytest.raises(InputError, match="RuntimeError: the world failed in the run") as caught:
        run_sweep(specs, standin_db, tmp_path / "out", workers=workers)
    assert "\n" not in str(caught.value)
    assert time.monotonic() - start < 120
    assert not list((tmp_path / "out").glob("configs/*.nc"))


def test_a_copied_cache_file_is_not_taken_for_another_configuration(tmp_path, standin_db):
    specs = _specs(
        TWO_BLOCKS.replace("{kind: StdTS}\nmany", "{kind: foGAMBITTS, dims: [optimism]}\nmany")
    )
    first = run_sweep(specs, standin_db, tmp_path, workers=1)
    reference = {name: _load(path) for name, path in first.items()}
    cached = sorted((tmp_path / "configs").glob("*.nc"))
    cached[1].write_bytes(cached[0].read_bytes())  # another configuration's results
    notices = []
    second = run_sweep(specs, standin_db, tmp_path, workers=1, notify=notices.append)
    assert any("holds the results of another configuration" in n for n in notices)
    for name, path in second.items():
        xr.testing.assert_identical(_load(path), reference[name])


def test_a_folder_in_place_of_an_output_file_is_one_line(tmp_path, standin_db):
    (tmp_path / "configs").write_text("not a folder")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        run_sweep(_specs(), standin_db, tmp_path, workers=1)
