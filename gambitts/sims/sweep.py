"""Sweeps: many experiment blocks as tasks, on local cores or a Dask cluster, resumable.

A sweep resolves every block into :class:`~gambitts.sims.experiments.RunConfig` s (one world,
one agent), drops duplicates (the same configuration in two blocks runs once), and skips those
whose results are already on disk. The rest are split into replicate chunks, which run on a
:class:`dask.distributed.Client` (a local two-process cluster by default, or an existing
scheduler) or, with ``workers=1``, in this process. As soon as all chunks of a configuration are
back its results are written atomically to ``OUT/configs/<key>.nc``, where ``<key>`` hashes the
resolved configuration, seed, replicate count and database; an interrupted sweep loses only
the configurations that were still running. Finally each block's file ``OUT/<block>.nc`` is
assembled from its configurations, with the fit diagnostics of custom agents in its group
``fit_diagnostics``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import signal
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from gambitts import __version__
from gambitts.design.promptdb import PromptDatabase
from gambitts.errors import InputError, OutputError
from gambitts.files import make_folder, remove_stale_temporaries, write_netcdf_atomic
from gambitts.sims.block_results import experiment_dataset, experiment_fit_diagnostics
from gambitts.sims.cluster import ONE_THREAD_PER_WORKER, ClusterConfig
from gambitts.sims.experiments import ExperimentSpec, RunConfig
from gambitts.sims.provenance import code_fingerprint, provenance
from gambitts.sims.replay import final_posteriors
from gambitts.sims.runner import run_config

ProgressCallback = Callable[[int], None]

#: Largest root seed: it is stored as a signed 64-bit NetCDF attribute.
MAX_SEED = 2**63 - 1
#: Largest expected reward a world may produce: rewards are stored as float32 (max 3.4e38) and
#: agents sum their squares.
_MAX_REWARD = 1e15
#: How long to wait for a Dask scheduler to answer.
_CONNECT_TIMEOUT = "20s"
#: The local Dask workers' scratch folder, inside the output folder.
_DASK_FOLDER = ".dask-scratch"
#: Lock file of an output folder (see :func:`output_lock`).
_LOCK_NAME = ".gambitts.lock"

#: NetCDF group of a block's file holding its custom agents' fit diagnostics (ArviZ reads it
#: as ``az.from_netcdf(path).fit_diagnostics``).
FIT_DIAGNOSTICS_GROUP = "fit_diagnostics"

#: Local workers are one process per core: their compiled kernels and BLAS stay single-threaded,
#: so that two workers do not fight over two cores with four threads.


@dataclass(frozen=True)
class PlannedRun:
    """One configuration run for a replicate count: the unit a sweep computes and caches.

    Two blocks may share a configuration but ask for different replicate counts; they are two
    planned runs with two results keys.
    """

    config: RunConfig
    replicates: int


@dataclass
class SweepPlan:
    """What a sweep will run, and what it can reuse.

    Attributes
    ----------
    keys : dict of PlannedRun to str
        Every distinct planned run of the sweep and its results key.
    done : set of str
        Keys whose results are already on disk (and were readable).
    """

    keys: dict[PlannedRun, str] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)

    @property
    def todo(self) -> list[PlannedRun]:
        """Planned runs still to compute, in plan order."""
        return [run for run, key in self.keys.items() if key not in self.done]

    @property
    def todo_replicate_rounds(self) -> int:
        """Replicate-rounds still to compute (the length of a progress bar)."""
        return sum(run.replicates * run.config.horizon for run in self.todo)


def database_fingerprint(db: PromptDatabase) -> str:
    """Return a short hash of a database's contents (part of every results key).

    It covers the scores, counts, names and the context space (levels, values, cells, arrival
    probabilities): each changes what a run computes.
    """
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(db.n_draws).tobytes())
    digest.update(np.nan_to_num(db.z).tobytes())
    digest.update(json.dumps([db.prompts, db.dims]).encode())
    digest.update(db.contexts.to_json().encode())
    return digest.hexdigest()[:16]


def planned_runs(spec: ExperimentSpec) -> list[PlannedRun]:
    """Return the planned runs of one block, setting by setting."""
    return [
        PlannedRun(config, spec.replicates)
        for setting in spec.settings()
        for config in setting.configs
    ]


def plan_sweep(
    specs: Sequence[ExperimentSpec], db_key: str, out_dir: Path, *, seed: int, force: bool
) -> SweepPlan:
    """Resolve ``specs`` into distinct planned runs and find those already on disk."""
    plan = SweepPlan()
    for spec in specs:
        for run in planned_runs(spec):
            plan.keys.setdefault(run, run.config.key(seed, run.replicates, db_key))
    if not force:
        plan.done = {key for key in plan.keys.values() if _config_path(out_dir, key).exists()}
    return plan


def _config_path(out_dir: Path, key: str) -> Path:
    return out_dir / "configs" / f"{key}.nc"


def run_sweep(
    specs: Sequence[ExperimentSpec],
    db: PromptDatabase,
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    workers: int = 2,
    scheduler: str | None = None,
    cluster: ClusterConfig | None = None,
    jobs: int = 1,
    chunk_size: int = 125,
    force: bool = False,
    save_posteriors: Sequence[int] = (),
    progress: ProgressCallback | None = None,
    on_plan: Callable[[SweepPlan], None] | None = None,
    notify: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Run experiment blocks, resuming from finished configurations, and write their files.

    Everything that can be checked is checked before anything runs: the arguments, every
    configuration against the database, the memory the run needs, and that no other run is
    writing to ``out_dir``.

    Parameters
    ----------
    specs : sequence of ExperimentSpec
        Blocks may have their own replicate counts and horizons.
    db : PromptDatabase
    out_dir : path
        Where ``configs/`` and the blocks' ``<name>.nc`` go. It is locked for the run.
    seed : int
        Root seed, 0 <= seed < 2**63 (it is stored as a NetCDF attribute).
    workers : int
        Local worker processes (ignored with ``scheduler``); 1 runs in this process.
    scheduler : str, optional
        Address of an existing Dask scheduler (e.g. ``tcp://host:8786``).
    cluster : ClusterConfig, optional
        Run on ``jobs`` batch jobs of an HPC scheduler (SLURM, PBS, SGE, LSF) through
        dask-jobqueue instead (see :mod:`gambitts.sims.cluster`); jobs that die are replaced.
    jobs : int
        Batch jobs to keep running with ``cluster``.
    chunk_size : int
        Replicates per task. A custom agent's configuration (slow: it refits a PyMC model) is
        also split over all workers, so that a few replicates keep every worker busy.
    force : bool
        Recompute configurations that are already on disk.
    save_posteriors : sequence of int
        Replicates whose final posteriors are stored in each block's file, as groups
        ``posteriors/<setting>/<agent>/replicate_<r>`` (a grid block's
        ``posteriors/<first axis>/<second axis>/<agent>/replicate_<r>``, e.g.
        ``posteriors/sd_1/8/poGAMBITTS/replicate_0``; ArviZ ``posterior`` layout, arms on a
        ``prompt`` dimension labelled by the prompts). They are
        recomputed by replaying those replicates, which gives exactly their trajectories.
    progress : callable, optional
        Called with rounds x replicates completed.
    on_plan : callable, optional
        Called once with the :class:`SweepPlan` before anything runs.
    notify : callable, optional
        Called with one-line notices: reused or unreadable cached files, stale temporary files
        removed, a block file replaced that held other settings.

    Returns
    -------
    dict of str to Path
        Each block's results file.

    Raises
    ------
    InputError
        If an argument or a configuration is invalid, or the run would not fit in memory.
    OutputError
        If ``out_dir`` is in use by another run, or a file cannot be written.
    """
    notify = notify or (lambda message: None)
    check_sweep_arguments(
        specs, seed=seed, workers=workers, chunk_size=chunk_size, scheduler=scheduler
    )
    remote = scheduler is not None or cluster is not None
    if scheduler is not None and cluster is not None:
        raise InputError("give either a Dask scheduler's address or a cluster, not both")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InputError(f"`jobs` must be a positive integer, got {jobs!r}")
    check_saved_replicates(specs, save_posteriors)
    check_against_database(specs, db, notify)
    check_memory(specs, chunk_size=chunk_size, workers=1 if remote else workers)
    out = Path(out_dir)
    with output_lock(out):
        make_folder(out / "configs")
        for folder in (out, out / "configs", out / "plots"):
            for stale in remove_stale_temporaries(folder):
                notify(f"removed {stale}, a temporary file left by an interrupted run")
        plan = plan_sweep(specs, database_fingerprint(db), out, seed=seed, force=force)
        _verify_finished(plan, out, notify)
        if on_plan is not None:
            on_plan(plan)
        for run in plan.todo:
            run.config.agent.load_builders()  # a missing builder fails here, not in a worker
        if plan.todo:
            if not remote and workers == 1:
                _run_serial(plan, db, out, seed, progress)
            else:
                where = _Workers(workers, scheduler, cluster, jobs)
                _run_dask(plan, db, out, seed, chunk_size, where, progress)
        return {
            spec.name: _write_block(spec, plan, db, out, seed, save_posteriors, notify)
            for spec in specs
        }


