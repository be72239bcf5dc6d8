"""Convergence diagnostics of repeated posterior fits, as xarray Datasets.

An agent that refits a PyMC model every few rounds calls :func:`fit_diagnostics` after each fit
of each replicate and :func:`stack_diagnostics` to assemble them; the result has dims
``(refit, replicate, variable)`` and sits next to the regret traces of a run.
:func:`unhealthy` says in one sentence what, if anything, is wrong.

Thresholds (module constants, used by :func:`unhealthy`)
---------------------------------------------------------
- ``RHAT_MAX = 1.05``: the rank-normalised split R-hat of Vehtari, Gelman, Simpson, Carpenter and
  Buerkner (2021, *Bayesian Analysis*). They recommend 1.01 for final inferences from 4 chains
  with ESS above 400. Our refits run 2 chains of ~500 draws and we take the maximum over all
  elements and replicates, where a perfectly mixed fit crosses 1.01 by chance (measured: 1.011
  on the linear stage 2, 2 x 500 draws, ESS ~1000, mean and sd matching the exact posterior).
  1.05 is crossed only by real mixing problems (stuck or unconverged chains give 1.1 and more);
  pass ``rhat_max=1.01`` to :func:`unhealthy` for the strict rule on long fits.
- ``ESS_MIN = 100``: the same paper asks for bulk and tail ESS of at least 100 *per chain*
  (400 for four chains) before trusting R-hat and quantile estimates; our refits run 2 chains
  of a few hundred draws, so 100 in total is the weakest level at which a posterior mean's
  Monte Carlo error (sd / 10) is still small next to its posterior sd. Below it, the Thompson
  draws are effectively from a handful of states.
- ``DIVERGENCES_MAX = 0``: any divergent transition means NUTS met curvature it could not
  integrate, so the draws may miss part of the posterior (Betancourt 2017).

Methods without Markov chains (ADVI, Laplace) have no R-hat, ESS or divergences: those entries
are NaN (and ``-1`` divergences) and only the wall time is recorded; :func:`unhealthy` skips NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

if TYPE_CHECKING:  # ArviZ takes over a second to import; agents import this module
    import arviz as az

RHAT_MAX = 1.05
ESS_MIN = 100.0
DIVERGENCES_MAX = 0

__all__ = [
    "DIVERGENCES_MAX",
    "ESS_MIN",
    "RHAT_MAX",
    "empty_fit_diagnostics",
    "fit_diagnostics",
    "stack_diagnostics",
    "unhealthy",
]


def fit_diagnostics(
    idata: az.InferenceData,
    *,
    wall_time: float,
    var_names: Sequence[str] | None = None,
) -> xr.Dataset:
    """Summarise the convergence of one MCMC fit.

    Parameters
    ----------
    idata : arviz.InferenceData
        The fit, with a ``posterior`` group (chain, draw, ...) and, for NUTS, a
        ``sample_stats`` group holding ``diverging``.
    wall_time : float
        Seconds the fit took.
    var_names : sequence of str, optional
        Variables to diagnose (default: every variable of the posterior).

    Returns
    -------
    xarray.Dataset
        Dim ``variable``: ``rhat_max`` (largest R-hat over the variable's elements),
        ``ess_bulk_min`` and ``ess_tail_min`` (smallest ESS over its elements); scalars
        ``divergences`` (int) and ``wall_time`` (seconds).
    """
    import arviz as az

    posterior = idata.posterior
    names = list(var_names) if var_names is not None else list(posterior.data_vars)
    posterior = posterior[names]
    n_chains, n_draws = posterior.sizes["chain"], posterior.sizes["draw"]
    if n_chains * n_draws >= 8 and n_draws >= 4:
        # A stuck chain (zero variance) gives R-hat inf or NaN, which is what we report.
        with np.errstate(divide="ignore", invalid="ignore"):
            rhat = az.rhat(posterior)
            bulk = az.ess(posterior, method="bulk")
            tail = az.ess(posterior, method="tail")
        rhat_max = [_reduce(rhat[name], np.nanmax) for name in names]
        bulk_min = [_reduce(bulk[name], np.nanmin) for name in names]
        tail_min = [_reduce(tail[name], np.nanmin) for name in names]
    else:  # too few draws for any diagnostic
        rhat_max = bulk_min = tail_min = [np.nan] * len(names)
    divergences = -1
    if "sample_stats" in idata.groups() and "diverging" in idata.sample_stats:
        divergences = int(idata.sample_stats["diverging"].sum())
    return _dataset(names, rhat_max, bulk_min, tail_min, divergences, wall_time)


def empty_fit_diagnostics(var_names: Sequence[str], *, wall_time: float) -> xr.Dataset:
    """Return the diagnostics of a fit without Markov chains (ADVI, Laplace): wall time only."""
    nan = [np.nan] * len(var_names)
    return _dataset(list(var_names), nan, nan, nan, -1, wall_time)


def stack_diagnostics(
    fits: Sequence[Sequence[xr.Dataset]],
    *,
    refit_rounds: Sequence[int],
    replicates: Sequence[int] | None = None,
) -> xr.Dataset:
    """Stack per-fit diagnostics into one Dataset with dims ``(refit, replicate, variable)``.

    Parameters
    ----------
    fits : sequence of sequence of xarray.Dataset
        ``fits[k][r]`` is :func:`fit_diagnostics` of refit ``k`` of replicate ``r``.
    refit_rounds : sequence of int
        Number of observations each refit saw (coordinate ``refit_round`` on ``refit``).
    replicates : sequence of int, optional
        Replicate coordinate (default ``0 .. n - 1``).

    Returns
    -------
    xarray.Dataset
        ``rhat_max``, ``ess_bulk_min``, ``ess_tail_min`` (refit, replicate, variable);
        ``divergences``, ``wall_time`` (refit, replicate). Empty (size-0 ``refit``) if no fits.
    """
    if len(fits) != len(refit_rounds):
        raise ValueError(
            f"`refit_rounds` must hold one entry per refit ({len(fits)}), got {len(refit_rounds)}"
        )
    if not fits:
        return xr.Dataset(coords={"refit": np.arange(0), "refit_round": ("refit", [])})
    per_refit = [xr.concat(list(row), dim="replicate", join="outer") for row in fits]
    ds = xr.concat(per_refit, dim="refit", join="outer")
    n_replicates = ds.sizes["replicate"]
    return ds.assign_coords(
        refit=np.arange(len(fits)),
        refit_round=("refit", np.asarray(refit_rounds, dtype=np.int64)),
        replicate=np.arange(n_replicates) if replicates is None else np.asarray(replicates),
    )


def unhealthy(
    diagnostics: xr.Dataset,
    *,
    rhat_max: float = RHAT_MAX,
    ess_min: float = ESS_MIN,
    divergences_max: int = DIVERGENCES_MAX,
) -> str | None:
    """Describe the first problem in ``diagnostics``, or return ``None`` if the fits look healthy.

    Checks, in order: divergent transitions above ``divergences_max``, R-hat above
    ``rhat_max``, bulk ESS below ``ess_min``, tail ESS below ``ess_min`` (see the module notes
    for why these values), and a Laplace fit whose optimiser did not converge. NaN entries
    (fits without chains) are skipped.

    Parameters
    ----------
    diagnostics : xarray.Dataset
        From :func:`fit_diagnostics` or :func:`stack_diagnostics` (any extra dims).
    rhat_max, ess_min, divergences_max : float
        Thresholds.

    Returns
    -------
    str or None
        E.g. ``"R-hat 1.080 > 1.05 for `beta` (refit 3, replicate 0)"``.
    """
    checks = [
        ("divergences", lambda v: v > divergences_max, "{value:.0f} divergent transitions",
         f"> {divergences_max}"),
        ("rhat_max", lambda v: v > rhat_max, "R-hat {value:.3f}", f"> {rhat_max}"),
        ("ess_bulk_min", lambda v: v < ess_min, "bulk ESS {value:.0f}", f"< {ess_min:.0f}"),
        ("ess_tail_min", lambda v: v < ess_min, "tail ESS {value:.0f}", f"< {ess_min:.0f}"),
        ("optimizer_converged", lambda v: v == 0, "the Laplace mode search did not converge", ""),
    ]  # fmt: skip
    for name, bad, text, bound in checks:
        if name not in diagnostics:
            continue
        values = diagnostics[name]
        with np.errstate(invalid="ignore"):
            flags = np.asarray(bad(values.values)) & np.isfinite(values.values)
        if not flags.any():
            continue
        where = dict(
            zip(values.dims, np.unravel_index(int(np.argmax(flags)), flags.shape), strict=True)
        )
        value = float(values.values[tuple(where.values())])
        labels = []
        for dim, position in where.items():
            label = values[dim].values[position] if dim in values.coords else position
            labels.append(f"`{label}`" if dim == "variable" else f"{dim} {label}")
        target = "".join(f" for {s}" for s in labels if s.startswith("`"))
        context = ", ".join(s for s in labels if not s.startswith("`"))
        suffix = f" ({context})" if context else ""
        return " ".join(filter(None, [text.format(value=value), bound])) + f"{target}{suffix}"
    return None


def _reduce(values: xr.DataArray, reducer) -> float:
    array = np.asarray(values.values, dtype=float)
    if array.size == 0 or np.all(np.isnan(array)):
        return np.nan
    return float(reducer(array))


def _dataset(
    names: list[str],
    rhat_max: Sequence[float],
    bulk_min: Sequence[float],
    tail_min: Sequence[float],
    divergences: int,
    wall_time: float,
) -> xr.Dataset:
    return xr.Dataset(
        {
            "rhat_max": ("variable", np.asarray(rhat_max, dtype=float),
                         {"long_name": "largest rank-normalised split R-hat over elements"}),
            "ess_bulk_min": ("variable", np.asarray(bulk_min, dtype=float),
                             {"long_name": "smallest bulk effective sample size"}),
            "ess_tail_min": ("variable", np.asarray(tail_min, dtype=float),
                             {"long_name": "smallest tail effective sample size"}),
            "divergences": ((), np.int64(divergences),
                            {"long_name": "divergent transitions (-1: not MCMC)"}),
            "wall_time": ((), float(wall_time), {"units": "s", "long_name": "fit wall time"}),
        },
        coords={"variable": names},
    )  # fmt: skip
