"""ens-poGAMBITTS: stage 1 from generator draws, stage 2 an ensemble of small neural networks.

Each replicate keeps ``M`` one-hidden-layer ReLU networks (members) that map the stage-2
features

``[Z (modelled dims), context features (optional), prompt indicators (optional)]``

to the reward. Every observation enters a per-replicate replay buffer together with one
standard normal perturbation per member, fixed for the observation's life; a member trains on
``reward + noise_scale * perturbation`` (its own perturbed copy of the data), so members
disagree where the data are thin, and that disagreement is the exploration (randomised least
squares / perturbed-reward ensembles). Each round every replicate picks one member at random and
plays the arm whose Monte Carlo mean prediction over generator draws of the arm's cell (the
arm's stage-1 distribution) is highest; the first ``warmup_rounds`` rounds play uniformly.

All members of all replicates train together in one compiled kernel per Adam step
(float32, parallel over replicates), with persistent Adam moments; nothing loops over members
or replicates in Python.

Inputs are standardised (``Z`` by the mean and sd of the replicate's generator draws, context
features over cells), and rewards by their running mean and sd until warm-up ends, when that
normalisation is frozen.

Randomness
----------
The :class:`~gambitts.agents.base.Agent` interface hands randomness to :meth:`select` only,
so :meth:`EnsPoGAMBITTS.select` draws everything the round needs: ``n_members + 2`` standard
normals per replicate, namely one that picks the member (or, in warm-up, the arm), one whose
64 bits key a counter-based generator (splitmix64) for the round's minibatch indices (and, in
the first round, the initial weights), and ``n_members`` perturbations for the observation that
the next :meth:`EnsPoGAMBITTS.update` adds. ``update`` therefore needs a ``select`` before it
(``update_needs_select``). To replay recorded rounds, pass the stream ``select`` would have had
to :meth:`~gambitts.agents.base.Agent.update_sequence`: each round without a pending ``select``
draws the same numbers from it, so the replay ends in the state of the live
``select``/``update`` run.
Every replicate consumes the same amount from its own stream, and every kernel treats each
replicate on its own, so a replicate's trajectory does not depend on how replicates are chunked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar, Literal, Self

import numba
import numpy as np
from scipy.special import ndtr

from gambitts.agents.base import EmbeddingAgent, all_finite
from gambitts.agents.two_stage import TwoStageSpec, check_draws_per_cell
from gambitts.errors import ExperimentError
from gambitts.models.posterior_draws import PosteriorDraws
from gambitts.models.random_streams import BatchRandom, as_replicate_random

if TYPE_CHECKING:
    from gambitts.design.contexts import ContextSpace

_INIT_DOMAIN = np.uint64(0xD1B54A32D192ED03)  # separates the initial weights' hash stream
_PARALLEL_MIN_REPLICATES = 32
_TINY = 1e-30  # Adam moments below this are set to zero (float32 subnormals start at 1.2e-38)


@dataclass(frozen=True)
class EnsembleConfig:
    """Hyper-parameters of ens-poGAMBITTS.

    The defaults are the tuned preset; :meth:`paper` gives the paper's setting. Tuned on the
    stand-in database at sd_0 (linear_3d and nonlinear_3d, K=5, T=1000, 40 replicates): the
    learning rate mattered most. With persistent Adam at a constant rate the weights keep
    jittering by about the rate per step, which adds exploration that never decays; mean
    cumulative regret fell from 36 / 42 (linear / nonlinear) at 0.01 to 25 / 30 at 0.002, and
    rose to 45 / 53 at 0.03. 0.001 learnt the nonlinear world too slowly (34). Two Adam steps per
    round beat one and four at these rates, 16 members of 32 units matched 32 members or 64
    units, and 10 warm-up rounds beat 20 (21 / 25).

    Attributes
    ----------
    n_members : int, default 16
        Ensemble members per replicate.
    n_hidden : int, default 32
        ReLU units of each member's hidden layer.
    buffer_size : int, default 1024
        Replay buffer length per replicate (the oldest observation is overwritten when full).
    batch_size : int, default 64
        Observations per member per Adam step, drawn uniformly with replacement.
    steps_per_round : int, default 2
        Adam steps per :meth:`EnsPoGAMBITTS.update`.
    learning_rate : float, default 0.002
    adam_betas : tuple of float, default (0.9, 0.999)
    adam_epsilon : float, default 1e-8
    warmup_rounds : int, default 10
        Rounds of uniform play before the ensemble chooses.
    n_mc_draws : int, default 64
        Generator draws per arm in the Monte Carlo mean; a window of the draws the agent was
        given, moved along every round (all draws if fewer).
    perturbation_sd : float or None, default None
        Sd of the reward perturbations in reward units. ``None`` estimates the noise sd per
        replicate from the members' residuals (see ``noise_smoothing``), starting from the
        reward sd; a number fixes it (the paper passed the world's true noise sd).
    noise_smoothing : float, default 0.05
        Weight of each round's mean squared residual in the running noise-variance estimate.
    reset_optimizer_every_round : bool, default False
        Re-create the Adam state at every update, as the paper's code did (every step then
        moves each weight by about ``learning_rate``).
    """

    n_members: int = 16
    n_hidden: int = 32
    buffer_size: int = 1024
    batch_size: int = 64
    steps_per_round: int = 2
    learning_rate: float = 0.002
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_epsilon: float = 1e-8
    warmup_rounds: int = 10
    n_mc_draws: int = 64
    perturbation_sd: float | None = None
    noise_smoothing: float = 0.05
    reset_optimizer_every_round: bool = False

    def __post_init__(self) -> None:
        for name in ("n_members", "n_hidden", "buffer_size", "batch_size", "n_mc_draws"):
            value = getattr(self, name)
            if not (isinstance(value, int | np.integer) and value >= 1):
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
        if not (isinstance(self.steps_per_round, int | np.integer) and self.steps_per_round >= 0):
            raise ValueError(
                f"`steps_per_round` must be a non-negative integer, got {self.steps_per_round!r}"
            )
        if not (isinstance(self.warmup_rounds, int | np.integer) and self.warmup_rounds >= 0):
            raise ValueError(
                f"`warmup_rounds` must be a non-negative integer, got {self.warmup_rounds!r}"
            )
        if not self.learning_rate > 0:
            raise ValueError(f"`learning_rate` must be positive, got {self.learning_rate}")
        if not all(0 <= beta < 1 for beta in self.adam_betas) or len(self.adam_betas) != 2:
            raise ValueError(f"`adam_betas` must be two numbers in [0, 1), got {self.adam_betas}")
        if self.perturbation_sd is not None and not self.perturbation_sd >= 0:
            raise ValueError(
                f"`perturbation_sd` must be non-negative or None, got {self.perturbation_sd}"
            )
        if not 0 < self.noise_smoothing <= 1:
            raise ValueError(f"`noise_smoothing` must lie in (0, 1], got {self.noise_smoothing}")

    @classmethod
    def paper(cls, noise_sd: float, *, reset_optimizer_every_round: bool = True) -> EnsembleConfig:
        """Return the paper's setting, perturbing rewards by the world's true ``noise_sd``.

        60 members of 64 ReLU units, buffer 1024, batch 100 with replacement, one Adam step per
        round at learning rate 0.1, 100 rounds of uniform play, 100 Monte Carlo draws. The
        paper's code re-created the optimizer every round (``reset_optimizer_every_round``).
        """
        return cls(
            n_members=60,
            n_hidden=64,
            buffer_size=1024,
            batch_size=100,
            steps_per_round=1,
            learning_rate=0.1,
            warmup_rounds=100,
            n_mc_draws=100,
            perturbation_sd=float(noise_sd),
            reset_optimizer_every_round=reset_optimizer_every_round,
        )

    def replace(self, **changes) -> EnsembleConfig:
        """Return a copy with ``changes`` applied (validated again)."""
        return replace(self, **changes)


class EnsPoGAMBITTS(EmbeddingAgent):
    """ens-poGAMBITTS: a perturbed-reward ensemble of MLPs over the stage-2 features.

    Parameters
    ----------
    n_arms : int
        Number of prompts.
    n_dims : int
        Number of modelled dimensions of ``Z``.
    n_cells : int
        Number of context cells.
    context_features : ndarray of shape (n_cells, n_context_features), optional
        Stage-2 features of each context cell; ``None`` leaves context out.
    prompt_indicators : bool, default False
        Add ``n_arms - 1`` prompt indicators to the features ("hedged").
    config : EnsembleConfig, optional
        Hyper-parameters; the tuned defaults if omitted.

    Attributes
    ----------
    params_ : ndarray of float32, shape (n_replicates, n_members, n_params)
        Every member's weights, flat: ``W1`` (n_features x n_hidden, row-major), ``b1``,
        ``w2``, ``b2``; initialised by the first :meth:`select`. The networks predict the
        normalised reward ``(Y - reward_mean_) / reward_sd_``.
    draws_ : ndarray of float32, shape (n_replicates, n_cells, n_arms, n_draws, n_dims)
        The generator draws, standardised by ``z_mean_`` and ``z_sd_`` (per replicate, dim).
    x_buffer_, y_buffer_ : ndarray
        Replay buffer of network inputs ``(n_replicates, buffer_size, n_features)`` and raw
        rewards ``(n_replicates, buffer_size)``; ``n_observed_`` rounds so far.
    perturbation_buffer_ : ndarray of float32, shape (n_replicates, n_members, buffer_size)
        Standard normal perturbation of each observation for each member.
    reward_mean_, reward_sd_ : ndarray, shape (n_replicates,)
        Reward normalisation: running moments during warm-up, frozen afterwards.
    noise_var_ : ndarray, shape (n_replicates,)
        Estimated noise variance in units of the normalised reward (used as the perturbation
        variance unless ``config.perturbation_sd`` is set).
    """

    name = "ens-poGAMBITTS"
    uses_generator_draws = True
    update_needs_select = True

    def __init__(
        self,
        n_arms: int,
        n_dims: int,
        n_cells: int,
        *,
        context_features: np.ndarray | None = None,
        prompt_indicators: bool = False,
        config: EnsembleConfig | None = None,
    ) -> None:
        super().__init__(
            n_arms,
            n_dims,
            n_cells,
            context_features=context_features,
            prompt_indicators=prompt_indicators,
        )
        self.config = config or EnsembleConfig()

    # ------------------------------------------------------------------ shapes and features
    @property
    def n_features(self) -> int:
        """Number of network inputs: modelled dims, context features, prompt indicators."""
        return self.n_inputs

    @property
    def n_params(self) -> int:
        """Number of weights of one member."""
        return parameter_count(self.n_features, self.config.n_hidden)

    def _context_table(self) -> np.ndarray:
        """Return the standardised context features of every cell (float32, at least 1 column)."""
        n_context = 0 if self.context_features is None else self.context_features.shape[1]
        table = np.zeros((self.n_cells, max(n_context, 1)), dtype=np.float32)
        if n_context:
            features = self.context_features
            sd = features.std(axis=0)
            table[:, :n_context] = (features - features.mean(axis=0)) / np.where(sd > 0, sd, 1)
        return table

    def _features(self, cells: np.ndarray, actions: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Network inputs of observed ``(cell, arm, Z)``, shape ``(n_replicates, n_features)``."""
        parts = [(z - self.z_mean_) / self.z_sd_]
        if self.context_features is not None:
            parts.append(self._context_[cells, : self.context_features.shape[1]])
        if self.prompt_indicators:
            parts.append(np.eye(self.n_arms, dtype=np.float32)[actions, 1:])
        return np.concatenate(parts, axis=1).astype(np.float32)

    # ------------------------------------------------------------------ Agent interface
    def reset(
        self,
        n_replicates: int,
        generator_means: np.ndarray | None = None,
        generator_draws: np.ndarray | None = None,
    ) -> Self:
        """Empty the buffers and take stage 1 from ``generator_draws``.

        Parameters
        ----------
        n_replicates : int
        generator_means : ignored
        generator_draws : ndarray, shape (n_replicates, n_cells, n_arms, n_draws, n_dims)
            Each replicate's sample of generator draws per (cell, prompt); a shape without the
            replicate axis is shared by all replicates.
        """
        draws = self._check_draws(n_replicates, generator_draws)
        config = self.config
        pooled = draws.reshape(n_replicates, -1, self.n_dims)
        self.z_mean_ = pooled.mean(axis=1, dtype=np.float64)
        sd = pooled.std(axis=1, dtype=np.float64)
        self.z_sd_ = np.where(sd > 0, sd, 1.0)
        self.draws_ = np.ascontiguousarray(
            (draws - self.z_mean_[:, None, None, None, :].astype(np.float32))
            / self.z_sd_[:, None, None, None, :].astype(np.float32),
            dtype=np.float32,
        )
        self._context_ = self._context_table()
        members, size = config.n_members, config.buffer_size
        self._n_replicates = n_replicates
        self.params_ = np.zeros((n_replicates, members, self.n_params), dtype=np.float32)
        self._adam_m = np.zeros_like(self.params_)
        self._adam_v = np.zeros_like(self.params_)
        self._adam_step = 0
        self._initialised = False
        self.x_buffer_ = np.zeros((n_replicates, size, self.n_features), dtype=np.float32)
        self.y_buffer_ = np.zeros((n_replicates, size))
        self.perturbation_buffer_ = np.zeros((n_replicates, members, size), dtype=np.float32)
        self.n_observed_ = 0
        self._reward_sum = np.zeros(n_replicates)
        self._reward_sum_sq = np.zeros(n_replicates)
        self.reward_mean_ = np.zeros(n_replicates)
        self.reward_sd_ = np.ones(n_replicates)
        self.noise_var_ = np.ones(n_replicates)
        self._pending: tuple[np.ndarray, np.ndarray] | None = None
        return self

    def select(self, cells: np.ndarray, rng: BatchRandom | np.random.Generator) -> np.ndarray:
        """Return each replicate's arm: uniform in warm-up, else one random member's best.

        Also draws the randomness the next :meth:`update` needs (see the module notes).
        """
        cells = self._check_cells(cells, "select")
        uniform = self._draw_round(as_replicate_random(rng, self._n_replicates))
        config = self.config
        if self.n_observed_ < config.warmup_rounds:
            return np.minimum((uniform * self.n_arms).astype(np.int64), self.n_arms - 1)
        members = np.minimum((uniform * config.n_members).astype(np.int64), config.n_members - 1)
        scores = self.arm_scores(cells, members)
        return np.argmax(scores, axis=1)

    def _draw_round(self, rng: BatchRandom) -> np.ndarray:
        """Draw the round's randomness (see the module notes); initialise the weights if needed.

        Keeps the minibatch keys and perturbations for the next :meth:`update` and returns the
        uniform that picks each replicate's member (or, in warm-up, its arm).
        """
        config = self.config
        normals = rng.standard_normal(config.n_members + 2)
        keys = np.ascontiguousarray(normals[:, 1]).view(np.uint64)
        if not self._initialised:
            self._kernel("init")(
                self.params_, keys ^ _INIT_DOMAIN, self.n_features, config.n_hidden
            )
            self._initialised = True
        self._pending = (keys, normals[:, 2:].astype(np.float32))
        return ndtr(normals[:, 0])

    def _prepare_update(self, cells: np.ndarray, rng: BatchRandom | None) -> None:
        """Draw what :meth:`select` would for a round of :meth:`update_sequence` without one."""
        if self._pending is None:
            self._draw_round(rng)

    def update(
        self, cells: np.ndarray, actions: np.ndarray, z: np.ndarray, rewards: np.ndarray
    ) -> Self:
        """Store the observation and train every member of every replicate.

        Raises
        ------
        RuntimeError
            If :meth:`select` was not called since the last update (it draws this round's
            perturbations and minibatch key); to replay recorded rounds without choosing, use
            :meth:`~gambitts.agents.base.Agent.update_sequence` with ``rng``.
        """
        cells, actions, rewards = self._check_observation(cells, actions, rewards)
        z = self._check_z(z)
        if self._pending is None:
            raise RuntimeError(
                "EnsPoGAMBITTS.update needs the randomness drawn by `select`: "
                "call `select(cells, rng)` before each `update`"
            )
        keys, perturbations = self._pending
        self._pending = None
        config = self.config
        slot = self.n_observed_ % config.buffer_size
        self.x_buffer_[:, slot] = self._features(cells, actions.astype(np.int64), z)
        self.y_buffer_[:, slot] = rewards
        self.perturbation_buffer_[:, :, slot] = perturbations
        self.n_observed_ += 1
        if self.n_observed_ <= max(config.warmup_rounds, 2):
            self._update_reward_scale(rewards)
        self._train(keys)
        return self

    # ------------------------------------------------------------------ learning
    def _update_reward_scale(self, rewards: np.ndarray) -> None:
        self._reward_sum += rewards
        self._reward_sum_sq += rewards**2
        n = self.n_observed_
        self.reward_mean_ = self._reward_sum / n
        if n >= 2:
            var = (self._reward_sum_sq - n * self.reward_mean_**2) / (n - 1)
            self.reward_sd_ = np.sqrt(np.maximum(var, 1e-12))

    def _perturbation_scale(self) -> np.ndarray:
        if self.config.perturbation_sd is not None:
            return self.config.perturbation_sd / self.reward_sd_
        return np.sqrt(self.noise_var_)

    def _train(self, keys: np.ndarray) -> None:
        config = self.config
        if config.reset_optimizer_every_round:
            self._adam_m[:] = 0.0
            self._adam_v[:] = 0.0
            self._adam_step = 0
        n_valid = min(self.n_observed_, config.buffer_size)
        residuals = np.zeros((self._n_replicates, config.n_members))
        round_residual = np.zeros(self._n_replicates)
        scale = self._perturbation_scale()
        for step in range(config.steps_per_round):
            self._adam_step += 1
            self._kernel("train")(
                self.params_,
                self._adam_m,
                self._adam_v,
                self.x_buffer_,
                self.y_buffer_,
                self.perturbation_buffer_,
                n_valid,
                self.reward_mean_,
                1.0 / self.reward_sd_,
                scale,
                keys,
                step,
                self._adam_step,
                config.learning_rate,
                config.adam_betas[0],
                config.adam_betas[1],
                config.adam_epsilon,
                self.n_features,
                config.n_hidden,
                config.batch_size,
                residuals,
            )
            round_residual += residuals.mean(axis=1)
        if config.steps_per_round:
            weight = config.noise_smoothing
            mean_square = round_residual / config.steps_per_round
            self.noise_var_ = (1 - weight) * self.noise_var_ + weight * mean_square

    # ------------------------------------------------------------------ predictions
    def arm_scores(self, cells: np.ndarray, members: np.ndarray) -> np.ndarray:
        """Monte Carlo mean prediction (normalised reward) of every arm in each replicate's cell.

        Parameters
        ----------
        cells, members : ndarray of int, shape (n_replicates,)
            Context cell and ensemble member of each replicate.

        Returns
        -------
        ndarray of float32, shape (n_replicates, n_arms)
        """
        n_draws = self.draws_.shape[3]
        n_mc = min(self.config.n_mc_draws, n_draws)
        offset = (self.n_observed_ * n_mc) % n_draws
        scores = np.empty((self._n_replicates, self.n_arms), dtype=np.float32)
        self._kernel("score")(
            self.params_,
            np.ascontiguousarray(members, dtype=np.int64),
            np.ascontiguousarray(cells, dtype=np.int64),
            self.draws_,
            self._context_,
            self._n_context(),
            self.prompt_indicators,
            offset,
            n_mc,
            self.config.n_hidden,
            scores,
        )
        return scores

    def posterior_draws(
        self, replicate: int, n_draws: int, rng: np.random.Generator
    ) -> PosteriorDraws:
        """Return each member's ``expected_reward`` (``cell``, ``arm``) as one draw.

        The ensemble is its posterior sample, so ``n_draws`` and ``rng`` are not used.
        """
        predictions = self.predict()[replicate].astype(float)  # (member, cell, arm)
        return PosteriorDraws(
            {"expected_reward": predictions[None]}, {"expected_reward": ["cell", "arm"]}
        )

    def predict(self) -> np.ndarray:
        """Every member's expected reward of every (cell, arm), over all its generator draws.

        Returns
        -------
        ndarray, shape (n_replicates, n_members, n_cells, n_arms)
            In reward units.
        """
        self._require_reset("predict")
        if not self._initialised:
            raise RuntimeError("EnsPoGAMBITTS.predict needs weights: call `select` first")
        out = np.empty(
            (self._n_replicates, self.config.n_members, self.n_cells, self.n_arms),
            dtype=np.float32,
        )
        self._kernel("predict")(
            self.params_,
            self.draws_,
            self._context_,
            self._n_context(),
            self.prompt_indicators,
            self.config.n_hidden,
            out,
        )
        scale = self.reward_sd_[:, None, None, None]
        return out * scale + self.reward_mean_[:, None, None, None]

    # ------------------------------------------------------------------ checks
    def _kernel(self, name: str):
        """Return the compiled kernel ``name``: threaded for many replicates, else serial.

        Below ``_PARALLEL_MIN_REPLICATES`` replicates a kernel call is too short to share between
        threads (on a busy machine a thread wake-up can cost more than the work).
        """
        parallel = self._n_replicates >= _PARALLEL_MIN_REPLICATES
        return _KERNELS[name][0 if parallel else 1]

    def _n_context(self) -> int:
        return 0 if self.context_features is None else self.context_features.shape[1]

    def _check_draws(self, n_replicates: int, draws: np.ndarray | None) -> np.ndarray:
        expected = (self.n_cells, self.n_arms)
        if draws is None:
            raise ValueError(
                "ens-poGAMBITTS needs `generator_draws` of shape (n_replicates, n_cells, n_arms, "
                "n_draws, n_dims)"
            )
        draws = np.asarray(draws, dtype=np.float32)
        if draws.ndim == 4:
            draws = np.broadcast_to(draws, (n_replicates, *draws.shape))
        if (
            draws.ndim != 5
            or draws.shape[:3] != (n_replicates, *expected)
            or draws.shape[4] != self.n_dims
            or draws.shape[3] < 1
        ):
            raise ValueError(
                f"`generator_draws` must have shape ({n_replicates}, {expected[0]}, {expected[1]}, "
                f"n_draws, {self.n_dims}) = (replicate, cell, arm, draw, dim), got {draws.shape}"
            )
        if not all_finite(draws):
            raise ValueError("`generator_draws` must be finite, got NaN or inf")
        return draws