def check_sweep_arguments(
    specs: Sequence[ExperimentSpec],
    *,
    seed: int,
    workers: int,
    chunk_size: int,
    scheduler: str | None = None,
) -> None:
    """Refuse bad sweep arguments with a one-line :class:`InputError`."""
    for name, value in (("workers", workers), ("chunk_size", chunk_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"`{name}` must be a positive integer, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InputError(f"`seed` must be an integer from 0 to 2**63 - 1, got {seed!r}")
    if not specs:
        raise InputError("no experiment blocks to run")
    if scheduler is not None and not scheduler.strip():
        raise InputError("`scheduler` must be a Dask scheduler's address, e.g. tcp://host:8786")
    names = [spec.name for spec in specs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(
            f"experiment block(s) {repeated} given twice; each block writes OUT/<name>.nc once"
        )


def check_saved_replicates(specs: Sequence[ExperimentSpec], replicates: Sequence[int]) -> None:
    """Refuse ``save_posteriors`` replicates outside any block's replicate range."""
    for spec in specs:
        outside = [r for r in replicates if not 0 <= r < spec.replicates]
        if outside:
            raise InputError(
                f"`save_posteriors` replicates {outside} are outside 0..{spec.replicates - 1} "
                f"of experiment {spec.name!r}"
            )


def check_against_database(
    specs: Sequence[ExperimentSpec],
    db: PromptDatabase,
    notify: Callable[[str], None] | None = None,
) -> None:
    """Refuse configurations the database cannot serve (too few prompts, unknown dims).

    ``notify`` is told when an agent asks for more generator draws per cell than the database
    has (it then uses all of them, as documented for ``draws_per_cell``).

    Raises
    ------
    InputError
        Naming the block and what the database lacks.
    """
    from gambitts.sims.worlds.outcomes import build_outcome

    worlds_checked: set = set()
    draws_said: set = set()
    for spec in specs:
        clash = sorted(set(spec.setting_dims) & set(db.contexts.names))
        if clash:
            raise InputError(
                f"experiment {spec.name!r} varies {clash}, which the database's context space "
                "also names; rename that context variable"
            )
        for run in planned_runs(spec):
            config = run.config
            where = f"experiment {spec.name!r}"
            if config.n_prompts > db.n_prompts:
                raise InputError(
                    f"{where} asks for {config.n_prompts} prompts but the database has "
                    f"{db.n_prompts}; lower `n_prompts` or use a larger database"
                )
            outcome = build_outcome(config.outcome_model, config.outcome_dims)
            wanted = {
                "outcome model": outcome.dims,
                f"agent {config.agent.label!r}": config.agent.modelled_dims,
            }
            for who, dims in wanted.items():
                missing = [dim for dim in dims if dim not in db.dims]
                if missing:
                    raise InputError(
                        f"{where}: the {who} uses style dimension(s) {missing} that the "
                        f"database lacks; its dimensions are {list(db.dims)}"
                    )
            if config.context_probabilities is not None:
                try:
                    db.contexts.with_probabilities(config.context_probabilities)
                except InputError as error:
                    raise InputError(f"{where}: `context_probabilities`: {error}") from None
            wanted_draws = config.agent.draws_wanted
            if notify and wanted_draws is not None and wanted_draws > int(db.n_draws.max()):
                said = (spec.name, config.agent.label, wanted_draws)
                if said not in draws_said:
                    draws_said.add(said)
                    notify(
                        f"{where}: agent {config.agent.label!r} asks for {wanted_draws} generator "
                        f"draws per cell; the database has at most {int(db.n_draws.max())}, so "
                        "it uses all of each cell's draws"
                    )
            checked = (config.outcome_model, config.outcome_dims)
            if checked not in worlds_checked:  # the world's expected rewards must be finite
                table = outcome.expected_reward_table(db)
                if not np.isfinite(table).all() or np.abs(table).max() > _MAX_REWARD:
                    raise InputError(
                        f"{where}: the outcome model's expected rewards are not finite numbers "
                        f"of a usable size (largest {np.nanmax(np.abs(table)):.3g}); check its "
                        "coefficients and the database's scores"
                    )
                worlds_checked.add(checked)
            noise_sd = float(outcome.noise_grid(db)[config.noise_level])
            if not 0 <= noise_sd <= _MAX_REWARD:
                raise InputError(
                    f"{where}: the reward noise sd {noise_sd:.3g} is not a usable number; check "
                    "the world's `noise_sd` (or the database's scores, which set the paper's)"
                )


#: Bytes per replicate-round kept of a run: regret, reward (float32), action, optimal action
#: and context cell (int16), plus the world's random numbers while it runs.
_BYTES_PER_REPLICATE_ROUND = 14 + 24
#: Copies of a block's results alive at once while it is assembled (configurations, settings
#: concatenated, the block).
_ASSEMBLY_COPIES = 3


def estimate_memory(specs: Sequence[ExperimentSpec], *, chunk_size: int, workers: int) -> int:
    """Return a rough upper bound of the bytes a sweep needs at once.

    The largest of: assembling the largest block in this process, or every worker running a
    chunk of the longest configuration.
    """
    assembly = max(
        len(planned_runs(spec)) * spec.replicates * spec.horizon * 14 * _ASSEMBLY_COPIES
        for spec in specs
    )
    chunk = max(
        min(chunk_size, spec.replicates) * spec.horizon * _BYTES_PER_REPLICATE_ROUND
        for spec in specs
    )
    return max(assembly, workers * chunk)


def check_memory(specs: Sequence[ExperimentSpec], *, chunk_size: int, workers: int) -> None:
    """Refuse a sweep whose results would not fit in this machine's available memory."""
    needed = estimate_memory(specs, chunk_size=chunk_size, workers=workers)
    available = _available_memory()
    if available is not None and needed > available:
        raise InputError(
            f"this run needs about {needed / 2**30:.1f} GiB of memory but "
            f"{available / 2**30:.1f} GiB is available; lower --replicates or --horizon, or "
            "run the blocks one at a time"
        )


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


@contextmanager
def output_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the output folder for one run.

    Two runs writing one folder would replace each other's block files; the second is refused
    at once. The lock is released when the process ends, however it ends.

    Raises
    ------
    OutputError
        If another process holds the lock.
    """
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    path = out / _LOCK_NAME
    try:
        handle = open(path, "a+")
    except OSError as error:
        raise OutputError(f"cannot lock output folder {str(out)!r}: {error.strerror}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise OutputError(
                f"output folder {str(out)!r} is in use by another gambitts run (pid {holder}); "
                "wait for it to finish or choose another --out"
            ) from None
        try:  # who holds the lock, for the second run's message; a full disk only loses that
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
        except OSError:
            pass
        try:
            yield
        finally:
            with suppress(OSError):
                handle.seek(0)
                handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _verify_finished(plan: SweepPlan, out: Path, notify: Callable[[str], None]) -> None:
    """Check each cached configuration file; forget (and delete) those that are unreadable."""
    reused = 0
    for run, key in plan.keys.items():
        if key not in plan.done:
            continue
        path = _config_path(out, key)
        problem = _cached_problem(path, run, key)
        if problem is None:
            reused += 1
            continue
        if not path.is_file():
            raise OutputError(f"{str(path)!r} is not a file; remove it and run again")
        notify(f"{path} {problem}; recomputing it")
        path.unlink(missing_ok=True)
        plan.done.discard(key)
    if reused:
        notify(
            f"reusing {reused} finished configuration(s) from {out / 'configs'}, made by this "
            f"gambitts ({__version__}, code {code_fingerprint()}); --force recomputes them"
        )


def _cached_problem(path: Path, run: PlannedRun, key: str) -> str | None:
    """Return why a cached configuration file cannot be used, or ``None`` if it can.

    The file must say it holds the results of ``key`` (a renamed or copied file does not).
    """
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            sizes = dict(ds["regret"].sizes)
            regret = ds["regret"].values
            holds = ds.attrs.get("results_key")
    except Exception as error:  # noqa: BLE001 - any failure to read means: recompute it
        reason = " ".join(str(error).split())[:120]
        return f"is unreadable ({type(error).__name__}: {reason})"
    if holds != key:
        return f"holds the results of another configuration ({holds or 'unknown'})"
    expected = {"replicate": run.replicates, "t": run.config.horizon}
    if sizes != expected:
        return f"holds regret of shape {sizes}, not {expected}"
    if not np.isfinite(regret).all():
        return "holds non-finite regret"
    return None


def _write_block(
    spec: ExperimentSpec,
    plan: SweepPlan,
    db: PromptDatabase,
    out: Path,
    seed: int,
    save_posteriors: Sequence[int],
    notify: Callable[[str], None],
) -> Path:
    """Assemble one block's file from its configurations and write it in place."""
    results = {}
    for run in planned_runs(spec):
        with xr.open_dataset(_config_path(out, plan.keys[run]), engine="h5netcdf") as ds:
            results[run.config] = ds.load()
    dataset = experiment_dataset(spec, results, seed=seed, db=db)
    dataset.attrs.update(
        provenance(),
        prompt_db_fingerprint=database_fingerprint(db),
        context_space=db.contexts.to_json(),
    )
    groups = _posterior_groups(spec, db, seed, save_posteriors)
    diagnostics = experiment_fit_diagnostics(spec, results)
    if diagnostics is not None:
        groups[FIT_DIAGNOSTICS_GROUP] = diagnostics
    path = out / f"{spec.name}.nc"
    previous = _run_description(path)
    written = write_netcdf_atomic(dataset, path, groups)
    current = _run_description(path)
    if previous is not None and previous != current:
        changes = _differences(previous, current)
        notify(f"replaced {path}, which held another run of {spec.name!r} ({changes})")
    return written


def _run_description(path: Path) -> dict[str, Any] | None:
    """Return what identifies the run a block file holds (``None`` if there is no such file)."""
    if not path.exists():
        return None
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            attrs = dict(ds.attrs)
            sizes = {dim: ds.sizes.get(dim) for dim in ("replicate", "t")}
    except Exception:  # noqa: BLE001 - a foreign or broken file: it is simply replaced
        return {"file": "unreadable"}
    return {
        "seed": attrs.get("seed"),
        "replicates": sizes["replicate"],
        "horizon": sizes["t"],
        "config": attrs.get("config"),
        "prompt_db": attrs.get("prompt_db_fingerprint"),
        "code": attrs.get("code"),
    }


def _differences(previous: dict[str, Any], current: dict[str, Any]) -> str:
    changed = [
        f"{name} {previous.get(name)} -> {current.get(name)}"
        if name in ("seed", "replicates", "horizon")
        else f"other {name}"
        for name in current
        if previous.get(name) != current.get(name)
    ]
    return ", ".join(changed) or "other settings"


def read_fit_diagnostics(path: str | os.PathLike) -> xr.Dataset | None:
    """Return the fit diagnostics stored in a block's results file, or ``None`` if it has none."""
    import h5netcdf

    with h5netcdf.File(path, "r") as handle:
        if FIT_DIAGNOSTICS_GROUP not in handle.groups:
            return None
    with xr.open_dataset(path, group=FIT_DIAGNOSTICS_GROUP, engine="h5netcdf") as ds:
        return ds.load()


def _posterior_groups(
    spec: ExperimentSpec, db: PromptDatabase, seed: int, replicates: Sequence[int]
) -> dict[str, xr.Dataset]:
    if not replicates:
        return {}
    groups = {}
    for setting in spec.settings():
        for config in setting.configs:
            posteriors = final_posteriors(config, db, seed=seed, replicates=replicates)
            for replicate, posterior in posteriors.items():
                where = "/".join(setting.coords[dim] for dim in spec.setting_dims)
                path = f"posteriors/{where}/{config.agent.label}/replicate_{replicate}"
                # Named prompts, on a dimension of their own: the file's `arm` holds indices.
                groups[path] = (
                    posterior.rename({"arm": "prompt"}) if "arm" in posterior.dims else posterior
                )
    return groups


def _run_serial(plan, db, out, seed, progress) -> None:
    for run in plan.todo:
        result = run_config(
            run.config, db, seed=seed, replicates=range(run.replicates), progress=progress
        )
        result.attrs.update(provenance(), results_key=plan.keys[run])
        write_netcdf_atomic(result, _config_path(out, plan.keys[run]))


def _run_config_in_worker(config: RunConfig, db: PromptDatabase | str, **kwargs) -> xr.Dataset:
    """:func:`run_config` in a Dask worker, without PyTensor's BLAS warning in its log.

    ``db`` is the database, or the path of its NetCDF copy (batch jobs read it from the shared
    file system once per worker process, as a job that dies takes scattered data with it).
    PyMC's C backend runs without BLAS here; the warning says nothing a user can act on (the
    command line filters it in its own process). Workers run one task at a time.
    """
    if isinstance(db, str):
        db = _database_file(db)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PyTensor could not link to a BLAS", UserWarning)
        return run_config(config, db, **kwargs)


@functools.lru_cache(maxsize=2)
def _database_file(path: str) -> PromptDatabase:
    from gambitts.design.promptdb import load_prompt_database

    return load_prompt_database(path)


@dataclass(frozen=True)
class _Workers:
    """Where a sweep's tasks run: local processes, an existing scheduler, or batch jobs."""

    local: int
    scheduler: str | None
    cluster: ClusterConfig | None
    jobs: int

    def start(self, scratch: Path) -> Any:
        """Start the local or job-queue cluster (``None`` for an existing scheduler)."""
        if self.cluster is not None:
            from gambitts.sims.cluster import start_cluster

            return start_cluster(self.cluster, scratch, self.jobs)
        return _local_cluster(self.local, scratch) if self.scheduler is None else None

    def expected(self, client: Any) -> int:
        """How many workers the tasks will share (job-queue workers join over time)."""
        if self.cluster is not None:
            return self.jobs * self.cluster.cores
        return max(1, len(client.scheduler_info()["workers"]))


def _run_dask(plan, db, out, seed, chunk_size, where: _Workers, progress) -> None:
    from dask.distributed import Client, as_completed

    cluster = where.start(out / _DASK_FOLDER)
    try:
        # Not the process's default client: a failed connection would otherwise leave dask's
        # global scheduler set to a client that does not exist.
        client = Client(where.scheduler or cluster, timeout=_CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, ValueError, TimeoutError) as error:
        if cluster is not None:
            cluster.close()
            raise
        reason = " ".join(str(error).split())
        raise InputError(
            f"cannot reach the Dask scheduler {where.scheduler!r} ({reason}); check "
            "--scheduler, e.g. tcp://host:8786"
        ) from None
    futures = {}
    try:
        if where.cluster is None:
            db_future = client.scatter(db, broadcast=True)
        else:  # jobs read a copy on the shared file system: scattered data dies with a job
            db_future = str(out / _DASK_FOLDER / "database.nc")
            db.save(db_future)
        n_workers = where.expected(client)
        chunks: dict[PlannedRun, list] = {}
        for run in plan.todo:
            n = run.replicates
            size = chunk_size
            if run.config.agent.refits:
                size = min(chunk_size, -(-n // n_workers))
            starts = range(0, n, size)
            chunks[run] = [None] * len(starts)
            for index, start in enumerate(starts):
                future = client.submit(
                    _run_config_in_worker,
                    run.config,
                    db_future,
                    seed=seed,
                    replicates=range(start, min(start + size, n)),
                    pure=False,
                )
                futures[future] = (run, index)
        with client.as_current():  # as_completed looks for the current client
            for future in as_completed(futures):
                run, index = futures.pop(future)
                chunk = future.result()  # a worker's error is raised here, as it was raised there
                chunks[run][index] = chunk
                if progress is not None:
                    progress(chunk.sizes["replicate"] * chunk.sizes["t"])
                if all(part is not None for part in chunks[run]):
                    combined = xr.concat(
                        chunks.pop(run),
                        dim="replicate",
                        data_vars="minimal",
                        coords="minimal",
                        compat="override",
                    )
                    combined.attrs.update(provenance(), results_key=plan.keys[run])
                    write_netcdf_atomic(combined, _config_path(out, plan.keys[run]))
    finally:
        client.cancel(list(futures))
        client.close()
        if cluster is not None:
            cluster.close()


def _local_cluster(workers: int, scratch: Path):
    """Start the local worker processes, deaf to Ctrl-C and quiet about failed tasks.

    Ctrl-C in a terminal reaches every process of the group; the workers ignore it and this
    process stops them, so an interruption prints one line instead of a traceback per worker.
    A failed task is reported once, by this process, instead of in each worker's log too.
    The workers' scratch space is ``scratch`` inside the output folder.
    """
    import dask
    from dask.distributed import LocalCluster

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by the workers
    try:
        with dask.config.set({"temporary-directory": str(scratch)}):
            return LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                env=ONE_THREAD_PER_WORKER,
                silence_logs=logging.CRITICAL,
                local_directory=str(scratch),
            )
    finally:
        signal.signal(signal.SIGINT, previous)
