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

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from gambitts.sims.experiments import CUSTOM_KINDS, ExperimentSpec, RunConfig
from gambitts.sims.files import write_netcdf_atomic
from gambitts.sims.promptdb import PromptDatabase
from gambitts.sims.runner import (
    experiment_dataset,
    experiment_fit_diagnostics,
    final_posteriors,
    run_config,
)

ProgressCallback = Callable[[int], None]

#: NetCDF group of a block's file holding its custom agents' fit diagnostics (ArviZ reads it
#: as ``az.from_netcdf(path).fit_diagnostics``).
FIT_DIAGNOSTICS_GROUP = "fit_diagnostics"

#: Local workers are one process per core: their compiled kernels and BLAS stay single-threaded,
#: so that two workers do not fight over two cores with four threads.
_ONE_THREAD_PER_WORKER = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


@dataclass
class SweepPlan:
    """What a sweep will run, and what it can reuse.

    Attributes
    ----------
    keys : dict of RunConfig to str
        Every distinct configuration of the sweep and its results key.
    done : set of str
        Keys whose results are already on disk.
    """

    keys: dict[RunConfig, str] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)

    @property
    def todo(self) -> list[RunConfig]:
        """Configurations still to run, in plan order."""
        return [config for config, key in self.keys.items() if key not in self.done]


def database_fingerprint(db: PromptDatabase) -> str:
    """Return a short hash of a database's contents (part of every results key)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(db.n_draws).tobytes())
    digest.update(np.nan_to_num(db.z).tobytes())
    digest.update(json.dumps([db.prompts, db.dims]).encode())
    return digest.hexdigest()[:16]


def plan_sweep(
    specs: Sequence[ExperimentSpec], db_key: str, out_dir: Path, *, seed: int, force: bool
) -> SweepPlan:
    """Resolve ``specs`` into distinct configurations and find those already finished."""
    plan = SweepPlan()
    for spec in specs:
        for setting in spec.settings():
            for config in setting.configs:
                plan.keys.setdefault(config, config.key(seed, spec.replicates, db_key))
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
    chunk_size: int = 125,
    force: bool = False,
    save_posteriors: Sequence[int] = (),
    progress: ProgressCallback | None = None,
    on_plan: Callable[[SweepPlan], None] | None = None,
) -> dict[str, Path]:
    """Run experiment blocks, resuming from finished configurations, and write their files.

    Parameters
    ----------
    specs : sequence of ExperimentSpec
        All blocks must share ``replicates`` for the keys to be comparable; each block may
        have its own horizon.
    db : PromptDatabase
    out_dir : path
        Where ``configs/`` and the blocks' ``<name>.nc`` go.
    seed : int
    workers : int
        Local worker processes (ignored with ``scheduler``); 1 runs in this process.
    scheduler : str, optional
        Address of an existing Dask scheduler (e.g. ``tcp://host:8786``).
    chunk_size : int
        Replicates per task. A custom agent's configuration (slow: it refits a PyMC model) is
        also split over all workers, so that a few replicates keep every worker busy.
    force : bool
        Recompute configurations that are already on disk.
    save_posteriors : sequence of int
        Replicates whose final posteriors are stored in each block's file, as groups
        ``posteriors/<setting>/<agent>/replicate_<r>`` (ArviZ ``posterior`` layout, arms on a
        ``prompt`` dimension labelled by the prompts). They are
        recomputed by replaying those replicates, which gives exactly their trajectories.
    progress : callable, optional
        Called with rounds x replicates completed.
    on_plan : callable, optional
        Called once with the :class:`SweepPlan` before anything runs.

    Returns
    -------
    dict of str to Path
        Each block's results file.
    """
    if workers < 1 or chunk_size < 1:
        raise ValueError(
            f"`workers` and `chunk_size` must be positive, got {workers} and {chunk_size}"
        )
    out = Path(out_dir)
    (out / "configs").mkdir(parents=True, exist_ok=True)
    plan = plan_sweep(specs, database_fingerprint(db), out, seed=seed, force=force)
    if on_plan is not None:
        on_plan(plan)
    for config in plan.todo:
        config.agent.load_builders()  # a custom agent's missing builder fails here, not in a worker
    replicates = {config: _replicates_of(specs, config) for config in plan.todo}
    if plan.todo:
        if scheduler is None and workers == 1:
            _run_serial(plan, db, out, seed, replicates, progress)
        else:
            _run_dask(plan, db, out, seed, replicates, chunk_size, workers, scheduler, progress)
    written = {}
    for spec in specs:
        results = {}
        for setting in spec.settings():
            for config in setting.configs:
                with xr.open_dataset(_config_path(out, plan.keys[config]), engine="h5netcdf") as ds:
                    results[config] = ds.load()
        dataset = experiment_dataset(spec, results, seed=seed, db=db)
        groups = _posterior_groups(spec, db, seed, save_posteriors)
        diagnostics = experiment_fit_diagnostics(spec, results)
        if diagnostics is not None:
            groups[FIT_DIAGNOSTICS_GROUP] = diagnostics
        written[spec.name] = write_netcdf_atomic(dataset, out / f"{spec.name}.nc", groups)
    return written


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
    outside = [r for r in replicates if not 0 <= r < spec.replicates]
    if outside:
        raise ValueError(
            f"`save_posteriors` replicates {outside} are outside 0..{spec.replicates - 1} "
            f"of experiment {spec.name!r}"
        )
    groups = {}
    for setting in spec.settings():
        for config in setting.configs:
            posteriors = final_posteriors(config, db, seed=seed, replicates=replicates)
            for replicate, posterior in posteriors.items():
                path = f"posteriors/{setting.label}/{config.agent.label}/replicate_{replicate}"
                # Named prompts, on a dimension of their own: the file's `arm` holds indices.
                groups[path] = (
                    posterior.rename({"arm": "prompt"}) if "arm" in posterior.dims else posterior
                )
    return groups


def _replicates_of(specs: Sequence[ExperimentSpec], config: RunConfig) -> int:
    for spec in specs:
        if any(config in setting.configs for setting in spec.settings()):
            return spec.replicates
    raise KeyError(config)  # pragma: no cover - every planned config comes from a spec


def _run_serial(plan, db, out, seed, replicates, progress) -> None:
    for config in plan.todo:
        result = run_config(
            config, db, seed=seed, replicates=range(replicates[config]), progress=progress
        )
        write_netcdf_atomic(result, _config_path(out, plan.keys[config]))


def _run_config_in_worker(config: RunConfig, db: PromptDatabase, **kwargs) -> xr.Dataset:
    """:func:`run_config` in a Dask worker, without PyTensor's BLAS warning in its log.

    PyMC's C backend runs without BLAS here; the warning says nothing a user can act on (the
    command line filters it in its own process). Workers run one task at a time.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PyTensor could not link to a BLAS", UserWarning)
        return run_config(config, db, **kwargs)


