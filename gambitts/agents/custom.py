"""poGAMBITTS with a user's own PyMC outcome model (stage 2), refitted every few rounds.

:class:`CustomStage2Agent` holds what both custom agents share (the stage-2 contract below, the
refits, the diagnostics); :class:`CustomPoGAMBITTS` scores prompts over generator draws, and
:class:`~gambitts.agents.custom_fo.CustomFoGAMBITTS` over stage-1 posterior draws. The fitting
engines live in :mod:`gambitts.agents.refit`.

The builder contract
--------------------
``builder(features, rewards) -> pymc.Model`` is a pure function (no sampling, I/O or plots) that

1. declares ``pm.Data("features", features, dims=("obs", <any name>))`` holding the stage-2
   feature rows of :meth:`~gambitts.agents.two_stage.TwoStageAgent.features`
   (``[Z (modelled dims), context features, prompt indicators, 1]``, intercept column last;
   :meth:`~gambitts.agents.two_stage.TwoStageAgent.feature_names` names them), and
   ``pm.Data("rewards", rewards, dims="obs")``. The ``obs`` dim must have no coordinate values,
   so that the number of observations can change;
2. declares a variable named ``expected_reward`` (configurable with ``expected_reward=``),
   typically a ``pm.Deterministic`` with dims ``("obs",)``: the mean reward of each feature row
   given the model's parameters, a function of ``features`` and the *free* random variables only
   (no data other than ``features``, no random draws). The agent re-evaluates this graph on
   candidate rows ``[Z, x, a, 1]`` to score arms;
3. has free random variables whose shapes do not depend on the number of observations
   (coefficients, scales, degrees of freedom; not one latent per observation).

It is called by the first ``reset`` of a custom agent with zero-row arrays (so it must
accept ``features`` of shape ``(0, n_features)``); the model is compiled then, and only its data
change afterwards, across refits and later resets of the same agent. If the builder raises,
calls ``sys.exit`` or returns anything but a ``pymc.Model``, that ``reset`` raises one
:class:`BuilderError` naming the builder (the command line prints it as one line).
:func:`gambitts.models.pymc_models.build_outcome_model` (via ``functools.partial`` for ``prior``
and ``feature_names``) satisfies the contract and reproduces
:class:`~gambitts.agents.two_stage.PoGAMBITTS`'s posterior.

What the agent does
-------------------
- Until the first refit, Thompson draws come from ``n_posterior_draws`` prior draws (one
  ``pymc.draw`` at reset, shared by all replicates; each replicate indexes them with its own
  stream).
- Every ``refit_every`` updates each replicate's model is refitted on all its observations
  (a loop over replicates; MCMC cannot be batched) with ``method``:

  ``"nuts"`` (default)
      nutpie, used directly: :func:`nutpie.compile_pymc_model` once per agent, then
      ``compiled.with_data(...)`` and :func:`nutpie.sample` per refit (no recompilation).
      Warm start: each chain starts at a random draw of the replicate's previous fit
      (unconstrained space); later fits may tune for fewer steps (``warm_tune``).
  ``"nuts-pymc"``
      PyMC's NUTS on the same model after :func:`pymc.set_data` (the C code is cached, PyMC
      rebuilds its graph each call, ~1 s). Warm start through ``initvals``. The fallback when
      nutpie is not installed.
  ``"laplace"``
      Mode (L-BFGS from the previous mode) and Hessian of the log density in PyMC's
      unconstrained space, compiled once; draws from the normal approximation there, mapped back.
  ``"advi"``
      Mean-field ADVI (:func:`pymc.fit`, ``advi_iterations`` steps) after :func:`pymc.set_data`,
      started from the previous fit's mean. PyMC recompiles ADVI's step each call (~1 s).

- After a refit, the expected reward of every (cell, arm) is computed for every posterior draw
  by averaging ``expected_reward`` over the arm's generator draws in the cell (the first
  ``n_mc_draws`` of the given ``generator_draws``); with ``n_mc_draws=None``, or when only
  ``generator_means`` are given, at the mean of ``Z`` instead, which is exact for models linear
  in ``Z``. :meth:`CustomPoGAMBITTS.select` then only picks one draw per replicate and looks
  up its row: vectorised over replicates, no PyMC call.

Randomness
----------
:meth:`CustomPoGAMBITTS.select` takes two standard normals per replicate from its own stream:
the first (through the normal CDF) picks the posterior draw, the second's 64 bits key the
replicate's later refits, each seeded from ``SeedSequence([key, refit, stage])``. Refits before
any ``select`` (e.g. :meth:`~gambitts.agents.base.Agent.update_sequence` on recorded data) are
seeded from ``SeedSequence(seed, spawn_key=(replicate, refit))`` (``(replicate, refit, 1)`` for
a custom stage 1).

An ``update`` therefore does not need a ``select`` before it (``update_needs_select`` is
false: a recorded log replays without a stream), but the refits a live run made depend on its
``select`` draws. So :meth:`~gambitts.agents.base.Agent.update_sequence` with ``rng`` draws, in
every round without a pending ``select``, exactly what ``select`` would have drawn (one helper,
``_draw_round``, does the drawing for both), and replaying a live run's record with the run's
stream rebuilds the run's state, posterior draws included. A ``select`` made just before
``update_sequence`` is pending for its first round, so nothing is drawn twice.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import traceback
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import numpy as np
import xarray as xr
from scipy.special import ndtr

from gambitts.agents.base import all_finite
from gambitts.agents.refit import ENGINES, FitSettings, ModelRefitter
from gambitts.agents.two_stage import TwoStageAgent, TwoStageSpec, check_draws_per_cell
from gambitts.errors import ExperimentError, InputError
from gambitts.models.diagnostics import stack_diagnostics, unhealthy
from gambitts.models.posterior_draws import PosteriorDraws
from gambitts.models.random_streams import BatchRandom, as_replicate_random
from gambitts.user_code import FILE_MODULE_PREFIX, check_reference, import_function

if TYPE_CHECKING:
    from gambitts.design.contexts import ContextSpace

Method = Literal["nuts", "nuts-pymc", "laplace", "advi"]
METHODS: tuple[str, ...] = tuple(ENGINES)
Builder = Callable[[np.ndarray, np.ndarray], Any]

__all__ = [
    "METHODS",
    "BuilderError",
    "CustomPoGAMBITTS",
    "CustomStage2Agent",
    "UnhealthyFitWarning",
    "nutpie_available",
]


class UnhealthyFitWarning(UserWarning):
    """A refit's convergence diagnostics crossed a threshold (see :mod:`~gambitts.models.diagnostics`)."""  # noqa: E501