# ---------------------------------------------------------------------- the network
def parameter_count(n_features: int, n_hidden: int) -> int:
    """Return the number of weights of one member: ``W1``, ``b1``, ``w2`` and ``b2``."""
    return n_features * n_hidden + 2 * n_hidden + 1


def loss_and_gradient(params: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Return one member's loss ``mean((f(x) - y)^2) / 2`` and its gradient, via the kernel.

    The compiled forward/backward pass the ensemble trains with, exposed for checks (any float
    dtype; float64 for finite differences).

    Parameters
    ----------
    params : ndarray, shape (n_params,)
        Flat weights as in :attr:`EnsPoGAMBITTS.params_` (``n_hidden`` follows from the size).
    x : ndarray, shape (n, n_features)
    y : ndarray, shape (n,)
    """
    params = np.ascontiguousarray(params)
    x = np.ascontiguousarray(x, dtype=params.dtype)
    n_features = x.shape[1]
    n_hidden = (params.shape[0] - 1) // (n_features + 2)
    if parameter_count(n_features, n_hidden) != params.shape[0]:
        raise ValueError(
            f"`params` of length {params.shape[0]} do not fit a network with {n_features} inputs"
        )
    gradient = np.zeros_like(params)
    hidden = np.empty((len(x), n_hidden), dtype=params.dtype)
    errors = np.empty(len(x), dtype=params.dtype)
    targets = np.ascontiguousarray(y, dtype=params.dtype)
    _batch_gradient(params, x, targets, n_features, n_hidden, hidden, errors, gradient)
    return float(0.5 * np.mean(errors.astype(float) ** 2)), gradient / len(x)


def network_output(params: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Return one member's output ``relu(x @ W1 + b1) @ w2 + b2`` (numpy, for checks)."""
    n_features = x.shape[1]
    n_hidden = (params.shape[0] - 1) // (n_features + 2)
    w1 = params[: n_features * n_hidden].reshape(n_features, n_hidden)
    b1 = params[n_features * n_hidden : n_features * n_hidden + n_hidden]
    w2 = params[n_features * n_hidden + n_hidden : -1]
    return np.maximum(x @ w1 + b1, 0.0) @ w2 + params[-1]


# ---------------------------------------------------------------------- compiled kernels
# Loops run batch-major with the hidden units innermost over 2-D views of the flat weights,
# which LLVM vectorises (about 4x faster here than flat indexing per example).


@numba.njit(inline="always")
def _splitmix64(x):  # pragma: no cover - compiled
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@numba.njit(inline="always")
def _hash_uniform(key, counter):  # pragma: no cover - compiled
    """Return a uniform in [0, 1) from a 64-bit key and a counter (splitmix64)."""
    bits = _splitmix64(key ^ _splitmix64(np.uint64(counter)))
    return np.float64(bits >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True, fastmath=True)
def _batch_gradient(
    params, x, targets, n_features, n_hidden, hidden, errors, gradient
):  # pragma: no cover - compiled
    """Add the summed gradient of ``(f(x_b) - targets_b)^2 / 2`` over the batch to ``gradient``.

    ``hidden`` (batch x n_hidden) is scratch; ``errors`` receives ``f(x_b) - targets_b``.
    """
    n_in = n_features * n_hidden
    w1 = params[:n_in].reshape((n_features, n_hidden))
    b1 = params[n_in : n_in + n_hidden]
    w2 = params[n_in + n_hidden : n_in + 2 * n_hidden]
    g_w1 = gradient[:n_in].reshape((n_features, n_hidden))
    g_b1 = gradient[n_in : n_in + n_hidden]
    g_w2 = gradient[n_in + n_hidden : n_in + 2 * n_hidden]
    zero = params[0] * 0
    b2 = params[n_in + 2 * n_hidden]
    for b in range(x.shape[0]):
        row = hidden[b]
        for j in range(n_hidden):
            row[j] = b1[j]
        for f in range(n_features):
            xf = x[b, f]
            if xf != zero:
                for j in range(n_hidden):
                    row[j] += xf * w1[f, j]
        output = b2
        for j in range(n_hidden):
            h = max(row[j], zero)
            row[j] = h
            output += h * w2[j]
        errors[b] = output - targets[b]
    error_sum = zero
    for b in range(x.shape[0]):
        error = errors[b]
        error_sum += error
        row = hidden[b]
        for j in range(n_hidden):
            g_w2[j] += error * row[j]
            delta = error * w2[j] if row[j] > zero else zero
            row[j] = delta
            g_b1[j] += delta
        for f in range(n_features):
            xf = x[b, f]
            if xf != zero:
                for j in range(n_hidden):
                    g_w1[f, j] += xf * row[j]
    gradient[n_in + 2 * n_hidden] += error_sum


@numba.njit(cache=True, parallel=True, fastmath=True)
def _train_kernel(
    params,
    adam_m,
    adam_v,
    x_buffer,
    y_buffer,
    perturbations,
    n_valid,
    reward_mean,
    reward_inverse_sd,
    noise_scale,
    keys,
    step,
    adam_step,
    learning_rate,
    beta1,
    beta2,
    epsilon,
    n_features,
    n_hidden,
    batch_size,
    residuals,
):  # pragma: no cover - compiled
    """One Adam step of every member of every replicate on its own minibatch."""
    n_replicates, n_members, n_params = params.shape
    dtype = params.dtype
    correction1 = 1.0 - beta1**adam_step
    correction2 = 1.0 - beta2**adam_step
    step_size = learning_rate / correction1
    for r in numba.prange(n_replicates):
        gradient = np.empty(n_params, dtype=dtype)
        hidden = np.empty((batch_size, n_hidden), dtype=dtype)
        x = np.empty((batch_size, n_features), dtype=dtype)
        targets = np.empty(batch_size, dtype=dtype)
        shifts = np.empty(batch_size, dtype=dtype)
        errors = np.empty(batch_size, dtype=dtype)
        key = keys[r]
        for m in range(n_members):
            base = (step * n_members + m) * batch_size
            for b in range(batch_size):
                i = min(int(_hash_uniform(key, base + b) * n_valid), n_valid - 1)
                x[b] = x_buffer[r, i]
                shifts[b] = noise_scale[r] * perturbations[r, m, i]
                targets[b] = (y_buffer[r, i] - reward_mean[r]) * reward_inverse_sd[r] + shifts[b]
            gradient[:] = 0.0
            p = params[r, m]
            _batch_gradient(p, x, targets, n_features, n_hidden, hidden, errors, gradient)
            total = 0.0
            for b in range(batch_size):
                total += (errors[b] + shifts[b]) ** 2
            residuals[r, m] = total / batch_size
            m1 = adam_m[r, m]
            m2 = adam_v[r, m]
            for k in range(n_params):
                g = gradient[k] / batch_size
                first = beta1 * m1[k] + (1.0 - beta1) * g
                second = beta2 * m2[k] + (1.0 - beta2) * g * g
                # Flush what decays towards float32's subnormal range (dead ReLU units get zero
                # gradients): subnormal arithmetic is many times slower.
                m1[k] = first if abs(first) > _TINY else 0.0
                m2[k] = second if second > _TINY else 0.0
                p[k] -= step_size * m1[k] / (np.sqrt(m2[k] / correction2) + epsilon)


@numba.njit(cache=True, parallel=True)
def _init_kernel(params, keys, n_features, n_hidden):  # pragma: no cover - compiled
    """He-normal ``W1``, ``N(0, 0.1^2)`` ``b1``, ``N(0, 1 / n_hidden)`` ``w2``, zero ``b2``."""
    n_replicates, n_members, n_params = params.shape
    o_b1 = n_features * n_hidden
    o_w2 = o_b1 + n_hidden
    for r in numba.prange(n_replicates):
        for m in range(n_members):
            for k in range(n_params - 1):
                counter = 2 * (m * n_params + k)
                u1 = _hash_uniform(keys[r], counter)
                u2 = _hash_uniform(keys[r], counter + 1)
                normal = np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2.0 * np.pi * u2)
                if k < o_b1:
                    scale = np.sqrt(2.0 / n_features)
                elif k < o_w2:
                    scale = 0.1
                else:
                    scale = np.sqrt(1.0 / n_hidden)
                params[r, m, k] = normal * scale
            params[r, m, n_params - 1] = 0.0


