"""The interface every agent follows, and input checks shared by all agents."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self

import numba
import numpy as np

from gambitts.models.posterior_draws import PosteriorDraws
from gambitts.models.random_streams import BatchRandom, as_replicate_random


def all_in_range(values: np.ndarray, upper: int) -> bool:
    """Return whether every entry of an integer array lies in ``[0, upper)``."""
    if values.dtype.kind not in "iu":
        return bool(np.all((values >= 0) & (values < upper) & (values == np.floor(values))))
    return _all_in_range(values.reshape(-1), upper)


def all_finite(values: np.ndarray) -> bool:
    """Return whether every entry of a float array is finite."""
    return _all_finite(np.ascontiguousarray(values, dtype=float).reshape(-1))


@numba.njit(cache=True)
def _all_in_range(values, upper):  # pragma: no cover - compiled
    for value in values:
        if value < 0 or value >= upper:
            return False
    return True


@numba.njit(cache=True)
def _all_finite(values):  # pragma: no cover - compiled
    for value in values:
        if not np.isfinite(value):
            return False
    return True


class Agent(ABC):
    """A Thompson-sampling policy run for a batch of independent replicates in lockstep.

    Agents follow scikit-learn manners: ``__init__`` stores configuration only; :meth:`reset`
    creates the learned state (attributes ending in ``_``); :meth:`select` picks one prompt per
    replicate; :meth:`update` adds one observation per replicate and returns ``self``;
    :meth:`update_sequence` replays recorded rounds.

    Parameters
    ----------
    n_arms : int
        Number of prompts the agent chooses from.
    n_cells : int
        Number of context cells.
    """

    #: Display name, as in the paper's plots.
    name: str = "agent"
    #: Whether :meth:`reset` needs ``generator_means`` (cell means of generator draws).
    uses_generator: bool = False
    #: Whether :meth:`reset` needs ``generator_draws`` (a sample of draws per cell).
    uses_generator_draws: bool = False
    #: Whether :meth:`update` uses random numbers that :meth:`select` draws, so that every
    #: ``update`` must follow a ``select`` and :meth:`update_sequence` needs ``rng``.
    update_needs_select: bool = False

    def __init__(self, n_arms: int, n_cells: int) -> None:
        if n_arms < 2:
            raise ValueError(f"`n_arms` must be at least 2, got {n_arms}")
        if n_cells < 1:
            raise ValueError(f"`n_cells` must be at least 1, got {n_cells}")
        self.n_arms = n_arms
        self.n_cells = n_cells

    @abstractmethod
    def reset(
        self,
        n_replicates: int,
        generator_means: np.ndarray | None = None,
        generator_draws: np.ndarray | None = None,
    ) -> Self:
        """Start from the prior for ``n_replicates`` replicates.

        Parameters
        ----------
        n_replicates : int
        generator_means : ndarray, shape (n_replicates, n_cells, n_arms, n_dims), optional
            Mean of the agent's generator draws per (cell, prompt), for agents with
            ``uses_generator``.
        generator_draws : ndarray, shape (n_replicates, n_cells, n_arms, n_draws, n_dims), optional
            A sample of generator draws per (cell, prompt), for agents with
            ``uses_generator_draws``.
        """

    @abstractmethod
    def select(self, cells: np.ndarray, rng: BatchRandom) -> np.ndarray:
        """Return the prompt (arm index) chosen by each replicate in context ``cells``."""

    @abstractmethod
    def update(
        self, cells: np.ndarray, actions: np.ndarray, z: np.ndarray, rewards: np.ndarray
    ) -> Self:
        """Add one observation per replicate: its context, prompt, treatment ``Z`` and reward."""

    def posterior_draws(
        self, replicate: int, n_draws: int, rng: np.random.Generator
    ) -> PosteriorDraws:
        """Return draws of one replicate's current posterior, as arrays with named dims.

        Exact posteriors give one chain of ``n_draws`` independent draws; agents whose
        posterior is a sample (a fitted model, an ensemble) return that sample as it is.
        :func:`gambitts.models.inference_data.posterior_inference_data` turns the result into
        :class:`arviz.InferenceData`. An agent kind of one's own implements this to be inspected.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not expose its posterior; implement posterior_draws"
        )

    @property
    def n_replicates(self) -> int:
        """Number of replicates the agent was reset for."""
        self._require_reset("n_replicates")
        return self._n_replicates

    def update_sequence(
        self,
        cells: np.ndarray,
        actions: np.ndarray,
        z: np.ndarray,
        rewards: np.ndarray,
        *,
        rng: BatchRandom | np.random.Generator | None = None,
    ) -> Self:
        """Apply :meth:`update` to each round of a recorded sequence, in order.

        Replays observations (a study's log, another policy's choices) into the agent: the
        state it leaves is the state after the same ``update`` calls one by one. The whole
        sequence is checked before the first round is applied, so bad data change nothing.

        Parameters
        ----------
        cells, actions, rewards : array_like, shape (n_rounds, n_replicates)
        z : array_like, shape (n_rounds, n_replicates, n_dims)
        rng : numpy.random.Generator or BatchRandom, optional
            The stream :meth:`select` would get. With it, every round stands for
            ``select(cells[t], rng)`` followed by ``update``: an agent whose updates use
            ``select``'s draws draws them from ``rng`` as ``select`` would (ens-poGAMBITTS:
            unless a ``select`` is pending), so replaying a live run's record with the run's
            stream rebuilds the run's state. Required by agents with ``update_needs_select``;
            agents whose updates use no random numbers ignore it.

        Returns
        -------
        Self

        Raises
        ------
        RuntimeError
            If the agent was not reset.
        ValueError
            If the arrays do not share ``(n_rounds, n_replicates)`` or hold invalid values.
        TypeError
            If the agent has ``update_needs_select`` and ``rng`` is missing.
        """
        self._require_reset("update_sequence")
        cells, actions, z, rewards = self._check_sequence(cells, actions, z, rewards)
        if rng is not None:
            rng = as_replicate_random(rng, self._n_replicates)
        elif self.update_needs_select:
            raise TypeError(
                f"{type(self).__name__}.update_sequence needs `rng`: each update uses random "
                "numbers that `select` draws, so pass the generator `select` would get "
                "(a ReplicateRandom or numpy.random.Generator)"
            )
        for t in range(len(cells)):
            self._prepare_update(cells[t], rng)
            self.update(cells[t], actions[t], z[t], rewards[t])
        return self

    def _prepare_update(self, cells: np.ndarray, rng: BatchRandom | None) -> None:
        """Draw from ``rng`` what ``select(cells, rng)`` would and the next :meth:`update` uses.

        Called by :meth:`update_sequence` before each round (``rng`` is ``None`` if the caller
        gave none); agents whose updates use ``select``'s draws override it.
        """
        return  # the update draws nothing

    def _check_sequence(
        self, cells: np.ndarray, actions: np.ndarray, z: np.ndarray, rewards: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Check a recorded sequence for :meth:`update_sequence`; return it as arrays."""
        cells, actions, z, rewards = (np.asarray(a) for a in (cells, actions, z, rewards))
        n = self._n_replicates
        if cells.ndim != 2 or cells.shape[1] != n:
            raise ValueError(
                f"`cells` must have shape (n_rounds, n_replicates={n}), one row per round, "
                f"got {cells.shape}; for a single round call `update`"
            )
        for name, value in (("actions", actions), ("rewards", rewards)):
            if value.shape != cells.shape:
                raise ValueError(
                    f"`{name}` must have the shape of `cells`, {cells.shape} = (n_rounds, "
                    f"n_replicates), got {value.shape}"
                )
        if z.shape[:2] != cells.shape:
            raise ValueError(
                f"`z` must have shape {cells.shape} + (n_dims,) = (n_rounds, n_replicates, "
                f"n_dims), got {z.shape}"
            )
        for name, value, upper in (
            ("cells", cells, self.n_cells),
            ("actions", actions, self.n_arms),
        ):
            if not all_in_range(value, upper):
                bad = ~((value >= 0) & (value < upper) & (value == np.floor(value)))
                round_ = int(np.argwhere(bad)[0, 0])
                raise ValueError(
                    f"`{name}` must lie in [0, {upper}), got values {np.unique(value[round_])} "
                    f"in round {round_}"
                )
        if not all_finite(rewards):
            round_ = int(np.argwhere(~np.isfinite(rewards.astype(float)))[0, 0])
            raise ValueError(f"`rewards` must be finite, got NaN or inf in round {round_}")
        return cells, actions, z, rewards

    def _require_reset(self, what: str) -> None:
        if not hasattr(self, "_n_replicates"):
            raise RuntimeError(
                f"{type(self).__name__}.{what} needs a learned state: "
                "call `reset(n_replicates)` first"
            )

    def _check_cells(self, cells: np.ndarray, what: str) -> np.ndarray:
        self._require_reset(what)
        cells = np.asarray(cells)
        if cells.shape != (self._n_replicates,):
            raise ValueError(
                f"`cells` must have shape ({self._n_replicates},), one per replicate, "
                f"got {cells.shape}"
            )
        if not all_in_range(cells, self.n_cells):
            raise ValueError(
                f"`cells` must lie in [0, {self.n_cells}), got values {np.unique(cells)}"
            )
        return cells

    def _check_observation(
        self, cells: np.ndarray, actions: np.ndarray, rewards: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cells = self._check_cells(cells, "update")
        actions = np.asarray(actions)
        rewards = np.asarray(rewards, dtype=float)
        if actions.shape != cells.shape or rewards.shape != cells.shape:
            raise ValueError(
                f"`actions` and `rewards` must have shape {cells.shape}, "
                f"got {actions.shape} and {rewards.shape}"
            )
        if not all_in_range(actions, self.n_arms):
            raise ValueError(
                f"`actions` must lie in [0, {self.n_arms}), got values {np.unique(actions)}"
            )
        if not all_finite(rewards):
            raise ValueError("`rewards` must be finite, got NaN or inf")
        return cells, actions, rewards


class EmbeddingAgent(Agent):
    """An agent whose reward model reads the message's embedding ``Z``.

    Its inputs are the modelled dimensions of ``Z``, optionally the context features of the
    round's cell and optionally ``n_arms - 1`` prompt indicators (the paper's "hedged" agents).

    Parameters
    ----------
    n_arms : int
    n_dims : int
        Number of modelled dimensions of ``Z`` (the ``z`` passed to :meth:`update`).
    n_cells : int
    context_features : ndarray of shape (n_cells, n_context_features), optional
        Features of each context cell; ``None`` leaves context out.
    prompt_indicators : bool
        Add prompt indicators to the inputs.
    """

    def __init__(
        self,
        n_arms: int,
        n_dims: int,
        n_cells: int,
        *,
        context_features: np.ndarray | None,
        prompt_indicators: bool,
    ) -> None:
        super().__init__(n_arms, n_cells)
        if n_dims < 1:
            raise ValueError(f"`n_dims` must be at least 1, got {n_dims}")
        if context_features is not None:
            context_features = np.asarray(context_features, dtype=float)
            if context_features.ndim != 2 or context_features.shape[0] != n_cells:
                raise ValueError(
                    f"`context_features` must have shape (n_cells={n_cells}, n_features), "
                    f"got {context_features.shape}"
                )
        self.n_dims = n_dims
        self.context_features = context_features
        self.prompt_indicators = prompt_indicators

    @property
    def n_inputs(self) -> int:
        """Number of model inputs: modelled dims, context features, prompt indicators."""
        n_context = 0 if self.context_features is None else self.context_features.shape[1]
        n_prompt = self.n_arms - 1 if self.prompt_indicators else 0
        return self.n_dims + n_context + n_prompt

    def _check_z(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=float)
        if z.shape != (self._n_replicates, self.n_dims):
            raise ValueError(
                f"`z` must have shape (n_replicates={self._n_replicates}, n_dims={self.n_dims}), "
                f"got {z.shape}"
            )
        if not all_finite(z):
            raise ValueError("`z` must be finite, got NaN or inf")
        return z

    def _check_sequence(
        self, cells: np.ndarray, actions: np.ndarray, z: np.ndarray, rewards: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        cells, actions, z, rewards = super()._check_sequence(cells, actions, z, rewards)
        if z.shape != (*cells.shape, self.n_dims):
            raise ValueError(
                f"`z` must have shape {(*cells.shape, self.n_dims)} = (n_rounds, n_replicates, "
                f"n_dims={self.n_dims}), got {z.shape}"
            )
        if not all_finite(z):
            round_ = int(np.argwhere(~np.isfinite(z.astype(float)))[0, 0])
            raise ValueError(f"`z` must be finite, got NaN or inf in round {round_}")
        return cells, actions, z, rewards
