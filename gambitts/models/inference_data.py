"""Every agent's current posterior as :class:`arviz.InferenceData` with named coords.

:func:`posterior_inference_data` asks the agent for its posterior
(:meth:`~gambitts.agents.base.Agent.posterior_draws`: draws from the built-in agents' exact
posteriors, the latest fit of the custom agents) and labels it, so that ``az.summary`` and
``az.plot_posterior`` work the same way for every agent. Agents do not know what their dims,
prompts or cells are called: pass ``dim_names``, ``prompt_names``, ``cell_names`` and
``context_names`` (:func:`gambitts.sims.replay.final_posteriors` takes them from the database
and its context space). This module imports nothing from the agents.

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
        For an object that is not an agent.
    NotImplementedError
        For an agent kind that does not expose its posterior.
    RuntimeError
        If the agent was not reset.
    """
    if not callable(getattr(agent, "posterior_draws", None)):
        raise TypeError(
            "`agent` must be an agent of gambitts.agents (with `posterior_draws`), got "
            f"{type(agent).__name__}"
        )
    agent._require_reset("posterior_inference_data")
    if not 0 <= replicate < agent.n_replicates:
        raise ValueError(f"`replicate` must lie in [0, {agent.n_replicates}), got {replicate}")
    if int(n_draws) != n_draws or n_draws < 1:
        raise ValueError(f"`n_draws` must be a positive integer, got {n_draws!r}")
    rng = np.random.default_rng(0) if rng is None else rng
    names = _Names(agent, dim_names, prompt_names, cell_names, context_names)
    draws = agent.posterior_draws(replicate, int(n_draws), rng)
    posterior, dims = draws.variables, draws.dims
    coords = {**draws.coords, **names.coords(agent)}
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