@numba.njit(cache=True, fastmath=True)
def _mc_mean_output(
    params,
    draws,
    context,
    n_context,
    prompt_indicators,
    arm,
    offset,
    n_mc,
    n_hidden,
    const,
    total,
    scratch,
):  # pragma: no cover - compiled
    """Mean network output over ``n_mc`` draws (a cyclic window from ``offset``) of one arm.

    Context and prompt-indicator inputs are the same for every draw, so they enter once, into
    ``const``, and the hidden layer is averaged before the output (``const``, ``total`` and
    ``scratch`` are scratch arrays of length ``n_hidden``).
    """
    n_draws, n_dims = draws.shape
    n_features = (params.shape[0] - 1) // n_hidden - 2
    n_in = n_features * n_hidden
    w1 = params[:n_in].reshape((n_features, n_hidden))
    b1 = params[n_in : n_in + n_hidden]
    w2 = params[n_in + n_hidden : n_in + 2 * n_hidden]
    zero = params[0] * 0
    for j in range(n_hidden):
        const[j] = b1[j]
        total[j] = zero
    for f in range(n_context):
        for j in range(n_hidden):
            const[j] += context[f] * w1[n_dims + f, j]
    if prompt_indicators and arm > 0:
        for j in range(n_hidden):
            const[j] += w1[n_dims + n_context + arm - 1, j]
    hidden = scratch
    for d in range(n_mc):
        z = draws[(offset + d) % n_draws]
        for j in range(n_hidden):
            hidden[j] = const[j]
        for f in range(n_dims):
            zf = z[f]
            for j in range(n_hidden):
                hidden[j] += zf * w1[f, j]
        for j in range(n_hidden):
            total[j] += max(hidden[j], zero)
    out = params[n_in + 2 * n_hidden]
    for j in range(n_hidden):
        out += total[j] / n_mc * w2[j]
    return out


