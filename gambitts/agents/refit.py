"""Refitting a PyMC model on new data without recompiling it: nutpie, PyMC NUTS, Laplace, ADVI.

An engine is built once per model (compiling what can be compiled) and then fitted many times
on new values of the model's ``pm.Data`` containers. Every fit returns a :class:`Fit`: the
constrained draws of the free variables, convergence diagnostics and a warm start for the next
fit. See :mod:`gambitts.agents.custom` for how the custom agents use them.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from gambitts.models.diagnostics import empty_fit_diagnostics, fit_diagnostics, stack_diagnostics


@dataclasses.dataclass(frozen=True)
class FitSettings:
    """How to fit: sampler sizes and extra keyword arguments (see ``CustomPoGAMBITTS``)."""

    draws: int
    tune: int
    warm_tune: int
    chains: int
    advi_iterations: int
    sampler_kwargs: Mapping[str, Any]

    @property
    def n_posterior_draws(self) -> int:
        """Draws kept per fit: ``chains * draws``."""
        return self.chains * self.draws


@dataclasses.dataclass
class Fit:
    """One fit: constrained draws ``name -> (chain, draw, ...)``, diagnostics and a warm start."""

    draws: dict[str, np.ndarray]
    diagnostics: xr.Dataset
    warm: Any
    idata: Any = None


class _NutpieEngine:
    """nutpie used directly: compile once, ``with_data`` + ``sample`` per refit."""

    def __init__(self, settings: FitSettings, model: Any, free: list[str]) -> None:
        import nutpie
        from threadpoolctl import threadpool_limits

        self.settings, self.free = settings, free
        with threadpool_limits(limits=1):
            self.compiled = nutpie.compile_pymc_model(model, var_names=free)

    def fit(self, data: dict[str, np.ndarray], *, seed: int, warm: Any) -> Fit:
        import nutpie
        from threadpoolctl import threadpool_limits

        settings = self.settings
        compiled = self.compiled.with_data(**data)
        tune = settings.tune
        if warm is not None:
            compiled = dataclasses.replace(compiled, initial_point_func=_start_at_draws(warm))
            tune = settings.warm_tune
        kwargs = {"store_unconstrained": True, **settings.sampler_kwargs}
        start = time.perf_counter()
        with threadpool_limits(limits=1):
            idata = nutpie.sample(
                compiled,
                draws=settings.draws,
                tune=tune,
                chains=settings.chains,
                cores=1,
                seed=seed,
                progress_bar=False,
                save_warmup=False,
                **kwargs,
            )
        wall = time.perf_counter() - start
        draws = {name: idata.posterior[name].values for name in self.free}
        unconstrained = idata.sample_stats["unconstrained_draw"].values
        warm = unconstrained.reshape(-1, unconstrained.shape[-1])[-50:].copy()
        return Fit(draws, fit_diagnostics(idata, wall_time=wall, var_names=self.free), warm, idata)


def _start_at_draws(points: np.ndarray) -> Callable[..., np.ndarray]:
    """Nutpie initial-point function: a random one of ``points`` (unconstrained, flat)."""

    def initial_point(seed: Any = None) -> np.ndarray:
        row = np.random.default_rng(seed).integers(len(points))
        return np.ascontiguousarray(points[row], dtype=np.float64)

    return initial_point


class _PymcEngine:
    """PyMC's NUTS after ``pm.set_data`` on the same model."""

    def __init__(self, settings: FitSettings, model: Any, free: list[str]) -> None:
        self.settings, self.model, self.free = settings, model, free

    def fit(self, data: dict[str, np.ndarray], *, seed: int, warm: Any) -> Fit:
        import pymc as pm
        from threadpoolctl import threadpool_limits

        settings = self.settings
        logger = logging.getLogger("pymc")
        level = logger.level
        logger.setLevel(logging.ERROR)
        start = time.perf_counter()
        try:
            with self.model, threadpool_limits(limits=1):
                pm.set_data(data)
                idata = pm.sample(
                    draws=settings.draws,
                    tune=settings.tune if warm is None else settings.warm_tune,
                    chains=settings.chains,
                    cores=1,
                    random_seed=seed & 0xFFFFFFFF,
                    initvals=warm,
                    var_names=self.free,
                    progressbar=False,
                    compute_convergence_checks=False,
                    **settings.sampler_kwargs,
                )
        finally:
            logger.setLevel(level)
        wall = time.perf_counter() - start
        draws = {name: idata.posterior[name].values for name in self.free}
        warm = [
            {name: draws[name][chain, -1] for name in self.free} for chain in range(settings.chains)
        ]
        return Fit(draws, fit_diagnostics(idata, wall_time=wall, var_names=self.free), warm, idata)


