"""A live policy: honest Thompson-sampling probabilities and reproducible decisions.

A micro-randomised trial's analysis needs each decision's randomisation probability. Thompson
sampling picks the prompt whose drawn expected reward is highest; the probability of each prompt
is the share of posterior draws under which it is best. :class:`Policy` estimates it by Monte
Carlo with the batched agent (the draws are the agent's replicate axis, every replicate holding
the same posterior), floors it (:func:`floor_probabilities`: no prompt below
``min_probability``) and samples the prompt from the floored vector, so the logged vector is the
one actually used. Decision ``n`` draws from ``SeedSequence(seed, spawn_key=(n,))``: replaying
the log reproduces every decision.

Only agents with exact posteriors and updates that draw nothing (StdTS, StdTS:Contextual,
poGAMBITTS, foGAMBITTS) run live so far.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gambitts.agents.base import Agent
from gambitts.agents.spec import AgentSpec
from gambitts.design.contexts import ContextSpace
from gambitts.errors import InputError

#: Agent kinds a live policy can run.
LIVE_KINDS: tuple[str, ...] = ("StdTS", "StdTS:Contextual", "poGAMBITTS", "foGAMBITTS")


def floor_probabilities(probabilities: np.ndarray, floor: float) -> np.ndarray:
    """Return the point of ``{q : q >= floor, sum(q) = 1}`` closest to ``probabilities``.

    The Euclidean projection: ``q = floor + max(p - floor - tau, 0)`` with the ``tau`` that makes
    ``q`` sum to one. A vector already above the floor is returned unchanged.

    Raises
    ------
    InputError
        If ``floor`` is negative or ``len(probabilities) * floor > 1`` (no such vector).
    """
    p = np.asarray(probabilities, dtype=float)
    k = len(p)
    if not 0 <= floor or k * floor > 1 + 1e-12:
        raise InputError(f"`min_probability` must be in [0, 1/{k}] for {k} prompts, got {floor!r}")
    if (p >= floor).all() and np.isclose(p.sum(), 1.0):
        return p.copy()
    excess = p - floor
    budget = 1.0 - k * floor
    ordered = np.sort(excess)[::-1]
    cumulative = np.cumsum(ordered) - budget
    ranks = np.arange(1, k + 1)
    positive = ordered - cumulative / ranks > 0
    rho = ranks[positive][-1]
    tau = cumulative[rho - 1] / rho
    return floor + np.maximum(excess - tau, 0.0)


@dataclass(frozen=True)
class Decision:
    """One decision: the cell it was made in, the floored probabilities, the prompt played.

    Attributes
    ----------
    number : int
        The decision's number in the study (its randomness is keyed by it).
    cell : int
    probabilities : ndarray of float, shape (n_prompts,)
        Each prompt's probability of being played: the Thompson-sampling probability under
        the policy version's posterior, floored.
    prompt : int
        The prompt played, drawn from ``probabilities``.
    version : int
        The policy version (number of updates) the decision used.
    """

    number: int
    cell: int
    probabilities: np.ndarray
    prompt: int
    version: int


class Policy:
    """A Thompson-sampling policy that decides one participant at a time.

    Parameters
    ----------
    spec : AgentSpec
        The agent (one of :data:`LIVE_KINDS`, with its priors).
    n_prompts : int
    contexts : ContextSpace
    min_probability : float
        Floor on every prompt's probability (``n_prompts * min_probability <= 1``).
    propensity_draws : int
        Posterior draws behind each probability vector (its Monte Carlo standard error is at
        most ``0.5 / sqrt(propensity_draws)``).
    seed : int
    generator_means : ndarray, shape (n_cells, n_prompts, n_dims), optional
        Mean style of each prompt's messages in each cell, for poGAMBITTS.
    """

    def __init__(
        self,
        spec: AgentSpec,
        n_prompts: int,
        contexts: ContextSpace,
        *,
        min_probability: float = 0.0,
        propensity_draws: int = 1000,
        seed: int = 0,
        generator_means: np.ndarray | None = None,
    ) -> None:
        if spec.kind not in LIVE_KINDS:
            raise InputError(f"a live study runs {', '.join(LIVE_KINDS)} so far, not {spec.kind}")
        if (
            isinstance(propensity_draws, bool)
            or not isinstance(propensity_draws, int)
            or (propensity_draws < 1)
        ):
            raise InputError(
                f"`propensity_draws` must be a whole number >= 1, got {propensity_draws!r}"
            )
        floor_probabilities(np.full(n_prompts, 1 / n_prompts), min_probability)  # checks it
        self.spec = spec
        self.n_prompts = n_prompts
        self.contexts = contexts
        self.min_probability = float(min_probability)
        self.propensity_draws = propensity_draws
        self.seed = seed
        self.agent: Agent = spec.build(n_prompts, contexts)
        means = None
        if self.agent.uses_generator:
            if generator_means is None:
                raise InputError(f"{spec.kind} needs the generator's mean style per cell")
            means = np.broadcast_to(generator_means, (propensity_draws, *generator_means.shape))
        self.agent.reset(propensity_draws, generator_means=means)
        self.version = 0
        self.n_observations = 0

    @property
    def agent_uses_context(self) -> bool:
        """Whether the agent's stage 2 has context features."""
        return getattr(self.agent, "context_features", None) is not None

    def update(
        self, cells: np.ndarray, prompts: np.ndarray, z: np.ndarray, rewards: np.ndarray
    ) -> None:
        """Fold complete observations (in the order they were made) into the posterior.

        Every draw (replicate) of the agent gets the same observations, so they keep holding
        the same posterior. The version goes up by one.
        """
        cells, prompts = np.asarray(cells), np.asarray(prompts)
        z, rewards = np.asarray(z, dtype=float), np.asarray(rewards, dtype=float)
        n, r = len(cells), self.propensity_draws
        self.agent.update_sequence(
            np.repeat(cells[:, None], r, axis=1),
            np.repeat(prompts[:, None], r, axis=1),
            np.repeat(z.reshape(n, 1, -1), r, axis=1),
            np.repeat(rewards[:, None], r, axis=1),
        )
        self.version += 1
        self.n_observations += n

    def probabilities(self, cell: int, rng: np.random.Generator) -> np.ndarray:
        """Each prompt's Thompson-sampling probability in ``cell``, before the floor."""
        cells = np.full(self.propensity_draws, cell, dtype=np.int64)
        choices = self.agent.select(cells, rng)
        return np.bincount(choices, minlength=self.n_prompts) / self.propensity_draws

    def decide(self, cell: int, number: int) -> Decision:
        """Make decision ``number`` in ``cell``: floored probabilities, then the prompt.

        The same (seed, number, version) always gives the same decision.
        """
        if not 0 <= cell < self.contexts.n_cells:
            raise InputError(f"`cell` must be 0..{self.contexts.n_cells - 1}, got {cell}")
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(number,)))
        floored = floor_probabilities(self.probabilities(cell, rng), self.min_probability)
        prompt = int(rng.choice(self.n_prompts, p=floored))
        return Decision(number, int(cell), floored, prompt, self.version)
