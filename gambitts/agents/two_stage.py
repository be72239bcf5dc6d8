"""GAMBITTS agents: Thompson sampling through the treatment Z and a linear outcome model.

Stage 1 is the distribution of the message's embedding ``Z`` given prompt and context; stage 2
is the linear regression of the reward on the stage-2 features

``[Z (modelled dims), context features (optional), prompt indicators (optional), 1]``.

Each round both stages' parameters are drawn from their posteriors and every arm is scored by
``E[Y | a, x] = E[Z | a, x] . beta_z + context(x) . beta_x + beta_prompt[a] + beta_0``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import numpy as np

from gambitts.agents.base import EmbeddingAgent
from gambitts.agents.spec import AgentSpec
from gambitts.errors import ExperimentError
from gambitts.models.conjugate import BayesianLinearRegression, NormalInverseWishart
from gambitts.models.posterior_draws import PosteriorDraws
from gambitts.models.priors import LinearPrior, NormalInverseWishartPrior
from gambitts.models.random_streams import BatchRandom, as_replicate_random

if TYPE_CHECKING:
    from gambitts.design.contexts import ContextSpace


class TwoStageAgent(EmbeddingAgent):
    """Shared stage 2 of poGAMBITTS and foGAMBITTS.

    Parameters
    ----------
    n_arms : int
        Number of prompts.
    n_dims : int
        Number of modelled dimensions of ``Z`` (the ``z`` passed to :meth:`update`).
    n_cells : int
        Number of context cells.
    context_features : ndarray of shape (n_cells, n_context_features), optional
        Stage-2 features of each context cell; ``None`` leaves context out of stage 2.
    prompt_indicators : bool, default False
        Add ``n_arms - 1`` prompt indicators to stage 2 (the paper's "hedged" agents).
    prior : LinearPrior, optional
        Stage-2 prior; defaults to the paper's (known noise variance 1).

    Attributes
    ----------
    stage2_ : BayesianLinearRegression
        The stage-2 posterior; features in the order of :meth:`feature_names`.
    """

    def __init__(
        self,
        n_arms: int,
        n_dims: int,
        n_cells: int,
        *,
        context_features: np.ndarray | None = None,
        prompt_indicators: bool = False,
        prior: LinearPrior | None = None,
    ) -> None:
        super().__init__(
            n_arms,
            n_dims,
            n_cells,
            context_features=context_features,
            prompt_indicators=prompt_indicators,
        )
        self.prior = prior or LinearPrior()

    @property
    def n_features(self) -> int:
        """Number of stage-2 features: the model inputs and the intercept."""
        return self.n_inputs + 1

    def feature_names(
        self, dim_names: list[str] | None = None, context_names: list[str] | None = None
    ) -> list[str]:
        """Return the names of the stage-2 features, in order."""
        dims = dim_names or [f"z[{i}]" for i in range(self.n_dims)]
        names = list(dims)
        if self.context_features is not None:
            names += context_names or [
                f"context[{i}]" for i in range(self.context_features.shape[1])
            ]
        if self.prompt_indicators:
            names += [f"prompt[{a}]" for a in range(1, self.n_arms)]
        return names + ["intercept"]

    def features(self, cells: np.ndarray, actions: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Build the stage-2 feature rows ``(n, n_features)`` for observed ``(cell, prompt, Z)``."""
        parts = [np.asarray(z, dtype=float)]
        if self.context_features is not None:
            parts.append(self.context_features[cells])
        if self.prompt_indicators:
            parts.append(np.eye(self.n_arms)[actions, 1:])
        parts.append(np.ones((len(cells), 1)))
        return np.concatenate(parts, axis=1)

    def _check_generator_means(
        self, n_replicates: int, generator_means: np.ndarray | None
    ) -> np.ndarray:
        """Return ``generator_means`` as ``(n_replicates, n_cells, n_arms, n_dims)``, or raise."""
        expected = (self.n_cells, self.n_arms, self.n_dims)
        if generator_means is None:
            raise ValueError(
                f"{self.name} needs `generator_means` of shape (n_replicates, "
                f"{', '.join(map(str, expected))}) = (replicate, cell, arm, dim)"
            )
        means = np.asarray(generator_means, dtype=float)
        if means.shape == expected:
            means = np.broadcast_to(means, (n_replicates, *expected))
        if means.shape != (n_replicates, *expected):
            raise ValueError(
                f"`generator_means` must have shape ({n_replicates}, {expected[0]}, {expected[1]}, "
                f"{expected[2]}) = (replicate, cell, arm, dim), got {means.shape}"
            )
        return means

    def posterior_draws(
        self, replicate: int, n_draws: int, rng: np.random.Generator
    ) -> PosteriorDraws:
        """Draw stage 2's coefficients ``beta`` (over ``feature``), and ``sigma2`` if unknown."""
        beta, sigma2 = self.stage2_.posterior_draws(replicate, n_draws, rng)
        if sigma2 is None:
            return PosteriorDraws({"beta": beta[None]}, {"beta": ["feature"]})
        return PosteriorDraws(
            {"beta": beta[None], "sigma2": sigma2[None]}, {"beta": ["feature"], "sigma2": []}
        )

    def _reset_stage2(self, n_replicates: int) -> None:
        self._n_replicates = n_replicates
        self.stage2_ = BayesianLinearRegression(n_replicates, self.n_features, self.prior)

    def _scores(
        self, cells: np.ndarray, treatment_means: np.ndarray, beta: np.ndarray
    ) -> np.ndarray:
        """Return every arm's expected reward ``(n_replicates, n_arms)`` under drawn parameters."""
        d = self.n_dims
        scores = np.einsum("rkd,rd->rk", treatment_means, beta[:, :d])
        scores += beta[:, -1:]
        if self.context_features is not None:
            n_context = self.context_features.shape[1]
            context_terms = np.einsum(
                "rf,rf->r", self.context_features[cells], beta[:, d : d + n_context]
            )
            scores += context_terms[:, None]
        if self.prompt_indicators:
            scores[:, 1:] += beta[:, -self.n_arms : -1]
        return scores


class PoGAMBITTS(TwoStageAgent):
    """poGAMBITTS: stage 1 known from generator draws, stage 2 learned.

    ``E[Z | a, x]`` is the mean of the generator draws the agent was given for cell (a, x).
    See :class:`TwoStageAgent` for the parameters.

    Attributes
    ----------
    treatment_means_ : ndarray, shape (n_replicates, n_cells, n_arms, n_dims)
        The stage-1 means from the generator draws.
    stage2_ : BayesianLinearRegression
    """

    name = "poGAMBITTS"
    uses_generator = True

    def reset(
        self,
        n_replicates: int,
        generator_means: np.ndarray | None = None,
        generator_draws: np.ndarray | None = None,
    ) -> Self:
        """Start stage 2 from the prior and take stage 1 from ``generator_means``.

        Parameters
        ----------
        n_replicates : int
        generator_means : ndarray, shape (n_replicates, n_cells, n_arms, n_dims)
            Mean of the agent's generator draws for each (cell, prompt), per replicate
            (a shape without the replicate axis is shared by all replicates).
        """
        means = self._check_generator_means(n_replicates, generator_means)
        self._reset_stage2(n_replicates)
        self.treatment_means_ = np.ascontiguousarray(means)
        self._cell_rows = np.arange(n_replicates) * self.n_cells
        return self

    def select(self, cells: np.ndarray, rng: BatchRandom | np.random.Generator) -> np.ndarray:
        """Draw stage-2 coefficients and return the arm with the highest expected reward."""
        cells = self._check_cells(cells, "select")
        rng = as_replicate_random(rng, self._n_replicates)
        beta = self.stage2_.sample(rng)
        cell_means = self.treatment_means_.reshape(-1, self.n_arms, self.n_dims)
        means = cell_means[self._cell_rows + cells]
        return np.argmax(self._scores(cells, means, beta), axis=1)

    def update(
        self, cells: np.ndarray, actions: np.ndarray, z: np.ndarray, rewards: np.ndarray
    ) -> Self:
        """Add each replicate's (features, reward) to stage 2."""
        cells, actions, rewards = self._check_observation(cells, actions, rewards)
        z = self._check_z(z)
        self.stage2_.update(self.features(cells, actions, z), rewards)
        return self


class FoGAMBITTS(TwoStageAgent):
    """foGAMBITTS: both stages learned online.

    Stage 1 is a Normal-Inverse-Wishart posterior on ``Z`` per (context cell, arm); each round
    the mean of ``Z`` for every arm in the current cell is drawn from it. See
    :class:`TwoStageAgent` for the other parameters.

    Parameters
    ----------
    treatment_prior : NormalInverseWishartPrior, optional
        Defaults to the paper's (mean 0, kappa 1, dof = n_dims, scale I).

    Attributes
    ----------
    stage1_ : NormalInverseWishart
        Batch shape ``(n_replicates, n_cells, n_arms)``.
    stage2_ : BayesianLinearRegression
    """

    name = "foGAMBITTS"

    def __init__(
        self,
        n_arms: int,
        n_dims: int,
        n_cells: int,
        *,
        context_features: np.ndarray | None = None,
        prompt_indicators: bool = False,
        prior: LinearPrior | None = None,
        treatment_prior: NormalInverseWishartPrior | None = None,
    ) -> None:
        super().__init__(
            n_arms,
            n_dims,
            n_cells,
            context_features=context_features,
            prompt_indicators=prompt_indicators,
            prior=prior,
        )
        self.treatment_prior = treatment_prior or NormalInverseWishartPrior()

    def reset(
        self,
        n_replicates: int,
        generator_means: np.ndarray | None = None,
        generator_draws: np.ndarray | None = None,
    ) -> Self:
        """Start both stages from their priors; the generator arguments are ignored."""
        self._reset_stage2(n_replicates)
        self.stage1_ = NormalInverseWishart(
            (n_replicates, self.n_cells, self.n_arms), self.n_dims, self.treatment_prior
        )
        return self

    def select(self, cells: np.ndarray, rng: BatchRandom | np.random.Generator) -> np.ndarray:
        """Draw both stages' parameters and return the arm with the highest expected reward."""
        cells = self._check_cells(cells, "select")
        rng = as_replicate_random(rng, self._n_replicates)
        means = self.stage1_.sample_mean((np.arange(self._n_replicates), cells), rng)
        beta = self.stage2_.sample(rng)
        return np.argmax(self._scores(cells, means, beta), axis=1)

    def update(
        self, cells: np.ndarray, actions: np.ndarray, z: np.ndarray, rewards: np.ndarray
    ) -> Self:
        """Add each replicate's ``Z`` to stage 1 of its (cell, arm), and its reward to stage 2."""
        cells, actions, rewards = self._check_observation(cells, actions, rewards)
        z = self._check_z(z)
        self.stage1_.update((np.arange(self._n_replicates), cells, actions), z)
        self.stage2_.update(self.features(cells, actions, z), rewards)
        return self

    def posterior_draws(
        self, replicate: int, n_draws: int, rng: np.random.Generator
    ) -> PosteriorDraws:
        """Draw stage 2 (see :class:`TwoStageAgent`) and stage 1's mean of ``Z``, ``mu``."""
        draws = super().posterior_draws(replicate, n_draws, rng)
        draws.variables["mu"] = self.stage1_.mean_draws(replicate, n_draws, rng)[None]
        draws.dims["mu"] = ["cell", "arm", "dim"]
        return draws


@dataclass(frozen=True)
class TwoStageSpec(AgentSpec):
    """What every agent of ``Z`` is given: its dims and its stage-2 features.

    Attributes
    ----------
    dims : tuple of str
        Modelled style dimensions (at least one), named as in the database.
    context_features : bool
        Add the context space's features (numeric variables, one-hot levels) to stage 2.
    prompt_indicators : bool
        Add prompt indicators to stage 2 (the paper's "hedged" agents).
    """

    dims: tuple[str, ...] = ()
    context_features: bool = False
    prompt_indicators: bool = False

    def check(self) -> None:
        """Require at least one modelled dimension."""
        if not self.dims:
            raise ExperimentError(
                f"{self.where}: `dims` must name at least one style dimension, e.g. [optimism]"
            )

    @property
    def modelled_dims(self) -> tuple[str, ...]:
        """The style dimensions the agent models: :attr:`dims`."""
        return self.dims

    def stage2_options(self, contexts: ContextSpace) -> dict[str, Any]:
        """Return the agent constructor's stage-2 feature options."""
        return {
            "context_features": contexts.features() if self.context_features else None,
            "prompt_indicators": self.prompt_indicators,
        }


@dataclass(frozen=True)
class LinearStageTwoSpec(TwoStageSpec):
    """A two-stage agent with the exact linear stage 2 (poGAMBITTS, foGAMBITTS).

    Attributes
    ----------
    noise : {"known", "unknown"}
        Stage-2 noise model; ``known`` fixes the variance (at ``prior.noise_variance``, 1 as the
        paper did), ``unknown`` learns it (Normal-Inverse-Gamma).
    prior : LinearPrior
        Stage-2 prior, written as a mapping, e.g. ``prior: {coef_precision: 0.25}``.
    """

    noise: Literal["known", "unknown"] = "known"
    prior: LinearPrior = LinearPrior()

    def check(self) -> None:
        """Keep the noise model in one place: the agent's ``noise``."""
        super().check()
        if self.prior.noise != "known":
            raise ExperimentError(
                f"{self.where}: set `noise: {self.prior.noise}` on the agent, not inside `prior`"
            )

    def stage2_prior(self) -> LinearPrior:
        """Return the stage-2 prior with the agent's noise model."""
        return replace(self.prior, noise=self.noise)


@dataclass(frozen=True)
class PoGAMBITTSSpec(LinearStageTwoSpec):
    """poGAMBITTS in an experiment.

    Attributes
    ----------
    draws_per_cell : int or None
        Generator draws per (cell, prompt) the agent is given; ``None`` means all.
    """

    kind: ClassVar[str] = "poGAMBITTS"

    draws_per_cell: int | None = None

    def check(self) -> None:
        """See :class:`LinearStageTwoSpec`; ``draws_per_cell`` must be positive."""
        super().check()
        check_draws_per_cell(self)

    def make_agent(
        self, n_arms: int, contexts: ContextSpace, noise_sd: float | None = None
    ) -> PoGAMBITTS:
        """Create the agent; see :meth:`AgentSpec.make_agent`."""
        return PoGAMBITTS(
            n_arms,
            len(self.dims),
            contexts.n_cells,
            prior=self.stage2_prior(),
            **self.stage2_options(contexts),
        )


@dataclass(frozen=True)
class FoGAMBITTSSpec(LinearStageTwoSpec):
    """foGAMBITTS in an experiment.

    Attributes
    ----------
    treatment_prior : NormalInverseWishartPrior
        Stage-1 prior, written as a mapping, e.g. ``treatment_prior: {kappa: 0.5}``.
    """

    kind: ClassVar[str] = "foGAMBITTS"

    treatment_prior: NormalInverseWishartPrior = NormalInverseWishartPrior()

    def check(self) -> None:
        """See :class:`LinearStageTwoSpec`; the stage-1 prior must suit the modelled dims."""
        super().check()
        check_treatment_prior(self)

    def make_agent(
        self, n_arms: int, contexts: ContextSpace, noise_sd: float | None = None
    ) -> FoGAMBITTS:
        """Create the agent; see :meth:`AgentSpec.make_agent`."""
        return FoGAMBITTS(
            n_arms,
            len(self.dims),
            contexts.n_cells,
            prior=self.stage2_prior(),
            treatment_prior=self.treatment_prior,
            **self.stage2_options(contexts),
        )


def check_treatment_prior(spec: AgentSpec) -> None:
    """Refuse an inverse-Wishart ``dof`` that does not exceed the number of dims minus one."""
    try:
        spec.treatment_prior.resolved_dof(len(spec.dims))
    except ValueError as error:
        raise ExperimentError(f"{spec.where}: `treatment_prior`: {error}") from None


def check_draws_per_cell(spec: AgentSpec) -> None:
    """Refuse a ``draws_per_cell`` below 1 (the field's type already refuses 2.5)."""
    draws = spec.draws_per_cell
    if draws is not None and draws < 1:
        raise ExperimentError(
            f"{spec.where}: `draws_per_cell` must be a positive whole number or left out (all "
            f"draws), got {draws!r}"
        )
