"""foGAMBITTS with a user's PyMC stage 2 and, optionally, a user's PyMC stage 1.

Stage 2 follows the builder contract of :mod:`gambitts.agents.custom`. Stage 1 is either
foGAMBITTS's exact Normal-Inverse-Wishart posterior per (cell, prompt), updated every round
(the default), or a user's model, refitted with stage 2.

The stage-1 builder contract
----------------------------
``treatment_builder(cells, arms, z, *, n_cells, n_arms) -> pymc.Model`` is a pure function that

1. declares ``pm.Data("cells", cells, dims="obs")`` and ``pm.Data("arms", arms, dims="obs")``
   (integer context cells and prompts of the observed messages) and
   ``pm.Data("z", z, dims=("obs", <any name>))`` (their modelled dims of ``Z``), and an
   observed variable for ``z``;
2. declares a variable ``treatment_mean`` of shape ``(n_cells, n_arms, n_dims)``: the mean of
   ``Z`` in every (cell, prompt) given the model's parameters, a function of the free random
   variables only;
3. has free random variables whose shapes do not depend on the number of observations.

For example, independent normal means per (cell, prompt) with one noise scale per dim::

    def build(cells, arms, z, *, n_cells, n_arms):
        with pm.Model() as model:
            c = pm.Data("cells", cells, dims="obs")
            a = pm.Data("arms", arms, dims="obs")
            observed = pm.Data("z", z, dims=("obs", "dim"))
            mu = pm.Normal("mu", 0.0, 1.0, shape=(n_cells, n_arms, z.shape[1]))
            sigma = pm.HalfNormal("sigma", 1.0, shape=z.shape[1])
            pm.Deterministic("treatment_mean", mu)
            pm.Normal("z_observed", mu[c, a], sigma, observed=observed)
        return model

How arms are scored
-------------------
Each :meth:`CustomFoGAMBITTS.select` draws, per replicate, the mean of ``Z`` of every prompt in
the round's cell from stage 1 (a Normal-Inverse-Wishart draw, or a random draw of the latest
stage-1 fit) and one draw of the latest stage-2 fit, and plays the prompt whose
``expected_reward`` at ``[mean of Z, context, prompt, 1]`` is highest: foGAMBITTS's plug-in of the
drawn mean. It is exact for stage-2 models linear in ``Z``; for models non-linear in ``Z`` it
ignores the spread of ``Z`` around its mean, and :class:`~gambitts.agents.custom.CustomPoGAMBITTS`
(which averages over generator draws) is the better choice. One compiled PyTensor call scores
all replicates.

Randomness
----------
``select`` takes the Normal-Inverse-Wishart draws (default stage 1) and then three standard
normals per replicate: the stage-2 draw, the stage-1 fit's draw, and the 64 bits that seed the
replicate's next refits (stage 2 with the key itself, stage 1 with a derived one). As for
:class:`~gambitts.agents.custom.CustomPoGAMBITTS`,
:meth:`~gambitts.agents.base.Agent.update_sequence` with ``rng`` draws the same in every round
without a pending ``select`` (the Normal-Inverse-Wishart draws too, which only move the stream
on), so replaying a live run's record with its stream rebuilds its state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import xarray as xr

from gambitts.agents.base import all_finite
from gambitts.agents.custom import (
    BuilderError,
    CustomStage2Agent,
    CustomStage2Spec,
    build_model,
    builder_reference,
    check_builder,
    compile_draw_function,
    draw_index,
    expected_reward_function,
    grow,
)
from gambitts.agents.refit import ModelRefitter
from gambitts.agents.two_stage import check_treatment_prior
from gambitts.errors import ExperimentError
from gambitts.models.conjugate import NormalInverseWishart
from gambitts.models.posterior_draws import PosteriorDraws
from gambitts.models.priors import NormalInverseWishartPrior
from gambitts.models.random_streams import BatchRandom, as_replicate_random

if TYPE_CHECKING:
    from gambitts.design.contexts import ContextSpace

__all__ = ["CustomFoGAMBITTS", "CustomFoGAMBITTSSpec"]

#: Prefix of stage-1 variables in :attr:`CustomFoGAMBITTS.diagnostics_`.
STAGE1_PREFIX = "stage1:"


class CustomFoGAMBITTS(CustomStage2Agent):
    """foGAMBITTS with a user-supplied PyMC stage 2 and optionally stage 1 (see module notes).

    Parameters
    ----------
    n_arms, n_dims, n_cells
        As :class:`~gambitts.agents.custom.CustomPoGAMBITTS`.
    builder : callable
        The stage-2 builder (contract in :mod:`gambitts.agents.custom`).
    treatment_builder : callable, optional
        The stage-1 builder (contract above); ``None`` keeps the exact Normal-Inverse-Wishart
        stage 1 of :class:`~gambitts.agents.two_stage.FoGAMBITTS`.
    treatment_prior : NormalInverseWishartPrior, optional
        Prior of the default stage 1 (the paper's by default).
    **options
        ``context_features``, ``prompt_indicators``, ``method``, ``refit_every``, ``draws``,
        ``tune``, ``warm_tune``, ``chains``, ``expected_reward``, ``advi_iterations``, ``seed``,
        ``warn_unhealthy``, ``sampler_kwargs``: as for
        :class:`~gambitts.agents.custom.CustomPoGAMBITTS`; both stages use them.

    Attributes
    ----------
    stage1_ : NormalInverseWishart
        The default stage 1 (absent with a ``treatment_builder``).
    treatment_model_ : pymc.Model
        The stage-1 model (with a ``treatment_builder``).
    treatment_mean_draws_ : ndarray of float32, shape (n_replicates, n_draws, n_cells, n_arms, n_dims)
        ``treatment_mean`` under each draw of the latest stage-1 fit (with a ``treatment_builder``).
    """  # noqa: E501

    name = "custom-foGAMBITTS"

    def __init__(
        self,
        n_arms: int,
        n_dims: int,
        n_cells: int,
        *,
        builder: Callable[..., Any],
        treatment_builder: Callable[..., Any] | None = None,
        treatment_prior: NormalInverseWishartPrior | None = None,
        **options: Any,
    ) -> None:
        if "n_mc_draws" in options:
            raise TypeError(
                "CustomFoGAMBITTS scores prompts at drawn means of Z and takes no `n_mc_draws`"
            )
        super().__init__(n_arms, n_dims, n_cells, builder=builder, n_mc_draws=None, **options)
        if treatment_builder is not None:
            check_builder(
                treatment_builder,
                "treatment_builder",
                "treatment_builder(cells, arms, z, *, n_cells, n_arms) -> pymc.Model",
            )
        self.treatment_builder = treatment_builder
        self.treatment_prior = treatment_prior or NormalInverseWishartPrior()

    # ------------------------------------------------------------------ Agent interface
    def reset(
        self,
        n_replicates: int,
        generator_means: np.ndarray | None = None,
        generator_draws: np.ndarray | None = None,
    ) -> Self:
        """Build and compile the models and start both stages from their priors.

        The generator arguments are ignored: stage 1 is learned from the observed ``Z``.
        """
        if hasattr(self, "_n_replicates"):
            del self._n_replicates  # a failed reset leaves the agent un-reset
        n_replicates = int(n_replicates)
        self._reset_custom_stage2(n_replicates)
        for stale in ("stage1_", "treatment_mean_draws_"):  # from a reset with the other stage 1
            self.__dict__.pop(stale, None)
        if self.treatment_builder is None:
            self.stage1_ = NormalInverseWishart(
                (n_replicates, self.n_cells, self.n_arms), self.n_dims, self.treatment_prior
            )
            self._stage1 = None
        else:
            self._stage1 = self._build_stage1()
            seed = np.random.SeedSequence(self.seed, spawn_key=(2**31, 1)).generate_state(1)[0]
            self._stage1.reset(n_replicates, int(seed), self.fit_settings)
            self._cells = np.zeros((n_replicates, 64), dtype=np.int64)
            self._arms = np.zeros((n_replicates, 64), dtype=np.int64)
            self._z = np.zeros((n_replicates, 64, self.n_dims))
        self._n_replicates = n_replicates
        self._refresh_draws()
        return self

    def posterior_draws(
        self, replicate: int, n_draws: int, rng: np.random.Generator
    ) -> PosteriorDraws:
        """Return the stage-2 fit's draws and stage 1's mean of ``Z``, ``mu`` (cell, arm, dim).

        ``mu`` has the stage-2 draws' (chain, draw) shape: drawn from the exact stage 1, or the
        stage-1 model's latest fit.
        """
        draws = super().posterior_draws(replicate, n_draws, rng)
        chains, n_fit_draws = next(iter(draws.variables.values())).shape[:2]
        if self.treatment_builder is None:
            means = self.stage1_.mean_draws(replicate, chains * n_fit_draws, rng)
        else:
            means = self.treatment_mean_draws_[replicate].astype(float)
        shape = (chains, n_fit_draws, self.n_cells, self.n_arms, self.n_dims)
        draws.variables["mu"] = means.reshape(shape)
        draws.dims["mu"] = ["cell", "arm", "dim"]
        return draws

    def select(self, cells: np.ndarray, rng: BatchRandom | np.random.Generator) -> np.ndarray:
        """Draw both stages' parameters per replicate and play the best prompt in the cell."""
        cells = self._check_cells(cells, "select")
        means, index = self._draw_round(cells, as_replicate_random(rng, self._n_replicates))
        replicates = np.arange(self._n_replicates)
        parameters = {name: values[replicates, index] for name, values in self._flat2.items()}
        arms = np.tile(np.arange(self.n_arms), self._n_replicates)
        rows = self.features(
            np.repeat(cells, self.n_arms), arms, means.reshape(-1, self.n_dims)
        ).reshape(self._n_replicates, self.n_arms, self.n_features)
        scores = self._paired(parameters, rows)
        if not all_finite(scores):
            raise FloatingPointError(
                f"`{self.expected_reward}` is not finite for some drawn parameters; check the model"
            )
        return np.argmax(scores, axis=1)

    def update(
        self, cells: np.ndarray, actions: np.ndarray, z: np.ndarray, rewards: np.ndarray
    ) -> Self:
        """Store each replicate's observation, update the default stage 1, refit when due."""
        cells, actions, rewards = self._check_observation(cells, actions, rewards)
        z = self._check_z(z)
        if self._stage1 is None:
            self.stage1_.update((np.arange(self._n_replicates), cells, actions), z)
        else:
            if self.n_observed_ == self._cells.shape[1]:
                self._cells, self._arms, self._z = grow(self._cells, self._arms, self._z)
            self._cells[:, self.n_observed_] = cells
            self._arms[:, self.n_observed_] = actions
            self._z[:, self.n_observed_] = z
        self._store(cells, actions, z, rewards)
        if self.n_observed_ % self.refit_every == 0:
            self.refit()
        return self

    def refit(self) -> Self:
        """Refit stage 2 (and a custom stage 1) of every replicate on all its observations."""
        self._require_reset("refit")
        rows = [self._refit_stage2()]
        if self._stage1 is not None:
            n = self.n_observed_
            refit = self._stage1.n_refits
            seeds = [self._sampler_seed(r, refit, stream=1) for r in range(self._n_replicates)]
            stage1 = self._stage1.refit(
                lambda r: {
                    "cells": self._cells[r, :n],
                    "arms": self._arms[r, :n],
                    "z": self._z[r, :n],
                },
                seeds,
                n,
            )
            rows.append(stage1)
        self._refresh_draws()
        self._warn_if_unhealthy(*rows)
        return self

    @property
    def treatment_model_(self) -> Any:
        """The stage-1 model (only with a ``treatment_builder``)."""
        if getattr(self, "_stage1", None) is None:
            raise AttributeError("treatment_model_ exists only with a `treatment_builder`")
        return self._stage1.model

    @property
    def diagnostics_(self) -> xr.Dataset:
        """Diagnostics of every refit, dims ``(refit, replicate, variable)``.

        Stage-1 variables are named ``stage1:<name>``. ``wall_time`` and ``divergences`` add
        up both stages (``divergences`` stays -1 when neither stage ran MCMC), and
        ``optimizer_converged`` (Laplace) holds when both stages' optimisers converged.
        """
        stage2 = super().diagnostics_
        if self._stage1 is None or stage2.sizes.get("refit", 0) == 0:
            return stage2
        stage1 = self._stage1.diagnostics_
        stage1 = stage1.assign_coords(variable=[STAGE1_PREFIX + v for v in stage1.variable.values])
        per_variable = ["rhat_max", "ess_bulk_min", "ess_tail_min"]
        merged = xr.concat([stage2[per_variable], stage1[per_variable]], dim="variable")
        merged["wall_time"] = stage2["wall_time"] + stage1["wall_time"]
        divergences = stage2["divergences"].clip(min=0) + stage1["divergences"].clip(min=0)
        no_mcmc = (stage2["divergences"] < 0) & (stage1["divergences"] < 0)
        merged["divergences"] = divergences.where(~no_mcmc, -1)
        if "optimizer_converged" in stage2:
            merged["optimizer_converged"] = (
                stage2["optimizer_converged"] & stage1["optimizer_converged"]
            )
        return merged

    # ------------------------------------------------------------------ internals
    def _draw_round(self, cells: np.ndarray, rng: BatchRandom) -> tuple[np.ndarray, np.ndarray]:
        """Draw the round's parameters of both stages (see the module notes for the order).

        Returns
        -------
        means : ndarray, shape (n_replicates, n_arms, n_dims)
            Each replicate's drawn mean of ``Z`` of every prompt in its cell.
        index : ndarray of int, shape (n_replicates,)
            Each replicate's draw of the latest stage-2 fit.
        """
        replicates = np.arange(self._n_replicates)
        n = self.n_posterior_draws
        if self._stage1 is None:
            means = self.stage1_.sample_mean((replicates, cells), rng)
            normals = rng.standard_normal(3)
        else:
            normals = rng.standard_normal(3)
            means = self.treatment_mean_draws_[replicates, draw_index(normals[:, 1], n), cells]
        self._keep_seed_keys(normals[:, 2])
        return means, draw_index(normals[:, 0], n)

    def _compile_scoring(self, model: Any) -> None:
        self._paired = expected_reward_function(model, self.expected_reward, paired=True)

    def _build_stage1(self) -> ModelRefitter:
        """Build and compile stage 1, or return the compiled one if nothing it uses changed."""
        key = (self.treatment_builder, self.method, self.n_cells, self.n_arms, self.n_dims)
        if getattr(self, "_stage1_key", None) == key:
            return self._compiled_stage1
        model = build_model(
            self.treatment_builder,
            "treatment_builder",
            ("cells", "arms", "z", "treatment_mean"),
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
            np.zeros((0, self.n_dims)),
            n_cells=self.n_cells,
            n_arms=self.n_arms,
        )
        self._treatment_mean = compile_draw_function(model, "treatment_mean")
        self._compiled_stage1 = ModelRefitter(model, self.method, self.fit_settings)
        self.n_compilations_ += 1
        self._stage1_key = key
        return self._compiled_stage1

    def _refresh_draws(self) -> None:
        """Stack the latest fits' draws over replicates for the vectorised ``select``."""
        flats = [self._stage2.flat_draws(r) for r in range(self._n_replicates)]
        self._flat2 = {name: np.stack([f[name] for f in flats]) for name in self._stage2.shapes}
        if self._stage1 is None:
            return
        means = [
            self._treatment_mean(self._stage1.flat_draws(r)) for r in range(self._n_replicates)
        ]
        expected = (self.n_posterior_draws, self.n_cells, self.n_arms, self.n_dims)
        if means[0].shape != expected:
            reference = builder_reference(self.treatment_builder)
            raise BuilderError(
                f"`treatment_mean` of the model from treatment_builder {reference!r} must have "
                f"shape {expected[1:]} = (n_cells, n_arms, n_dims), got {means[0].shape[1:]}"
            )
        self.treatment_mean_draws_ = np.stack(means).astype(np.float32)


@dataclass(frozen=True)
class CustomFoGAMBITTSSpec(CustomStage2Spec):
    """custom-foGAMBITTS in an experiment (scores prompts at drawn means of ``Z``).

    Attributes
    ----------
    treatment_builder : str
        A stage-1 PyMC builder (see the module notes); empty keeps the exact
        Normal-Inverse-Wishart stage 1 of foGAMBITTS.
    treatment_prior : NormalInverseWishartPrior
        Prior of that exact stage 1, written as a mapping (used without ``treatment_builder``).
    """

    kind: ClassVar[str] = "custom-foGAMBITTS"

    treatment_builder: str = ""
    treatment_prior: NormalInverseWishartPrior = NormalInverseWishartPrior()

    def check(self) -> None:
        """See :class:`CustomStage2Spec`; a stage-1 builder replaces the exact stage-1 prior."""
        super().check()
        check_treatment_prior(self)
        if self.treatment_builder and self.treatment_prior != NormalInverseWishartPrior():
            raise ExperimentError(
                f"{self.where}: `treatment_prior` is the prior of the exact stage 1; with a "
                "`treatment_builder` declare the prior inside that model instead"
            )

    def _builder_fields(self) -> list[str]:
        return ["builder", "treatment_builder"] if self.treatment_builder else ["builder"]

    def make_agent(
        self, n_arms: int, contexts: ContextSpace, noise_sd: float | None = None
    ) -> CustomFoGAMBITTS:
        """Create the agent; see :meth:`AgentSpec.make_agent`."""
        builders = self.load_builders()
        return CustomFoGAMBITTS(
            n_arms,
            len(self.dims),
            contexts.n_cells,
            treatment_builder=builders.get("treatment_builder"),
            treatment_prior=self.treatment_prior,
            **self.refit_options(builders),
            **self.stage2_options(contexts),
        )
