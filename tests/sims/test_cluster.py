"""Sweeps on batch jobs: the cluster file, the job script, and a real single-node SLURM.

The SLURM tests start ``munged``, ``slurmctld`` and ``slurmd`` on this machine (Debian's
``slurm-wlm`` and ``munge``; ``.ci/run`` installs them) with a minimal ``slurm.conf`` of their
own, on ports of their own. Where SLURM cannot be had they skip, saying why; on CI they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
from click.testing import CliRunner

from gambitts.cli.main import main
from gambitts.sims.cluster import ClusterConfig, ClusterError, load_cluster_config

pytest.importorskip("dask_jobqueue", reason="--cluster needs `pip install -e '.[test]'`")

BLOCK = """\
small:
  description: a small block for batch jobs
  outcome_model: linear_3d
  vary: noise_level
  values: [0, 2]
  replicates: 6
  horizon: 150
  agents:
    - {kind: StdTS}
    - {kind: poGAMBITTS, dims: [optimism, formality, severity]}
    - {kind: foGAMBITTS, dims: [optimism]}
"""


@pytest.mark.parametrize(
    "text,message",
    [
        ("walltime: 2h\n", "`walltime` must be HH:MM:SS"),
        ("cores: 0\n", "`cores` must be a whole number >= 1, got 0"),
        ("cores: true\n", "`cores` must be a whole number >= 1, got True"),
        ("memory: lots\n", "`memory` must be an amount such as '16GB'"),
        ("directives: --exclusive\n", "`directives` must be a list of strings"),
        ("queue: ''\n", "`queue` must be a name"),
        ("partition: debug\n", r"unknown key\(s\) \['partition'\]; valid keys are \['queue'"),
        ("- a\n- b\n", "must be a mapping of settings"),
        ("walltime: [\n", "is not valid YAML"),
    ],
    ids=lambda x: str(x)[:20],
)
def test_a_bad_cluster_file_is_one_line(tmp_path, text, message):
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    with pytest.raises(ClusterError, match=message) as error:
        load_cluster_config("slurm", path)
    assert "\n" not in str(error.value)


def test_a_cluster_file_sets_every_job_option(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(
        "queue: short\naccount: lab\nwalltime: '00:30:00'\ncores: 2\nmemory: 8GB\n"
        "directives: ['--comment=gambitts']\n"
    )
    config = load_cluster_config("slurm", path)
    assert config == ClusterConfig(
        "slurm", "short", "lab", "00:30:00", 2, "8GB", ("--comment=gambitts",)
    )
    options = config.job_options(tmp_path)
    assert options["processes"] == options["cores"] == 2  # one single-threaded worker per core
    assert options["account"] == "lab"
    assert load_cluster_config("sge", path).job_options(tmp_path)["project"] == "lab"


def test_dry_run_prints_the_job_script_and_writes_nothing(tmp_path):
    config = tmp_path / "cluster.yaml"
    config.write_text("queue: short\nwalltime: '00:30:00'\ncores: 2\nmemory: 8GB\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["simulate", "--cluster", "slurm", "--cluster-config", str(config), "--dry-run",
               "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    script = result.output
    for line in ("#SBATCH -p short", "#SBATCH -t 00:30:00", "#SBATCH --cpus-per-task=2",
                 "export OMP_NUM_THREADS=1", "export NUMBA_NUM_THREADS=1", "--nthreads 1",
                 f"--local-directory {out.resolve() / '.dask-scratch'}"):  # fmt: skip
        assert line in script, line
    assert not out.exists()


@pytest.mark.parametrize(
    "arguments,message",
    [
        (["--dry-run"], "--cluster-config and --dry-run need --cluster"),
        (["--cluster", "slurm", "--scheduler", "tcp://x:1"], "give --cluster or --scheduler"),
        (["--cluster", "condor"], "'condor' is not one of 'slurm', 'pbs', 'sge', 'lsf'"),
    ],
)
def test_cluster_options_that_do_not_fit_are_refused(arguments, message):
    result = CliRunner().invoke(main, ["simulate", "--experiment", "one_d_sim", *arguments])
    assert result.exit_code == 2 and message in result.output


# -- a real SLURM ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"SLURM is needed on CI: {reason}")
    pytest.skip(f"no SLURM here: {reason}")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """Start a single-node SLURM on this machine for these tests; stop it after."""
    needed = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel"]
    missing = [name for name in needed if shutil.which(name) is None and
               not Path(f"/usr/sbin/{name}").exists()]  # fmt: skip
    if missing:
        _unavailable(f"{missing} not installed (apt-get install slurm-wlm munge)")
    if os.geteuid() != 0:
        _unavailable("starting slurmd needs root")
    root = tmp_path_factory.mktemp("slurm")
    _start_munge()
    host = socket.gethostname().split(".")[0]
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 - 2048
    conf = root / "slurm.conf"
    conf.write_text(
        f"ClusterName=gambitts_tests\nSlurmctldHost={host}\nSlurmUser=root\nSlurmdUser=root\n"
        f"SlurmctldPort={_free_port()}\nSlurmdPort={_free_port()}\nAuthType=auth/munge\n"
        f"StateSaveLocation={root}/state\nSlurmdSpoolDir={root}/spool\n"
        f"SlurmctldPidFile={root}/slurmctld.pid\nSlurmdPidFile={root}/slurmd.pid\n"
        f"SlurmctldLogFile={root}/slurmctld.log\nSlurmdLogFile={root}/slurmd.log\n"
        "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSelectType=select/cons_tres\n"
        "SelectTypeParameters=CR_Core_Memory\nReturnToService=2\nMpiDefault=none\n"
        "JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n"
        f"NodeName={host} CPUs={os.cpu_count()} RealMemory={memory} State=UNKNOWN\n"
        f"PartitionName=tests Nodes={host} Default=YES MaxTime=INFINITE State=UP\n"
    )
    for folder in ("state", "spool"):
        (root / folder).mkdir()
    environment = {**os.environ, "SLURM_CONF": str(conf)}
    for daemon in ("slurmctld", "slurmd"):
        started = subprocess.run([daemon, "-f", str(conf)], env=environment, capture_output=True)
        if started.returncode != 0:
            _unavailable(f"{daemon} did not start: {started.stderr.decode()[-300:]}")
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)  # sbatch, squeue and scancel read it
    try:
        _wait_for_idle_node(environment)
        yield root
    finally:
        subprocess.run(["scontrol", "shutdown"], env=environment, capture_output=True)
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous


def _start_munge() -> None:
    if subprocess.run(["pgrep", "-x", "munged"], capture_output=True).returncode == 0:
        return
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        key.write_bytes(os.urandom(1024))
    shutil.chown(key, "munge", "munge")
    key.chmod(0o400)
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    started = subprocess.run(["su", "-s", "/bin/sh", "munge", "-c", "/usr/sbin/munged"],
                             capture_output=True)  # fmt: skip
    if started.returncode != 0:
        _unavailable(f"munged did not start: {started.stderr.decode()[-300:]}")


def _wait_for_idle_node(environment: dict[str, str]) -> None:
    for _ in range(60):
        state = subprocess.run(["sinfo", "-h", "-o", "%t"], env=environment,
                               capture_output=True, text=True).stdout.strip()  # fmt: skip
        if state == "idle":
            return
        time.sleep(0.5)
    _unavailable(f"the SLURM node did not become idle (state {state!r})")


def _simulate(tmp_path: Path, out: str, *extra: str) -> subprocess.Popen:
    (tmp_path / "block.yaml").write_text(BLOCK)
    command = [sys.executable, "-m", "gambitts.cli", "simulate", "--config",
               str(tmp_path / "block.yaml"), "--out", str(tmp_path / out), "--no-plot",
               "--chunk-size", "2", *extra]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _results(tmp_path: Path, out: str) -> xr.Dataset:
    with xr.open_dataset(tmp_path / out / "small.nc", engine="h5netcdf") as ds:
        return ds.load()


def _assert_same_numbers(a: xr.Dataset, b: xr.Dataset) -> None:
    for variable in ("regret", "action", "reward", "context_cell"):
        xr.testing.assert_equal(a[variable], b[variable])


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("local")
    process = _simulate(folder, "local", "--workers", "1")
    _, errors = process.communicate(timeout=600)
    assert process.returncode == 0, errors[-2000:]
    return _results(folder, "local")


@pytest.mark.slow
def test_a_sweep_on_slurm_jobs_gives_the_local_numbers(slurm, local_run, tmp_path):
    config = tmp_path / "cluster.yaml"
    config.write_text("walltime: '00:20:00'\ncores: 1\nmemory: 2GB\n")
    process = _simulate(tmp_path, "slurm", "--cluster", "slurm", "--jobs", "2",
                        "--cluster-config", str(config))  # fmt: skip
    _, errors = process.communicate(timeout=600)
    assert process.returncode == 0, errors[-2000:]
    _assert_same_numbers(_results(tmp_path, "slurm"), local_run)
    assert len(list((tmp_path / "slurm" / ".dask-scratch" / "jobs").glob("*.err"))) >= 2


@pytest.mark.slow
def test_a_cancelled_job_is_replaced_and_the_numbers_do_not_change(slurm, local_run, tmp_path):
    process = _simulate(tmp_path, "cancelled", "--cluster", "slurm", "--jobs", "1")
    cancelled = None
    deadline = time.monotonic() + 120
    while cancelled is None and time.monotonic() < deadline and process.poll() is None:
        running = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i"],
                                 capture_output=True, text=True).stdout.split()  # fmt: skip
        done = list((tmp_path / "cancelled" / "configs").glob("*.nc"))
        if running and done:  # mid-sweep: some configurations finished, others not
            cancelled = running[0]
            subprocess.run(["scancel", cancelled], check=True)
        time.sleep(0.2)
    _, errors = process.communicate(timeout=600)
    assert cancelled is not None, "the sweep finished before a job could be cancelled"
    assert process.returncode == 0, errors[-2000:]
    _assert_same_numbers(_results(tmp_path, "cancelled"), local_run)
    logs = list((tmp_path / "cancelled" / ".dask-scratch" / "jobs").glob("*.err"))
    assert len(logs) >= 2, "no job replaced the cancelled one"