@numba.njit(cache=True, parallel=True, fastmath=True)
def _score_kernel(
    params,
    members,
    cells,
    draws,
    context,
    n_context,
    prompt_indicators,
    offset,
    n_mc,
    n_hidden,
    scores,
):  # pragma: no cover - compiled
    """Each replicate's chosen member's Monte Carlo mean output for every arm of its cell."""
    n_replicates, n_arms = scores.shape
    for r in numba.prange(n_replicates):
        const = np.empty(n_hidden, dtype=params.dtype)
        total = np.empty(n_hidden, dtype=params.dtype)
        scratch = np.empty(n_hidden, dtype=params.dtype)
        p = params[r, members[r]]
        c = cells[r]
        for a in range(n_arms):
            scores[r, a] = _mc_mean_output(
                p,
                draws[r, c, a],
                context[c],
                n_context,
                prompt_indicators,
                a,
                offset,
                n_mc,
                n_hidden,
                const,
                total,
                scratch,
            )


@numba.njit(cache=True, parallel=True)
def _predict_kernel(
    params, draws, context, n_context, prompt_indicators, n_hidden, out
):  # pragma: no cover - compiled
    """Every member's mean output over all draws of every (cell, arm)."""
    n_replicates, n_members, n_cells, n_arms = out.shape
    n_draws = draws.shape[3]
    for r in numba.prange(n_replicates):
        const = np.empty(n_hidden, dtype=params.dtype)
        total = np.empty(n_hidden, dtype=params.dtype)
        scratch = np.empty(n_hidden, dtype=params.dtype)
        for m in range(n_members):
            for c in range(n_cells):
                for a in range(n_arms):
                    out[r, m, c, a] = _mc_mean_output(
                        params[r, m],
                        draws[r, c, a],
                        context[c],
                        n_context,
                        prompt_indicators,
                        a,
                        0,
                        n_draws,
                        n_hidden,
                        const,
                        total,
                        scratch,
                    )