def _run_dask(plan, db, out, seed, replicates, chunk_size, workers, scheduler, progress) -> None:
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            env=_ONE_THREAD_PER_WORKER,
        )
    client = Client(scheduler or cluster)
    try:
        db_future = client.scatter(db, broadcast=True)
        n_workers = max(1, len(client.scheduler_info()["workers"]))
        chunks: dict[RunConfig, list] = {}
        futures = {}
        for config in plan.todo:
            n = replicates[config]
            size = chunk_size
            if config.agent.kind in CUSTOM_KINDS:
                size = min(chunk_size, -(-n // n_workers))
            starts = range(0, n, size)
            chunks[config] = [None] * len(starts)
            for index, start in enumerate(starts):
                future = client.submit(
                    _run_config_in_worker,
                    config,
                    db_future,
                    seed=seed,
                    replicates=range(start, min(start + size, n)),
                    pure=False,
                )
                futures[future] = (config, index)
        for future in as_completed(futures):
            config, index = futures.pop(future)
            chunk = future.result()
            chunks[config][index] = chunk
            if progress is not None:
                progress(chunk.sizes["replicate"] * chunk.sizes["t"])
            if all(part is not None for part in chunks[config]):
                combined = xr.concat(
                    chunks.pop(config),
                    dim="replicate",
                    data_vars="minimal",
                    coords="minimal",
                    compat="override",
                )
                write_netcdf_atomic(combined, _config_path(out, plan.keys[config]))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