def nutpie_available() -> bool:
    """Return whether nutpie is installed (the default ``"nuts"`` method needs it)."""
    return importlib.util.find_spec("nutpie") is not None


def check_builder(builder: Any, name: str, signature: str) -> None:
    """Raise ``TypeError`` unless ``builder`` is callable."""
    if not callable(builder):
        raise TypeError(f"`{name}` must be a callable {signature}, got {type(builder).__name__}")


class BuilderError(InputError):
    """A user's model builder raised, exited, or returned something that breaks its contract.

    The problem is in the user's code, not in gambitts, so the message is one line naming the
    builder and what went wrong; the builder's own exception stays attached as ``__cause__``.
    """


def builder_reference(builder: Callable[..., Any]) -> str:
    """Name a builder as an experiment file does: ``"module:function"`` or ``"file.py:function"``.

    Messages about a builder must let the user find it; a function loaded from a file by path
    lives in a module with a made-up name, so it is named by its file (relative to the working
    directory when inside it). ``functools.partial`` objects are named by the function they wrap.
    """
    function = builder
    while isinstance(function, functools.partial):
        function = function.func
    name = getattr(function, "__qualname__", None) or type(function).__qualname__
    module = getattr(function, "__module__", None) or ""
    code = getattr(function, "__code__", None)
    if code is not None and (module.startswith(FILE_MODULE_PREFIX) or module == "__main__"):
        return f"{_display_path(code.co_filename)}:{name}"
    return f"{module}:{name}" if module else name


