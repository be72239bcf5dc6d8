"""The interface every agent follows, and input checks shared by all agents."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self

import numba
import numpy as np

from gambitts.models.random_streams import BatchRandom


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
    replicate; :meth:`update` adds one observation per replicate and returns ``self``.

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

    @property
    def n_replicates(self) -> int:
        """Number of replicates the agent was reset for."""
        self._require_reset("n_replicates")
        return self._n_replicates

    def update_sequence(
        self, cells: np.ndarray, actions: np.ndarray, z: np.ndarray, rewards: np.ndarray
    ) -> Self:
        """Apply :meth:`update` to each round of a recorded sequence.

        Parameters
        ----------
        cells, actions, rewards : array_like, shape (n_rounds, n_replicates)
        z : array_like, shape (n_rounds, n_replicates, n_dims)
        """
        for round_ in zip(cells, actions, z, rewards, strict=True):
            self.update(*round_)
        return self

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