class _LaplaceEngine:
    """Laplace approximation in PyMC's unconstrained space, compiled once."""

    def __init__(self, settings: FitSettings, model: Any, free: list[str]) -> None:
        import pytensor
        from pymc.blocking import DictToArrayBijection
        from pytensor.graph.replace import vectorize_graph

        self.settings, self.model, self.free = settings, model, free
        point = model.initial_point()
        self.start = DictToArrayBijection.map(point)
        self.logp = model.compile_logp(jacobian=True)
        self.dlogp = model.compile_dlogp(jacobian=True)
        self.d2logp = model.compile_d2logp(jacobian=True, negate_output=False)
        # Constrained free variables as a function of a batch of unconstrained values.
        values = model.value_vars
        constrained = model.replace_rvs_by_values(model.free_RVs)
        batched = {v: v.type.clone(shape=(None, *v.type.shape))(v.name) for v in values}
        outputs = vectorize_graph(constrained, replace=batched)
        self.to_constrained = pytensor.function(
            list(batched.values()), outputs, on_unused_input="ignore"
        )
        self.value_names = [v.name for v in values]

    def _point(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        from pymc.blocking import DictToArrayBijection, RaveledVars

        return DictToArrayBijection.rmap(RaveledVars(flat, self.start.point_map_info))

    def fit(self, data: dict[str, np.ndarray], *, seed: int, warm: Any) -> Fit:
        import pymc as pm
        from scipy import optimize

        settings = self.settings
        start = time.perf_counter()
        with self.model:
            pm.set_data(data)
        x0 = self.start.data if warm is None else warm

        def negative(x: np.ndarray) -> tuple[float, np.ndarray]:
            point = self._point(x)
            return -float(self.logp(point)), -np.asarray(self.dlogp(point), dtype=float)

        result = optimize.minimize(negative, x0, jac=True, method="L-BFGS-B")
        mode = result.x
        hessian = -np.asarray(self.d2logp(self._point(mode)), dtype=float)
        eigenvalues, vectors = np.linalg.eigh(0.5 * (hessian + hessian.T))
        eigenvalues = np.maximum(eigenvalues, 1e-8 * max(eigenvalues.max(initial=1.0), 1.0))
        rng = np.random.default_rng(seed)
        n = settings.n_posterior_draws
        normals = rng.standard_normal((n, len(mode)))
        flat = mode + (normals / np.sqrt(eigenvalues)) @ vectors.T
        batch = _unravel(flat, self.start.point_map_info)
        constrained = self.to_constrained(*(batch[name] for name in self.value_names))
        draws = {
            rv.name: np.asarray(value).reshape(1, n, *np.shape(value)[1:])
            for rv, value in zip(self.model.free_RVs, constrained, strict=True)
        }
        wall = time.perf_counter() - start
        diagnostics = empty_fit_diagnostics(self.free, wall_time=wall)
        diagnostics["optimizer_converged"] = ((), bool(result.success))
        return Fit(draws, diagnostics, mode)


def _unravel(flat: np.ndarray, info: Any) -> dict[str, np.ndarray]:
    """Split ``(n, size)`` raveled points into ``name -> (n, *shape)`` (PyMC's ravel order)."""
    out, cursor = {}, 0
    for name, shape, *_ in info:
        size = int(np.prod(shape, dtype=int))
        out[name] = flat[:, cursor : cursor + size].reshape(len(flat), *shape)
        cursor += size
    return out


class _AdviEngine:
    """Mean-field ADVI after ``pm.set_data`` (PyMC recompiles the optimiser each call)."""

    def __init__(self, settings: FitSettings, model: Any, free: list[str]) -> None:
        from pymc.blocking import DictToArrayBijection

        self.settings, self.model, self.free = settings, model, free
        self.point_map_info = DictToArrayBijection.map(model.initial_point()).point_map_info

    def fit(self, data: dict[str, np.ndarray], *, seed: int, warm: Any) -> Fit:
        import pymc as pm
        from pymc.blocking import DictToArrayBijection, RaveledVars
        from threadpoolctl import threadpool_limits

        settings = self.settings
        start = time.perf_counter()
        with self.model, threadpool_limits(limits=1):
            pm.set_data(data)
            approximation = pm.fit(
                n=settings.advi_iterations,
                method="advi",
                random_seed=seed & 0xFFFFFFFF,
                progressbar=False,
                start=warm,
            )
            idata = approximation.sample(
                settings.n_posterior_draws, random_seed=(seed >> 32) & 0xFFFFFFFF
            )
        wall = time.perf_counter() - start
        draws = {name: idata.posterior[name].values for name in self.free}
        mean = approximation.mean.get_value()  # the fitted means, a shared variable
        warm = DictToArrayBijection.rmap(RaveledVars(mean, self.point_map_info))
        return Fit(draws, empty_fit_diagnostics(self.free, wall_time=wall), warm)


ENGINES = {
    "nuts": _NutpieEngine,
    "nuts-pymc": _PymcEngine,
    "laplace": _LaplaceEngine,
    "advi": _AdviEngine,
}


class ModelRefitter:
    """One PyMC model, compiled once and refitted for each replicate on that replicate's data.

    Parameters
    ----------
    model : pymc.Model
        Built by a user's builder; only its ``pm.Data`` values change between fits.
    method : {"nuts", "nuts-pymc", "laplace", "advi"}
        See :data:`ENGINES`.
    settings : FitSettings

    Attributes
    ----------
    draws_ : list of dict
        Per replicate, the latest fit's draws ``name -> (chain, draw, ...)`` of the free
        variables (prior draws, one chain, before the first fit).
    last_idata_ : list
        Per replicate, the latest MCMC fit's InferenceData (``None`` for other methods).
    fit_times_ : list of float
        Wall time of every fit of every replicate, seconds.
    """

    def __init__(self, model: Any, method: str, settings: FitSettings) -> None:
        import pymc as pm

        if not isinstance(model, pm.Model):  # else an engine fails deep inside PyMC
            raise TypeError(f"`model` must be a pymc.Model, got {type(model).__name__}")
        self.model = model
        self.settings = settings
        self.free = [rv.name for rv in model.free_RVs]
        point = model.initial_point()
        self.shapes = {
            rv.name: np.shape(point[model.rvs_to_values[rv].name]) for rv in model.free_RVs
        }
        self._engine = ENGINES[method](settings, model, self.free)

    def reset(self, n_replicates: int, prior_seed: int, settings: FitSettings) -> None:
        """Forget all fits and take new ``settings``; replicates start from the same prior draws."""
        import pymc as pm

        self.settings = self._engine.settings = settings

        rvs = self.model.free_RVs
        values = pm.draw(rvs, draws=self.settings.n_posterior_draws, random_seed=prior_seed)
        prior = {rv.name: np.asarray(v)[None] for rv, v in zip(rvs, values, strict=True)}
        self.draws_ = [prior] * n_replicates
        self.last_idata_: list[Any] = [None] * n_replicates
        self.fit_times_: list[float] = []
        self._warm: list[Any] = [None] * n_replicates
        self._rows: list[list[xr.Dataset]] = []
        self._rounds: list[int] = []

    def refit(
        self, data: Callable[[int], dict[str, np.ndarray]], seeds: list[int], n_observed: int
    ) -> list[xr.Dataset]:
        """Fit every replicate ``r`` on ``data(r)`` with sampler seed ``seeds[r]``.

        Returns the diagnostics of each replicate's fit (also kept for :attr:`diagnostics_`).
        """
        row = []
        for replicate, seed in enumerate(seeds):
            start = time.perf_counter()
            fit = self._engine.fit(data(replicate), seed=seed, warm=self._warm[replicate])
            self.fit_times_.append(time.perf_counter() - start)
            n = int(np.prod(next(iter(fit.draws.values())).shape[:2])) if fit.draws else None
            if n is not None and n != self.settings.n_posterior_draws:
                raise RuntimeError(
                    f"a fit returned {n} draws, expected {self.settings.n_posterior_draws}"
                )
            self._warm[replicate] = fit.warm
            self.draws_[replicate] = fit.draws
            self.last_idata_[replicate] = fit.idata
            row.append(fit.diagnostics)
        self._rows.append(row)
        self._rounds.append(n_observed)
        return row

    def forget_warm_starts(self) -> None:
        """Make every replicate's next fit start cold (as after a reset)."""
        self._warm = [None] * len(self._warm)

    @property
    def n_refits(self) -> int:
        """How many times every replicate was fitted since the last reset."""
        return len(self._rounds)

    def flat_draws(self, replicate: int) -> dict[str, np.ndarray]:
        """Return one replicate's draws as ``name -> (n_posterior_draws, *shape)``."""
        return {
            name: np.asarray(self.draws_[replicate][name]).reshape(-1, *shape)
            for name, shape in self.shapes.items()
        }

    @property
    def diagnostics_(self) -> xr.Dataset:
        """Diagnostics of every fit: dims ``(refit, replicate, variable)``."""
        return stack_diagnostics(self._rows, refit_rounds=self._rounds)