def _display_path(filename: str) -> str:
    """``filename`` relative to the working directory if it is inside it, else as it is."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive (Windows)
        return filename
    return filename if relative.startswith(os.pardir) else relative


def _where(error: BaseException, builder: Callable[..., Any]) -> str:
    """Return ``" (file.py, line n)"``: the builder file's innermost line in ``error``'s traceback.

    Empty when the builder's file is not in the traceback (a callable object, a C function).
    """
    function = builder
    while isinstance(function, functools.partial):
        function = function.func
    code = getattr(function, "__code__", None)
    if code is None:
        return ""
    lines = [
        frame.lineno
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename == code.co_filename
    ]
    return f" ({_display_path(code.co_filename)}, line {lines[-1]})" if lines else ""


def build_model(
    builder: Callable[..., Any], name: str, required: tuple[str, ...], *args: Any, **kwargs: Any
) -> Any:
    """Call a user's builder and check that it returns a PyMC model defining ``required``.

    Whatever goes wrong inside the builder is the user's to fix, so it becomes one
    :class:`BuilderError` that names the builder: an exception (its type, message and the
    builder's line), ``sys.exit`` (which would otherwise end a whole run without a word) or a
    return value that is not a ``pymc.Model``. ``KeyboardInterrupt`` is let through.

    Raises
    ------
    BuilderError
        If the builder raises, exits, or returns something other than a ``pymc.Model`` that
        defines every name in ``required``.
    """
    import pymc as pm

    label = f"{name} {builder_reference(builder)!r}"
    try:
        model = builder(*args, **kwargs)
    except KeyboardInterrupt:
        raise
    except SystemExit as stop:
        call = "sys.exit()" if stop.code is None else f"sys.exit({stop.code!r})"
        raise BuilderError(
            f"{label} called {call}{_where(stop, builder)}; builders must return a pymc.Model"
        ) from stop
    except BaseException as error:
        lines = str(error).strip().splitlines()
        message = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
        raise BuilderError(
            f"{label} raised {message}{_where(error, builder)}; fix the builder (it is first "
            "called with zero rows of data; see gambitts.agents.custom for the contract)"
        ) from error
    if not isinstance(model, pm.Model):
        kind = type(model)
        qualified = kind.__qualname__
        if kind.__module__ != "builtins":
            qualified = f"{kind.__module__}.{qualified}"
        returned = (
            "None (a missing `return model`?)"
            if model is None
            else f"an object of type {qualified}"
        )
        raise BuilderError(
            f"{label} returned {returned}; builders must return a pymc.Model "
            "(see gambitts.agents.custom for the contract)"
        )
    for variable in required:
        if variable not in model.named_vars:
            raise BuilderError(
                f"the model from {label} must define `{variable}` (it has "
                f"{sorted(model.named_vars)}); see gambitts.agents.custom for the contract"
            )
    return model


def grow(*buffers: np.ndarray) -> list[np.ndarray]:
    """Double the round axis (axis 1) of per-replicate observation buffers."""
    return [np.concatenate([b, np.zeros_like(b)], axis=1) for b in buffers]


def draw_index(normals: np.ndarray, n: int) -> np.ndarray:
    """Map standard normals to uniformly chosen indices ``0 .. n - 1`` (through the normal CDF)."""
    return np.minimum((ndtr(normals) * n).astype(np.int64), n - 1)


class CustomStage2Agent(TwoStageAgent):
    """What the custom GAMBITTS agents share: a user's PyMC stage 2, refitted every few rounds.

    Subclasses say how ``Z`` enters the score (:class:`CustomPoGAMBITTS`: generator draws;
    :class:`~gambitts.agents.custom_fo.CustomFoGAMBITTS`: stage-1 posterior draws). See
    :class:`CustomPoGAMBITTS` for the parameters.
    """

    def __init__(
        self,
        n_arms: int,
        n_dims: int,
        n_cells: int,
        *,
        builder: Builder,
        context_features: np.ndarray | None = None,
        prompt_indicators: bool = False,
        method: Method = "nuts",
        refit_every: int = 10,
        draws: int = 500,
        tune: int = 500,
        warm_tune: int | None = None,
        chains: int = 2,
        n_mc_draws: int | None = 32,
        expected_reward: str = "expected_reward",
        advi_iterations: int = 10_000,
        seed: int = 0,
        warn_unhealthy: bool = True,
        sampler_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            n_arms,
            n_dims,
            n_cells,
            context_features=context_features,
            prompt_indicators=prompt_indicators,
        )
        check_builder(builder, "builder", "builder(features, rewards) -> pymc.Model")
        if method not in METHODS:
            raise ValueError(f"`method` must be one of {list(METHODS)}, got {method!r}")
        if method == "nuts" and not nutpie_available():
            raise ValueError(
                "`method='nuts'` needs nutpie (`pip install nutpie`); "
                "or use method='nuts-pymc' for PyMC's own NUTS"
            )
        warm_tune = tune if warm_tune is None else warm_tune
        for label, value, low in (
            ("refit_every", refit_every, 1),
            ("draws", draws, 1),
            ("tune", tune, 0),
            ("warm_tune", warm_tune, 0),
            ("chains", chains, 1),
            ("n_mc_draws", 1 if n_mc_draws is None else n_mc_draws, 1),
            ("advi_iterations", advi_iterations, 1),
        ):
            if not (isinstance(value, int | np.integer) and value >= low):
                raise ValueError(f"`{label}` must be an integer >= {low}, got {value!r}")
        self.builder = builder
        self.method = method
        self.refit_every = int(refit_every)
        self.draws = int(draws)
        self.tune = int(tune)
        self.warm_tune = int(warm_tune)
        self.chains = int(chains)
        self.n_mc_draws = None if n_mc_draws is None else int(n_mc_draws)
        self.expected_reward = expected_reward
        self.advi_iterations = int(advi_iterations)
        self.seed = int(seed)
        self.warn_unhealthy = warn_unhealthy
        self.sampler_kwargs = dict(sampler_kwargs or {})

    def posterior_draws(
        self, replicate: int, n_draws: int, rng: np.random.Generator
    ) -> PosteriorDraws:
        """Return the latest fit's draws of the model's free variables, as they are.

        Variables keep the model's dims, its ``features`` column dim renamed ``feature``;
        ``n_draws`` and ``rng`` are not used. Before the first refit these are prior draws.
        """
        model = self.model_
        feature_dim = _feature_dim(model)
        variables = {name: np.asarray(values) for name, values in self.draws_[replicate].items()}
        dims: dict[str, list[str]] = {}
        coords: dict[str, list] = {}
        for name in variables:
            model_dims = [dim for dim in model.named_vars_to_dims.get(name, ()) if dim is not None]
            dims[name] = ["feature" if dim == feature_dim else dim for dim in model_dims]
            for dim in model_dims:
                if dim != feature_dim and model.coords.get(dim) is not None:
                    coords[dim] = list(model.coords[dim])
        return PosteriorDraws(variables, dims, coords)

    @property
    def n_posterior_draws(self) -> int:
        """Posterior draws kept per fit: ``chains * draws``."""
        return self.chains * self.draws

    @property
    def fit_settings(self) -> FitSettings:
        """The sampler settings every refit uses."""
        return FitSettings(
            draws=self.draws,
            tune=self.tune,
            warm_tune=self.warm_tune,
            chains=self.chains,
            advi_iterations=self.advi_iterations,
            sampler_kwargs=self.sampler_kwargs,
        )

    # ------------------------------------------------------------------ stage-2 state
    @property
    def model_(self) -> Any:
        """The stage-2 model (its data replaced at each refit)."""
        return self._stage2.model

    @property
    def draws_(self) -> list[dict[str, np.ndarray]]:
        """Per replicate, the latest stage-2 fit's draws ``name -> (chain, draw, ...)``."""
        return self._stage2.draws_

    @property
    def last_idata_(self) -> list[Any]:
        """Per replicate, the latest stage-2 MCMC fit's InferenceData (``None`` otherwise)."""
        return self._stage2.last_idata_

    @property
    def fit_times_(self) -> list[float]:
        """Wall time of every stage-2 fit of every replicate, seconds."""
        return self._stage2.fit_times_

    @property
    def free_variables(self) -> list[str]:
        """Names of the stage-2 model's free random variables (what the agent keeps per draw)."""
        self._require_reset("free_variables")
        return list(self._stage2.free)

    @property
    def diagnostics_(self) -> xr.Dataset:
        """Diagnostics of every refit: dims ``(refit, replicate, variable)``.

        See :func:`gambitts.models.diagnostics.stack_diagnostics`; coordinate ``refit_round``
        is the number of observations each refit saw.
        """
        self._require_reset("diagnostics_")
        return self._stage2.diagnostics_

    def _reset_custom_stage2(self, n_replicates: int) -> None:
        """Build (once) and reset stage 2, and clear the stored observations."""
        self._build_stage2()
        prior_seed = np.random.SeedSequence(self.seed, spawn_key=(2**31,)).generate_state(1)[0]
        self._stage2.reset(n_replicates, int(prior_seed), self.fit_settings)
        self._seed_keys: np.ndarray | None = None
        self._select_pending = False
        self.n_observed_ = 0
        self._features = np.zeros((n_replicates, 64, self.n_features))
        self._rewards = np.zeros((n_replicates, 64))
        self._warned = False

    def _store(self, cells: np.ndarray, actions: np.ndarray, z: np.ndarray, rewards) -> None:
        """Add one checked observation per replicate; it uses up the pending ``select``."""
        self._select_pending = False
        if self.n_observed_ == self._rewards.shape[1]:
            self._features, self._rewards = grow(self._features, self._rewards)
        self._features[:, self.n_observed_] = self.features(cells, actions, z)
        self._rewards[:, self.n_observed_] = rewards
        self.n_observed_ += 1

    def _refit_stage2(self) -> list[xr.Dataset]:
        n = self.n_observed_
        refit = self._stage2.n_refits
        seeds = [self._sampler_seed(r, refit) for r in range(self._n_replicates)]
        return self._stage2.refit(
            lambda r: {"features": self._features[r, :n], "rewards": self._rewards[r, :n]},
            seeds,
            n,
        )

    def _warn_if_unhealthy(self, *rows: list[xr.Dataset]) -> None:
        """Warn (once per reset) if a fit of the latest refit, one row per stage, is unhealthy."""
        if not self.warn_unhealthy or self._warned:
            return
        refit = self._stage2.n_refits - 1
        for row in rows:
            latest = stack_diagnostics([row], refit_rounds=[self.n_observed_])
            problem = unhealthy(latest.assign_coords(refit=[refit]))
            if problem is not None:
                break
        if problem is not None:
            self._warned = True
            warnings.warn(
                f"{self.name}: unhealthy {self.method} fit after {self.n_observed_} observations: "
                f"{problem}. Thompson draws may not follow the posterior; raise `draws`/`tune`, "
                "reparametrise the model, or inspect `diagnostics_` (warned once per reset)",
                UnhealthyFitWarning,
                stacklevel=4,
            )

    def _compile_scoring(self, model: Any) -> None:
        """Compile what scoring prompts needs from the stage-2 model."""
        raise NotImplementedError

    def _draw_round(self, cells: np.ndarray, rng: BatchRandom) -> Any:
        """Draw everything ``select(cells, rng)`` draws, in its order; return what it scores with.

        The only place a subclass takes ``select``'s random numbers, so that
        :meth:`_prepare_update` replays exactly what ``select`` consumed; it keeps the refits'
        seed keys with :meth:`_keep_seed_keys`.
        """
        raise NotImplementedError

    def _keep_seed_keys(self, normals: np.ndarray) -> None:
        """Key the next refits with the 64 bits of each replicate's normal; mark a select pending.

        The keys stay until the next draw; the pending mark until the next :meth:`update`.
        """
        self._seed_keys = np.ascontiguousarray(normals).view(np.uint64).copy()
        self._select_pending = True

    def _prepare_update(self, cells: np.ndarray, rng: BatchRandom | None) -> None:
        """Draw what ``select`` would for a round of ``update_sequence``, unless one is pending.

        Without ``rng`` nothing is drawn: refits keep the keys of the latest ``select``, or use
        ``seed`` if there was none (a log replayed without its stream).
        """
        if rng is not None and not self._select_pending:
            self._draw_round(cells, rng)

    def _sampler_seed(self, replicate: int, refit: int, stream: int = 0) -> int:
        """Seed of one replicate's refit of one stage: from its latest ``select``, else ``seed``."""
        if self._seed_keys is not None:
            entropy = [int(self._seed_keys[replicate]), refit, stream]
            sequence = np.random.SeedSequence(entropy)
        else:
            key = (replicate, refit) if stream == 0 else (replicate, refit, stream)
            sequence = np.random.SeedSequence(self.seed, spawn_key=key)
        return int(sequence.generate_state(1, np.uint64)[0] >> np.uint64(1))  # 63 bits

    def _build_stage2(self) -> None:
        key = (self.builder, self.method, self.n_features, self.expected_reward)
        if getattr(self, "_stage2_key", None) == key:
            return  # same model: keep the compiled one (a reset never recompiles)
        model = build_model(
            self.builder,
            "builder",
            ("features", "rewards", self.expected_reward),
            np.zeros((0, self.n_features)),
            np.zeros(0),
        )
        self._compile_scoring(model)
        self._stage2 = ModelRefitter(model, self.method, self.fit_settings)
        self.n_compilations_ = getattr(self, "n_compilations_", 0) + 1
        self._stage2_key = key


class CustomPoGAMBITTS(CustomStage2Agent):
    """poGAMBITTS with a user-supplied PyMC stage-2 model (see the module notes for the contract).

    Parameters
    ----------
    n_arms : int
        Number of prompts.
    n_dims : int
        Number of modelled dimensions of ``Z``.
    n_cells : int
        Number of context cells.
    builder : callable
        ``builder(features, rewards) -> pymc.Model`` following the contract above.
    context_features : ndarray of shape (n_cells, n_context_features), optional
        Stage-2 context features per cell (``None`` leaves context out).
    prompt_indicators : bool, default False
        Add ``n_arms - 1`` prompt indicators to the features.
    method : {"nuts", "nuts-pymc", "laplace", "advi"}, default "nuts"
        How to refit (see the module notes). ``"nuts"`` needs nutpie.
    refit_every : int, default 10
        Refit after every ``refit_every`` updates.
    draws : int, default 500
        Posterior draws per chain (``chains * draws`` draws in total for every method).
    tune : int, default 500
        Tuning steps per chain of the first NUTS fit.
    warm_tune : int, optional
        Tuning steps per chain of later (warm-started) NUTS fits; default ``tune``. Measured
        on the linear model (2 replicates, 40 observations): 200 instead of 500 left one
        coefficient's posterior sd 10% too wide (4 Monte Carlo errors), so shorten with care.
    chains : int, default 2
        NUTS chains (run one after the other).
    n_mc_draws : int or None, default 32
        Generator draws per (cell, arm) averaged over in the expected reward; ``None`` scores
        at the generator means (exact for models linear in ``Z``, and much cheaper).
    expected_reward : str, default "expected_reward"
        Name of the model variable holding the expected reward of each ``features`` row.
    advi_iterations : int, default 10000
        ADVI optimisation steps per refit.
    seed : int, default 0
        Root of the prior draws' seed and of the sampler seeds of refits before any ``select``.
    warn_unhealthy : bool, default True
        Warn (once per reset) with :class:`UnhealthyFitWarning` when a refit looks unhealthy.
    sampler_kwargs : mapping, optional
        Extra keyword arguments for :func:`nutpie.sample` or :func:`pymc.sample`.

    Attributes
    ----------
    model_ : pymc.Model
        The built model (data replaced at each refit).
    draws_ : list of dict
        Per replicate, the latest fit's draws ``name -> (chain, draw, ...)`` of the free variables
        (prior draws with one chain before the first refit).
    arm_reward_ : ndarray of float32, shape (n_replicates, n_posterior_draws, n_cells, n_arms)
        Expected reward of each (cell, arm) under each draw of the latest fit.
    n_compilations_ : int
        How many times the model was built and compiled: once per agent (refits and later
        resets reuse it).
    fit_times_ : list of float
        Wall time of every fit of every replicate, seconds.
    """

    name = "custom-poGAMBITTS"
    uses_generator = True

    @property
    def uses_generator_draws(self) -> bool:
        """Whether :meth:`reset` reads ``generator_draws`` (unless ``n_mc_draws`` is None)."""
        return self.n_mc_draws is not None

    # ------------------------------------------------------------------ Agent interface
    def reset(
        self,
        n_replicates: int,
        generator_means: np.ndarray | None = None,
        generator_draws: np.ndarray | None = None,
    ) -> Self:
        """Build and compile the model, draw the prior, and take stage 1 from the generator.

        Parameters
        ----------
        n_replicates : int
        generator_means : ndarray, shape (n_replicates, n_cells, n_arms, n_dims), optional
            Mean generator draw per (cell, prompt); used when ``generator_draws`` is not given.
        generator_draws : ndarray, shape (n_replicates, n_cells, n_arms, n_draws, n_dims), optional
            Generator draws per (cell, prompt); the first ``n_mc_draws`` are averaged over.
            Shapes without the replicate axis are shared by all replicates.
        """
        if hasattr(self, "_n_replicates"):
            del self._n_replicates  # a failed reset leaves the agent un-reset
        n_replicates = int(n_replicates)
        self.treatment_draws_ = self._check_generator(
            n_replicates, generator_means, generator_draws
        )
        self._reset_custom_stage2(n_replicates)
        self.arm_reward_ = np.empty(
            (n_replicates, self.n_posterior_draws, self.n_cells, self.n_arms), dtype=np.float32
        )
        for replicate in range(n_replicates):
            self.arm_reward_[replicate] = self._arm_reward(replicate)
        self._n_replicates = n_replicates
        return self

    def posterior_draws(
        self, replicate: int, n_draws: int, rng: np.random.Generator
    ) -> PosteriorDraws:
        """Return the fit's draws (see :class:`CustomStage2Agent`) and ``arm_reward``.

        ``arm_reward`` (``cell``, ``arm``) is the expected reward the agent scores prompts by.
        """
        draws = super().posterior_draws(replicate, n_draws, rng)
        chains, n_fit_draws = next(iter(draws.variables.values())).shape[:2]
        draws.variables["arm_reward"] = (
            self.arm_reward_[replicate]
            .astype(float)
            .reshape(chains, n_fit_draws, self.n_cells, self.n_arms)
        )
        draws.dims["arm_reward"] = ["cell", "arm"]
        return draws

    def select(self, cells: np.ndarray, rng: BatchRandom | np.random.Generator) -> np.ndarray:
        """Pick one draw of the latest fit per replicate and play its best arm in the cell."""
        cells = self._check_cells(cells, "select")
        index = self._draw_round(cells, as_replicate_random(rng, self._n_replicates))
        scores = self.arm_reward_[np.arange(self._n_replicates), index, cells]
        return np.argmax(scores, axis=1)

    def _draw_round(self, cells: np.ndarray, rng: BatchRandom) -> np.ndarray:
        """Draw two standard normals per replicate; return the index of its posterior draw.

        The first normal picks the draw, the second keys the next refits (see the module notes).
        """
        normals = rng.standard_normal(2)
        self._keep_seed_keys(normals[:, 1])
        return draw_index(normals[:, 0], self.n_posterior_draws)

    def update(
        self, cells: np.ndarray, actions: np.ndarray, z: np.ndarray, rewards: np.ndarray
    ) -> Self:
        """Store each replicate's (features, reward); refit every ``refit_every`` updates."""
        cells, actions, rewards = self._check_observation(cells, actions, rewards)
        self._store(cells, actions, self._check_z(z), rewards)
        if self.n_observed_ % self.refit_every == 0:
            self.refit()
        return self

    def refit(self) -> Self:
        """Refit every replicate's model on all its observations now (``update`` calls this)."""
        self._require_reset("refit")
        row = self._refit_stage2()
        for replicate in range(self._n_replicates):
            self.arm_reward_[replicate] = self._arm_reward(replicate)
        self._warn_if_unhealthy(row)
        return self

    # ------------------------------------------------------------------ scoring
    def _compile_scoring(self, model: Any) -> None:
        self._evaluate = expected_reward_function(model, self.expected_reward)

    def _candidate_rows(self, replicate: int) -> np.ndarray:
        """Feature rows of every (cell, arm, generator draw) of one replicate."""
        z = self.treatment_draws_[replicate]  # (cell, arm, m, dim)
        cells, arms, _ = np.indices(z.shape[:3]).reshape(3, -1)
        return self.features(cells, arms, z.reshape(-1, self.n_dims))

    def _arm_reward(self, replicate: int) -> np.ndarray:
        """Return the expected reward ``(n_posterior_draws, n_cells, n_arms)`` under each draw."""
        rows = self._candidate_rows(replicate)
        flat = self._stage2.flat_draws(replicate)
        n = self.n_posterior_draws
        out = np.empty((n, self.n_cells, self.n_arms), dtype=np.float32)
        m = self.treatment_draws_.shape[3]
        chunk = max(1, 2_000_000 // max(len(rows), 1))
        for start in range(0, n, chunk):
            values = self._evaluate(
                {name: v[start : start + chunk] for name, v in flat.items()}, rows
            )
            out[start : start + chunk] = values.reshape(-1, self.n_cells, self.n_arms, m).mean(-1)
        if not all_finite(out):
            raise FloatingPointError(
                f"`{self.expected_reward}` is not finite for some posterior draws of replicate "
                f"{replicate}; check the model"
            )
        return out

    def _check_generator(
        self,
        n_replicates: int,
        generator_means: np.ndarray | None,
        generator_draws: np.ndarray | None,
    ) -> np.ndarray:
        cells, arms, dims = self.n_cells, self.n_arms, self.n_dims
        if generator_draws is not None and self.n_mc_draws is not None:
            draws = np.asarray(generator_draws, dtype=float)
            if draws.ndim == 4:
                draws = np.broadcast_to(draws, (n_replicates, *draws.shape))
            if (
                draws.ndim != 5
                or draws.shape[:3] != (n_replicates, cells, arms)
                or (draws.shape[4] != dims)
            ):
                raise ValueError(
                    f"`generator_draws` must have shape ({n_replicates}, {cells}, {arms}, "
                    f"n_draws, {dims}) = (replicate, cell, arm, draw, dim), got {draws.shape}"
                )
            return np.ascontiguousarray(draws[:, :, :, : self.n_mc_draws])
        if generator_means is None and self.n_mc_draws is not None:
            raise ValueError(
                f"{self.name} needs `generator_draws` of shape (n_replicates, {cells}, "
                f"{arms}, n_draws, {dims}) or `generator_means` of shape (n_replicates, {cells}, "
                f"{arms}, {dims})"
            )
        means = self._check_generator_means(n_replicates, generator_means)
        return np.ascontiguousarray(means[:, :, :, None, :])


def expected_reward_function(
    model: Any, name: str, *, paired: bool = False
) -> Callable[[dict[str, np.ndarray], np.ndarray], np.ndarray]:
    """Compile ``expected_reward`` as a function of a batch of parameter draws and new rows.

    Returns ``f(draws, rows)``, vectorised over draws with
    :func:`pytensor.graph.replace.vectorize_graph` and compiled once: with ``rows`` of shape
    ``(n_rows, n_features)`` shared by all draws it gives ``(n_draws, n_rows)``; with
    ``paired=True`` each draw has its own rows ``(n_draws, n_rows, n_features)``.
    """
    import pytensor.tensor as pt

    features = model["features"]
    rows = (pt.tensor3 if paired else pt.matrix)("candidate_features", dtype=features.dtype)
    function = compile_draw_function(
        model, name, replace={features: rows}, allowed=("features",), extra_inputs=[rows]
    )

    def evaluate(draws: dict[str, np.ndarray], new_rows: np.ndarray) -> np.ndarray:
        values = function(draws, new_rows)
        n_draws = next(iter(draws.values())).shape[0]
        shape = (n_draws, *new_rows.shape[int(paired) : -1])
        try:
            return np.broadcast_to(values, shape)
        except ValueError:
            raise BuilderError(
                f"the model's `{name}` has shape {np.shape(values)[1:]} per draw, but it must "
                f"have one value per row of `features` ({shape[-1]} rows here); build it from "
                "pm.Data('features', ...)"
            ) from None

    return evaluate


def compile_draw_function(
    model: Any,
    name: str,
    *,
    replace: dict | None = None,
    allowed: tuple[str, ...] = (),
    extra_inputs: list | None = None,
) -> Callable[..., np.ndarray]:
    """Compile model variable ``name`` as a function of a batch of free-variable draws.

    Returns ``f(draws, *extra) -> (n_draws, ...)``, where ``draws`` maps each free variable's
    name to its values ``(n_draws, *shape)``; ``replace`` swaps graph inputs (e.g. a data
    container) for the ``extra_inputs``. The variable may depend only on the free variables and
    the data named in ``allowed``: not on other data and not on random draws.

    Raises
    ------
    BuilderError
        If the variable depends on anything else (the builder broke its contract); the message
        names it.
    """
    import pytensor
    from pytensor.graph.replace import vectorize_graph
    from pytensor.graph.traversal import ancestors
    from pytensor.tensor.random.op import RandomVariable

    batched = {rv: rv.type.clone(shape=(None, *rv.type.shape))(rv.name) for rv in model.free_RVs}
    graph = vectorize_graph(model[name], replace={**batched, **(replace or {})})
    data = {v for v in model.data_vars if v.name not in allowed}
    leftovers = [
        str(v)
        for v in ancestors([graph])
        if v in data or (v.owner is not None and isinstance(v.owner.op, RandomVariable))
    ]
    if leftovers:
        raise BuilderError(
            f"`{name}` must depend only on the free random variables "
            f"{[rv.name for rv in model.free_RVs]}"
            + (f" and {list(allowed)}" if allowed else "")
            + f"; it also depends on {sorted(set(leftovers))}"
        )
    names = [rv.name for rv in batched]
    function = pytensor.function(
        [*batched.values(), *(extra_inputs or [])], graph, on_unused_input="ignore"
    )

    def evaluate(draws: dict[str, np.ndarray], *extra: np.ndarray) -> np.ndarray:
        return function(*(draws[n] for n in names), *extra)

    return evaluate


def _feature_dim(model: Any) -> str | None:
    """Name of the column dim of the model's ``features`` data (renamed ``feature``)."""
    dims = model.named_vars_to_dims.get("features", ())
    return dims[1] if len(dims) == 2 else None


@dataclass(frozen=True)
class CustomStage2Spec(TwoStageSpec):
    """What the custom agents' specs share: the user's stage-2 builder and how to refit it.

    Attributes
    ----------
    builder : str
        The stage-2 PyMC builder (required), ``"package.module:function"`` or
        ``"path/to/file.py:function"``; ``gambitts.models.pymc_models:build_outcome_model`` is
        the built-in linear stage 2.
    method : {"nuts", "nuts-pymc", "laplace", "advi"}
        How to refit (``nuts`` needs nutpie).
    refit_every : int
        Refit after every ``refit_every`` rounds.
    draws, tune, chains : int
        Posterior draws per chain, tuning steps per chain, chains.
    """

    refits: ClassVar[bool] = True

    builder: str = ""
    method: Literal["nuts", "nuts-pymc", "laplace", "advi"] = "nuts"
    refit_every: int = 10
    draws: int = 500
    tune: int = 500
    chains: int = 2

    def check(self) -> None:
        """Require a well-formed builder reference and sampler settings in range."""
        super().check()
        if not self.builder:
            raise ExperimentError(
                f"{self.where}: `builder` must name a PyMC builder, e.g. "
                "'gambitts.models.pymc_models:build_outcome_model' or 'my_models.py:build'"
            )
        for name in self._builder_fields():
            check_reference(getattr(self, name), f"{self.where}: `{name}`")
        for name, low in {"refit_every": 1, "draws": 1, "chains": 1, "tune": 0}.items():
            if getattr(self, name) < low:
                raise ExperimentError(
                    f"{self.where}: `{name}` must be a whole number >= {low}, got "
                    f"{getattr(self, name)!r}"
                )

    def _builder_fields(self) -> list[str]:
        """Names of the fields holding builder references that are set."""
        return ["builder"]

    def sources(self) -> list[str]:
        """Return the builders' references: their sources decide the results."""
        return [getattr(self, name) for name in self._builder_fields()]

    def load_builders(self) -> dict[str, Any]:
        """Import the builders, checking first that ``method: nuts`` can run.

        Raises
        ------
        gambitts.user_code.UserCodeError
            If a builder cannot be imported; the message says why.
        ExperimentError
            If ``method`` is ``"nuts"`` and nutpie is not installed.
        """
        if self.method == "nuts" and not nutpie_available():
            raise ExperimentError(
                f"{self.where}: `method: nuts` needs nutpie (`pip install 'gambitts[nutpie]'`), "
                "or use `method: nuts-pymc`"
            )
        return {
            name: import_function(getattr(self, name), f"{self.where}: `{name}`")
            for name in self._builder_fields()
        }

    def refit_options(self, builders: Mapping[str, Any]) -> dict[str, Any]:
        """Return the agent constructor's refit options, with the imported ``builders``."""
        return {
            "builder": builders["builder"],
            "method": self.method,
            "refit_every": self.refit_every,
            "draws": self.draws,
            "tune": self.tune,
            "chains": self.chains,
            "warn_unhealthy": False,  # the command line reads the stored diagnostics, warns once
        }


@dataclass(frozen=True)
class CustomPoGAMBITTSSpec(CustomStage2Spec):
    """custom-poGAMBITTS in an experiment.

    Attributes
    ----------
    draws_per_cell : int or None
        Generator draws per (cell, prompt) the agent is given; ``None`` means all.
    mc_draws : int or None
        Generator draws per (cell, prompt) averaged over when scoring prompts; ``None`` scores
        at the mean of the generator draws, exact (and much cheaper) for models linear in ``Z``.
    """

    kind: ClassVar[str] = "custom-poGAMBITTS"

    draws_per_cell: int | None = None
    mc_draws: int | None = 32

    def check(self) -> None:
        """See :class:`CustomStage2Spec`; draw counts must be positive."""
        super().check()
        check_draws_per_cell(self)
        if self.mc_draws is not None and self.mc_draws < 1:
            raise ExperimentError(
                f"{self.where}: `mc_draws` must be a whole number >= 1 or null, got "
                f"{self.mc_draws!r}"
            )

    def make_agent(
        self, n_arms: int, contexts: ContextSpace, noise_sd: float | None = None
    ) -> CustomPoGAMBITTS:
        """Create the agent; see :meth:`AgentSpec.make_agent`."""
        return CustomPoGAMBITTS(
            n_arms,
            len(self.dims),
            contexts.n_cells,
            n_mc_draws=self.mc_draws,
            **self.refit_options(self.load_builders()),
            **self.stage2_options(contexts),
        )
