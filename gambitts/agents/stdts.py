"""Standard Thompson sampling on the reward alone: StdTS and StdTS:Contextual."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Self

import numpy as np

from gambitts.agents.base import Agent
from gambitts.agents.spec import AgentSpec
from gambitts.models.conjugate import NormalInverseGamma
from gambitts.models.posterior_draws import PosteriorDraws
from gambitts.models.priors import NormalInverseGammaPrior
from gambitts.models.random_streams import BatchRandom, as_replicate_random

if TYPE_CHECKING:
    from gambitts.design.contexts import ContextSpace


class StdTS(Agent):
    """Thompson sampling with a Normal-Inverse-Gamma posterior per arm on the reward.

    Parameters
    ----------
    n_arms : int
        Number of prompts.
    n_cells : int
        Number of context cells.
    contextual : bool, default False
        Keep one posterior per (context cell, arm) instead of one per arm (StdTS:Contextual).
    prior : NormalInverseGammaPrior, optional
        Defaults to the paper's (mean 77, count 5, shape 1, scale 10).

    Attributes
    ----------
    posterior_ : NormalInverseGamma
        Batch shape ``(n_replicates, n_cells, n_arms)`` if contextual, else
        ``(n_replicates, 1, n_arms)``.
    """

    def __init__(
        self,
        n_arms: int,
        n_cells: int,
        *,
        contextual: bool = False,
        prior: NormalInverseGammaPrior | None = None,
    ) -> None:
        super().__init__(n_arms, n_cells)
        self.contextual = contextual
        self.prior = prior or NormalInverseGammaPrior()
        self.name = "StdTS:Contextual" if contextual else "StdTS"

    def reset(
        self,
        n_replicates: int,
        generator_means: np.ndarray | None = None,
        generator_draws: np.ndarray | None = None,
    ) -> Self:
        """Start from the prior; the generator arguments are ignored (StdTS does not use Z)."""
        cells = self.n_cells if self.contextual else 1
        self._n_replicates = n_replicates
        self.posterior_ = NormalInverseGamma((n_replicates, cells, self.n_arms), self.prior)
        self._replicates = np.arange(n_replicates)
        self._single_cell = np.zeros(n_replicates, dtype=np.int64)
        return self

    def _posterior_cells(self, cells: np.ndarray) -> np.ndarray:
        return cells if self.contextual else self._single_cell

    def select(self, cells: np.ndarray, rng: BatchRandom | np.random.Generator) -> np.ndarray:
        """Draw each arm's mean reward in the replicate's cell and return the best arm."""
        cells = self._check_cells(cells, "select")
        rng = as_replicate_random(rng, self._n_replicates)
        index = (self._replicates, self._posterior_cells(cells))
        return np.argmax(self.posterior_.sample_mean(index, rng), axis=1)

    def update(
        self, cells: np.ndarray, actions: np.ndarray, z: np.ndarray, rewards: np.ndarray
    ) -> Self:
        """Add each replicate's reward to its (cell,) arm posterior; ``z`` is ignored."""
        cells, actions, rewards = self._check_observation(cells, actions, rewards)
        index = (self._replicates, self._posterior_cells(cells), actions)
        self.posterior_.update(index, rewards)
        return self

    def posterior_draws(
        self, replicate: int, n_draws: int, rng: np.random.Generator
    ) -> PosteriorDraws:
        """Draw each prompt's (and, if contextual, each cell's) ``mu`` and ``sigma2``."""
        mu, sigma2 = self.posterior_.posterior_draws(replicate, n_draws, rng)
        if self.contextual:
            dims = ["cell", "arm"]
        else:
            mu, sigma2, dims = mu[:, 0], sigma2[:, 0], ["arm"]
        return PosteriorDraws(
            {"mu": mu[None], "sigma2": sigma2[None]}, {"mu": dims, "sigma2": dims}
        )


@dataclass(frozen=True)
class StdTSSpec(AgentSpec):
    """StdTS in an experiment: one reward posterior per prompt.

    Attributes
    ----------
    prior : NormalInverseGammaPrior
        Of each prompt's mean reward; written as a mapping, e.g. ``prior: {mean: 7, count: 2}``.
    """

    kind: ClassVar[str] = "StdTS"
    contextual: ClassVar[bool] = False

    prior: NormalInverseGammaPrior = NormalInverseGammaPrior()

    def make_agent(
        self, n_arms: int, contexts: ContextSpace, noise_sd: float | None = None
    ) -> StdTS:
        """Create the agent; see :meth:`AgentSpec.make_agent`."""
        return StdTS(n_arms, contexts.n_cells, contextual=self.contextual, prior=self.prior)


@dataclass(frozen=True)
class StdTSContextualSpec(StdTSSpec):
    """StdTS:Contextual in an experiment: one reward posterior per (context cell, prompt)."""

    kind: ClassVar[str] = "StdTS:Contextual"
    contextual: ClassVar[bool] = True