#: Each kernel threaded over replicates, and the same code compiled serially for small batches.
_KERNELS = {
    "train": (_train_kernel, numba.njit(cache=True, fastmath=True)(_train_kernel.py_func)),
    "score": (_score_kernel, numba.njit(cache=True, fastmath=True)(_score_kernel.py_func)),
    "init": (_init_kernel, numba.njit(cache=True)(_init_kernel.py_func)),
    "predict": (_predict_kernel, numba.njit(cache=True)(_predict_kernel.py_func)),
}


@dataclass(frozen=True)
class EnsPoGAMBITTSSpec(TwoStageSpec):
    """ens-poGAMBITTS in an experiment.

    Attributes
    ----------
    draws_per_cell : int or None
        Generator draws per (cell, prompt) the agent is given; ``None`` means all.
    preset : {"default", "paper", "paper-persistent-adam"}
        ``default`` uses :attr:`ensemble`; the paper presets use the paper's hyper-parameters
        and perturb rewards by the world's true noise sd, as the paper's code did.
    ensemble : EnsembleConfig
        Hyper-parameters of the ``default`` preset, written as a mapping of the fields to
        change, e.g. ``ensemble: {learning_rate: 0.01, n_members: 32}``.
    """

    kind: ClassVar[str] = "ens-poGAMBITTS"

    draws_per_cell: int | None = None
    preset: Literal["default", "paper", "paper-persistent-adam"] = "default"
    ensemble: EnsembleConfig = EnsembleConfig()

    def check(self) -> None:
        """See :class:`TwoStageSpec`; a paper preset fixes every hyper-parameter."""
        super().check()
        check_draws_per_cell(self)
        if self.preset != "default" and self.ensemble != EnsembleConfig():
            raise ExperimentError(
                f"{self.where}: `preset: {self.preset}` fixes the ensemble's hyper-parameters; "
                "use `preset: default` to set them with `ensemble`"
            )

    def make_agent(
        self, n_arms: int, contexts: ContextSpace, noise_sd: float | None = None
    ) -> EnsPoGAMBITTS:
        """Create the agent; see :meth:`AgentSpec.make_agent` (paper presets need ``noise_sd``)."""
        return EnsPoGAMBITTS(
            n_arms,
            len(self.dims),
            contexts.n_cells,
            config=self._config(noise_sd),
            **self.stage2_options(contexts),
        )

    def _config(self, noise_sd: float | None) -> EnsembleConfig:
        if self.preset == "default":
            return self.ensemble
        if noise_sd is None:
            raise ExperimentError(f"{self.where}: the paper presets need the world's noise sd")
        persistent = self.preset == "paper-persistent-adam"
        return EnsembleConfig.paper(noise_sd, reset_optimizer_every_round=not persistent)
