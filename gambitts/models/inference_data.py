"""Every agent's current posterior as :class:`arviz.InferenceData` with named coords.

:func:`posterior_inference_data` draws from the exact (conjugate) posteriors of the built-in
agents, and reads the latest fit of the custom agents
(:class:`~gambitts.agents.custom.CustomPoGAMBITTS`,
:class:`~gambitts.agents.custom_fo.CustomFoGAMBITTS`), so that ``az.summary`` and
``az.plot_posterior`` work the same way for all of them. Agents do not know what their dims,
prompts or cells are called: pass ``dim_names``, ``prompt_names``, ``cell_names`` and
``context_names``.

==========================  ==================================================================
agent                       posterior variables (dims after ``chain``, ``draw``)
==========================  ==================================================================
StdTS                       ``mu``, ``sigma2`` (``arm``)
StdTS:Contextual            ``mu``, ``sigma2`` (``cell``, ``arm``)
poGAMBITTS                  ``beta`` (``feature``); ``sigma2`` () with unknown noise
foGAMBITTS                  as poGAMBITTS, plus stage 1's ``mu`` (``cell``, ``arm``, ``dim``)
custom poGAMBITTS           the model's free variables with the model's dims (the ``feature``
                            dim renamed with the names below), plus ``arm_reward`` (``cell``,
                            ``arm``): the expected reward the agent scores arms with
custom foGAMBITTS           the stage-2 model's free variables as above, plus stage 1's ``mu``
                            (``cell``, ``arm``, ``dim``): the mean of ``Z``
ens-poGAMBITTS              ``expected_reward`` (``cell``, ``arm``), one draw per member
==========================  ==================================================================

Exact posteriors give one chain of ``n_draws`` independent draws; a custom agent's posterior is
its latest fit's draws as they are (``n_draws`` is ignored), its prior draws before the first
refit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import arviz as az
import numpy as np
from scipy.linalg import solve_triangular

__all__ = ["posterior_inference_data"]


def posterior_inference_data(
    agent: Any,
    replicate: int = 0,
    n_draws: int = 1000,
    rng: np.random.Generator | None = None,
    *,
    dim_names: Sequence[str] | None = None,
    prompt_names: Sequence[str] | None = None,
    cell_names: Sequence[str] | None = None,
    context_names: Sequence[str] | None = None,
) -> az.InferenceData:
    """Return one replicate's current posterior as InferenceData.

    Parameters
    ----------
    agent : Agent
        A reset (and usually updated) agent: StdTS, poGAMBITTS, foGAMBITTS, ens-poGAMBITTS,
        CustomPoGAMBITTS or CustomFoGAMBITTS.
    replicate : int, default 0
        Which replicate's posterior.
    n_draws : int, default 1000
        Draws from an exact posterior (ignored for custom agents and ensembles).
    rng : numpy.random.Generator, optional
        Source of the draws; default ``numpy.random.default_rng(0)`` (reproducible).
    dim_names : sequence of str, optional
        Names of the agent's modelled style dimensions (``z[0]``, ... if omitted).
    prompt_names : sequence of str, optional
        Names of the arms (``0 .. n_arms - 1`` if omitted).
    cell_names : sequence of str, optional
        Names of the context cells (e.g. a context space's ``cell_labels``); default their
        indices.
    context_names : sequence of str, optional
        Names of the stage-2 context features.

    Returns
    -------
    arviz.InferenceData
        A ``posterior`` group (see the module table); ``attrs`` name the agent and replicate.

    Raises
    ------
    TypeError
        For an agent type this function does not know.
    RuntimeError
        If the agent was not reset.
    """
    from gambitts.agents.base import Agent
    from gambitts.agents.custom import CustomStage2Agent
    from gambitts.agents.custom_fo import CustomFoGAMBITTS
    from gambitts.agents.ensemble import EnsPoGAMBITTS
    from gambitts.agents.stdts import StdTS
    from gambitts.agents.two_stage import FoGAMBITTS, TwoStageAgent

    if not isinstance(agent, Agent):
        raise TypeError(
            "`agent` must be a StdTS, PoGAMBITTS, FoGAMBITTS, EnsPoGAMBITTS, "
            f"CustomPoGAMBITTS or CustomFoGAMBITTS, got {type(agent).__name__}"
        )
    agent._require_reset("posterior_inference_data")
    if not 0 <= replicate < agent.n_replicates:
        raise ValueError(f"`replicate` must lie in [0, {agent.n_replicates}), got {replicate}")
    if int(n_draws) != n_draws or n_draws < 1:
        raise ValueError(f"`n_draws` must be a positive integer, got {n_draws!r}")
    rng = np.random.default_rng(0) if rng is None else rng
    names = _Names(agent, dim_names, prompt_names, cell_names, context_names)
    extra: dict[str, list] = {}
    if isinstance(agent, CustomStage2Agent):
        posterior, dims, extra = _custom(agent, replicate)
        if isinstance(agent, CustomFoGAMBITTS):
            _add_custom_stage1(agent, replicate, posterior, dims, rng)
    elif isinstance(agent, StdTS):
        posterior, dims = _stdts(agent, replicate, n_draws, rng)
    elif isinstance(agent, TwoStageAgent):
        posterior, dims = _stage2(agent, replicate, n_draws, rng)
        if isinstance(agent, FoGAMBITTS):
            posterior["mu"] = _stage1_mu(agent, replicate, n_draws, rng)
            dims["mu"] = ["cell", "arm", "dim"]
    elif isinstance(agent, EnsPoGAMBITTS):
        predictions = agent.predict()[replicate].astype(float)  # (member, cell, arm)
        posterior, dims = (
            {"expected_reward": predictions[None]},
            {"expected_reward": ["cell", "arm"]},
        )
    else:
        raise TypeError(
            "`agent` must be a StdTS, PoGAMBITTS, FoGAMBITTS, EnsPoGAMBITTS, "
            f"CustomPoGAMBITTS or CustomFoGAMBITTS, got {type(agent).__name__}"
        )
    coords = {**extra, **names.coords(agent)}
    used = {dim for variable_dims in dims.values() for dim in variable_dims}
    idata = az.from_dict(
        posterior=posterior,
        dims=dims,
        coords={dim: values for dim, values in coords.items() if dim in used},
        attrs={"agent": agent.name, "replicate": int(replicate)},
    )
    return idata


class _Names:
    """Coordinate values of the dims an agent's posterior may use."""

    def __init__(
        self,
        agent: Any,
        dim_names: Sequence[str] | None,
        prompt_names: Sequence[str] | None,
        cell_names: Sequence[str] | None,
        context_names: Sequence[str] | None,
    ) -> None:
        self.dims = _checked(dim_names, getattr(agent, "n_dims", None), "dim_names")
        self.prompts = _checked(prompt_names, agent.n_arms, "prompt_names")
        self.cells = _checked(cell_names, agent.n_cells, "cell_names")
        context = getattr(agent, "context_features", None)
        self.context = _checked(
            context_names, None if context is None else context.shape[1], "context_names"
        )

    def features(self, agent: Any) -> list[str]:
        names = agent.feature_names(self.dims, self.context)
        if self.prompts is not None and getattr(agent, "prompt_indicators", False):
            prompts = {f"prompt[{a}]": f"prompt[{p}]" for a, p in enumerate(self.prompts)}
            names = [prompts.get(name, name) for name in names]
        return names

    def coords(self, agent: Any) -> dict[str, list]:
        cells = list(self.cells) if self.cells is not None else list(range(agent.n_cells))
        coords: dict[str, list] = {
            "arm": list(self.prompts) if self.prompts is not None else list(range(agent.n_arms)),
            "cell": cells,
        }
        if hasattr(agent, "n_dims"):
            coords["dim"] = list(self.dims or [f"z[{i}]" for i in range(agent.n_dims)])
        if hasattr(agent, "feature_names"):
            coords["feature"] = self.features(agent)
        return coords


def _checked(names: Sequence[str] | None, n: int | None, argument: str) -> list[str] | None:
    if names is None or n is None:  # no names given, or the agent has no such dim
        return None
    names = [str(name) for name in names]
    if len(names) != n or len(set(names)) != n:
        raise ValueError(f"`{argument}` must hold {n} distinct names, got {names}")
    return names


def _stdts(agent: Any, replicate: int, n: int, rng: np.random.Generator) -> tuple[dict, dict]:
    posterior = agent.posterior_
    mean, count = posterior.mean_[replicate], posterior.count_[replicate]
    shape, scale = posterior.shape_[replicate], posterior.scale_[replicate]
    sigma2 = scale / rng.standard_gamma(shape, size=(n, *shape.shape))
    mu = mean + np.sqrt(sigma2 / count) * rng.standard_normal(sigma2.shape)
    if agent.contextual:
        return {"mu": mu[None], "sigma2": sigma2[None]}, {
            "mu": ["cell", "arm"],
            "sigma2": ["cell", "arm"],
        }
    return {"mu": mu[None, :, 0], "sigma2": sigma2[None, :, 0]}, {
        "mu": ["arm"],
        "sigma2": ["arm"],
    }


def _stage2(agent: Any, replicate: int, n: int, rng: np.random.Generator) -> tuple[dict, dict]:
    stage2 = agent.stage2_
    low = stage2.cholesky_[replicate]
    mean = stage2.mean_[replicate]
    # Precision L L^T: beta = mean + L^-T z has covariance (L L^T)^-1.
    deviations = solve_triangular(low, rng.standard_normal((len(mean), n)), lower=True, trans="T").T
    if stage2.known_noise:
        return {"beta": (mean + deviations)[None]}, {"beta": ["feature"]}
    sigma2 = stage2.scale_[replicate] / rng.standard_gamma(stage2.shape_[replicate], size=n)
    beta = mean + np.sqrt(sigma2)[:, None] * deviations
    return {"beta": beta[None], "sigma2": sigma2[None]}, {"beta": ["feature"], "sigma2": []}


def _stage1_mu(agent: Any, replicate: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draws of stage 1's mean of Z, ``(1, n, cell, arm, dim)``, from its Student-t marginal."""
    stage1 = agent.stage1_
    d = stage1.n_dims
    mean = stage1.mean_[replicate]  # (cell, arm, d)
    kappa, dof = stage1.kappa_[replicate], stage1.dof_[replicate]
    low = stage1.scale_cholesky_[replicate]  # (cell, arm, d, d)
    chi2 = 2.0 * rng.standard_gamma(0.5 * (dof - d + 1.0), size=(n, *dof.shape))
    normals = rng.standard_normal((n, *mean.shape))
    correlated = np.einsum("caij,ncaj->ncai", low, normals)
    return (mean + correlated / np.sqrt(kappa * chi2)[..., None])[None]


def _custom(agent: Any, replicate: int) -> tuple[dict, dict, dict]:
    model = agent.model_
    feature_dim = _feature_dim(model)
    posterior = {name: np.asarray(values) for name, values in agent.draws_[replicate].items()}
    dims: dict[str, list[str]] = {}
    coords: dict[str, list] = {}
    for name in posterior:
        model_dims = [dim for dim in model.named_vars_to_dims.get(name, ()) if dim is not None]
        dims[name] = ["feature" if dim == feature_dim else dim for dim in model_dims]
        for dim in model_dims:
            if dim != feature_dim and model.coords.get(dim) is not None:
                coords[dim] = list(model.coords[dim])
    if hasattr(agent, "arm_reward_"):  # poGAMBITTS: the scores it plays by
        chains, n_draws = next(iter(posterior.values())).shape[:2]
        posterior["arm_reward"] = (
            agent.arm_reward_[replicate]
            .astype(float)
            .reshape(chains, n_draws, agent.n_cells, agent.n_arms)
        )
        dims["arm_reward"] = ["cell", "arm"]
    return posterior, dims, coords


def _add_custom_stage1(
    agent: Any, replicate: int, posterior: dict, dims: dict, rng: np.random.Generator
) -> None:
    """Add stage 1's mean of ``Z`` per (cell, arm), with the stage-2 draws' chain/draw shape."""
    chains, n_draws = next(iter(posterior.values())).shape[:2]
    if agent.treatment_builder is None:
        means = _stage1_mu(agent, replicate, chains * n_draws, rng)
    else:
        means = agent.treatment_mean_draws_[replicate].astype(float)
    posterior["mu"] = means.reshape(chains, n_draws, agent.n_cells, agent.n_arms, agent.n_dims)
    dims["mu"] = ["cell", "arm", "dim"]


def _feature_dim(model: Any) -> str | None:
    """Name of the column dim of the model's ``features`` data (renamed to ``feature``)."""
    dims = model.named_vars_to_dims.get("features", ())
    return dims[1] if len(dims) == 2 else None
