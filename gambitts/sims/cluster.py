"""Sweeps on an HPC cluster: SLURM, PBS, SGE or LSF jobs through dask-jobqueue.

``gambitts simulate ... --cluster slurm --jobs 4 --cluster-config cluster.yaml`` submits four
batch jobs, each running one single-threaded Dask worker per core, and keeps that many jobs
alive while the sweep runs (a job that dies or reaches its walltime is replaced; the tasks it
held run again). The cluster file says what a job asks for::

    queue: standard          # partition (SLURM) or queue
    account: my-lab          # charged account (SLURM, PBS; project on SGE, LSF)
    walltime: "02:00:00"     # per job, HH:MM:SS
    cores: 4                 # per job: one worker process (one thread) per core
    memory: 16GB             # per job
    directives: ["--mail-type=NONE"]   # extra scheduler directives, added as written

Every key may be left out. ``--dry-run`` prints the job script that would be submitted.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from gambitts.errors import InputError, shown
from gambitts.yaml_files import parse_yaml, read_yaml_text

#: ``--cluster`` value -> dask-jobqueue's cluster class.
CLUSTER_KINDS: dict[str, str] = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
}
#: Environment of every worker: single-threaded kernels, as the local workers have.
ONE_THREAD_PER_WORKER: dict[str, str] = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
_WALLTIME = re.compile(r"^\d{1,4}:[0-5]\d:[0-5]\d$")
_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")


class ClusterError(InputError):
    """A cluster option or cluster file is invalid, or the cluster cannot be used."""


@dataclass(frozen=True)
class ClusterConfig:
    """What each batch job asks the scheduler for (see the module notes)."""

    kind: str
    queue: str | None = None
    account: str | None = None
    walltime: str = "01:00:00"
    cores: int = 1
    memory: str = "4GB"
    directives: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in CLUSTER_KINDS:
            raise ClusterError(
                f"--cluster must be one of {list(CLUSTER_KINDS)}, got {shown(self.kind)}"
            )
        for name in ("queue", "account"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ClusterError(f"cluster `{name}` must be a name, got {shown(value)}")
        if not isinstance(self.walltime, str) or not _WALLTIME.match(self.walltime):
            raise ClusterError(
                f"cluster `walltime` must be HH:MM:SS, e.g. '02:00:00', got {shown(self.walltime)}"
            )
        if isinstance(self.cores, bool) or not isinstance(self.cores, int) or self.cores < 1:
            raise ClusterError(
                f"cluster `cores` must be a whole number >= 1, got {shown(self.cores)}"
            )
        if not isinstance(self.memory, str) or not _MEMORY.match(self.memory):
            raise ClusterError(
                f"cluster `memory` must be an amount such as '16GB', got {shown(self.memory)}"
            )
        directives = self.directives
        if isinstance(directives, str) or not isinstance(directives, tuple | list):
            raise ClusterError(
                f"cluster `directives` must be a list of strings, got {shown(directives)}"
            )
        for directive in directives:
            if not isinstance(directive, str) or not directive.strip() or "\n" in directive:
                raise ClusterError(
                    f"cluster `directives` must be one-line strings, got {shown(directive)}"
                )
        object.__setattr__(self, "directives", tuple(directives))

    def job_options(self, scratch: Path) -> dict[str, Any]:
        """Keyword arguments of the dask-jobqueue cluster class."""
        options: dict[str, Any] = {
            "cores": self.cores,
            "processes": self.cores,  # one single-threaded worker per core
            "memory": self.memory,
            "walltime": self.walltime,
            "queue": self.queue,
            "job_extra_directives": list(self.directives),
            "job_script_prologue": [f"export {k}={v}" for k, v in ONE_THREAD_PER_WORKER.items()],
            "python": sys.executable,
            "local_directory": str(scratch),
            "log_directory": str(scratch / "jobs"),
            "silence_logs": "error",
            "scheduler_options": {"dashboard_address": ":0"},
        }
        if self.account is not None:
            options["account" if self.kind in ("slurm", "pbs") else "project"] = self.account
        return options


def load_cluster_config(kind: str, path: str | os.PathLike | None) -> ClusterConfig:
    """Return the cluster configuration of ``--cluster kind`` from ``path`` (defaults if None).

    Raises
    ------
    ClusterError
        One line naming the key and what it must be.
    """
    if path is None:
        return ClusterConfig(kind)
    source = f"cluster file {str(path)!r}"
    try:
        document = parse_yaml(read_yaml_text(path, source), source)
    except ValueError as error:
        raise ClusterError(str(error)) from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ClusterError(f"{source} must be a mapping of settings, e.g. `walltime: '02:00:00'`")
    allowed = [f.name for f in fields(ClusterConfig) if f.name != "kind"]
    unknown = sorted(set(document) - set(allowed), key=str)
    if unknown:
        raise ClusterError(f"{source}: unknown key(s) {unknown}; valid keys are {allowed}")
    try:
        return ClusterConfig(kind, **document)
    except ClusterError as error:
        raise ClusterError(f"{source}: {error}") from None


def start_cluster(config: ClusterConfig, scratch: Path, jobs: int) -> Any:
    """Start the job-queue cluster, keeping ``jobs`` jobs alive (dead jobs are replaced).

    Raises
    ------
    ClusterError
        If dask-jobqueue is missing or the scheduler's commands (``sbatch``, ...) are not found.
    """
    (scratch / "jobs").mkdir(parents=True, exist_ok=True)  # the jobs' logs
    cluster = _cluster(config, scratch)
    cluster.adapt(minimum_jobs=jobs, maximum_jobs=jobs)
    return cluster


def job_script(config: ClusterConfig, scratch: Path) -> str:
    """Return the batch script each job would run in ``scratch`` (for ``--dry-run``).

    Nothing is submitted or written: dask-jobqueue makes the jobs' log folder as it renders the
    script, so it renders it in a temporary folder and the script is given with ``scratch``.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gambitts-dry-run-") as folder:
        cluster = _cluster(config, Path(folder))
        try:
            return cluster.job_script().replace(folder, str(scratch))
        finally:
            cluster.close()


def _cluster(config: ClusterConfig, scratch: Path) -> Any:
    try:
        import dask_jobqueue
    except ImportError:
        raise ClusterError(
            "--cluster needs dask-jobqueue: `pip install 'gambitts[cluster]'`"
        ) from None
    cluster_class = getattr(dask_jobqueue, CLUSTER_KINDS[config.kind])
    return cluster_class(**config.job_options(scratch))
