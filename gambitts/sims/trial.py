"""One simulated trial, one round at a time, for driving a policy by hand.

::

    trial = Trial("linear_3d", n_prompts=5, seed=0)
    context = trial.reset()                  # {"curr_loc": "home", "prev_steps": "2"}
    for _ in range(100):
        prompt = my_policy(context)          # an index into trial.prompts
        round_ = trial.step(prompt)          # what was delivered, the reward, the regret
        context = trial.context

The world's randomness (contexts, which message a prompt delivers, reward noise) is replicate 0
of a simulation with the same seed: playing the prompts a simulated agent played gives the
rewards and regret of its replicate 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gambitts.design.promptdb import PromptDatabase
from gambitts.errors import InputError
from gambitts.sims.runner import WORLD_STREAM, make_world, replicate_seeds
from gambitts.sims.worlds.custom import OutcomeDefinition


@dataclass(frozen=True)
class Round:
    """What one round of a :class:`Trial` produced.

    Attributes
    ----------
    t : int
        The round, from 1.
    context : dict of str to str
        The round's context: each context variable's level.
    cell : int
        The context's cell index (what the agents take).
    prompt : int
        The prompt played, an index into :attr:`Trial.prompts`.
    z : dict of str to float
        The delivered message's style scores, by dimension name.
    message : str or None
        The delivered message's text, if the database holds it.
    reward : float
    regret : float
        Expected reward of the round's best prompt minus the played prompt's.
    """

    t: int
    context: dict[str, str]
    cell: int
    prompt: int
    z: dict[str, float]
    message: str | None
    reward: float
    regret: float


class Trial:
    """A simulated world for one participant, stepped by hand.

    Parameters
    ----------
    outcome_model : str, mapping or OutcomeDefinition
        A shipped world's name (e.g. ``"linear_3d"``) or a world of your own, written as in an
        experiment file (see :mod:`gambitts.sims.worlds.custom`).
    n_prompts : int
        Prompts to choose from, picked from the database the paper's way.
    noise_level : int
        Index into the world's noise grid.
    database : PromptDatabase, optional
        Default: the paper's stand-in.
    seed : int
        The same seed as a simulation gives that simulation's replicate 0.
    horizon : int
        Rounds available before :meth:`reset` is needed again.
    """

    def __init__(
        self,
        outcome_model: str | OutcomeDefinition = "linear_3d",
        *,
        n_prompts: int = 5,
        noise_level: int = 0,
        database: PromptDatabase | None = None,
        seed: int = 0,
        horizon: int = 1000,
    ) -> None:
        from gambitts.design.standin import make_standin_database

        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise InputError(f"`horizon` must be a positive whole number, got {horizon!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise InputError(f"`seed` must be a whole number from 0 to 2**63 - 1, got {seed!r}")
        if database is not None and not isinstance(database, PromptDatabase):
            raise InputError(
                "`database` must be a PromptDatabase (gambitts.load_prompt_database(path)), got "
                f"{type(database).__name__}"
            )
        if isinstance(outcome_model, dict):
            outcome_model = OutcomeDefinition.from_mapping(outcome_model)
        self.db = make_standin_database() if database is None else database
        self.world = make_world(
            self.db, outcome_model, n_prompts=n_prompts, noise_level=noise_level
        )
        self.seed = seed
        self.horizon = horizon
        self._t = 0

    @property
    def prompts(self) -> list[str]:
        """The prompts' names, in the order :meth:`step` indexes them."""
        return [self.db.prompts[p] for p in self.world.arm_prompts]

    @property
    def n_cells(self) -> int:
        """Number of context cells (for an agent's ``n_cells``)."""
        return self.db.n_cells

    def reset(self) -> dict[str, str]:
        """Start the trial over (same seed, same rounds) and return the first context."""
        seeds = replicate_seeds(self.seed, [0], WORLD_STREAM)
        self._randomness = self.world.draw_randomness(seeds, self.horizon)
        self._t = 0
        return self.context

    @property
    def cell(self) -> int:
        """The current round's context cell."""
        self._require_reset()
        return int(self._randomness.cells[0, self._t])

    @property
    def context(self) -> dict[str, str]:
        """The current round's context, each variable's level."""
        contexts, cell = self.db.contexts, self.cell
        return {
            variable.name: variable.levels[level]
            for variable, level in zip(contexts.variables, contexts.cell_levels[cell], strict=True)
        }

    def step(self, prompt: int) -> Round:
        """Deliver a message of ``prompt`` in the current context and move to the next round.

        Raises
        ------
        InputError
            For a prompt index out of range, or once ``horizon`` rounds are played.
        """
        self._require_reset()
        n_prompts = self.world.n_arms
        if isinstance(prompt, bool) or not isinstance(prompt, int | np.integer):
            raise InputError(f"`prompt` must be an index 0..{n_prompts - 1}, got {prompt!r}")
        if not 0 <= prompt < n_prompts:
            raise InputError(f"`prompt` must be an index 0..{n_prompts - 1}, got {prompt}")
        t, cell = self._t, self.cell
        context = self.context
        randomness = self._randomness
        rows, rewards, regret = self.world.step(
            np.array([cell]),
            np.array([prompt]),
            randomness.draw_uniform[:, t],
            randomness.noise[:, t],
        )
        row = int(rows[0])
        draw = row % self.db.max_draws
        z = dict(zip(self.db.dims, self.world.embedding(rows)[0].tolist(), strict=True))
        message = None
        if self.db.messages is not None:
            message = str(self.db.messages[self.world.arm_prompts[prompt], cell, draw])
        self._t += 1
        return Round(t + 1, context, cell, int(prompt), z, message, float(rewards[0]),
                     float(regret[0]))  # fmt: skip

    def _require_reset(self) -> None:
        if not hasattr(self, "_randomness"):
            raise InputError("call `reset()` before stepping the trial")
        if self._t >= self.horizon:
            raise InputError(
                f"the trial's {self.horizon} rounds are played; `reset()` it or make it with a "
                "longer `horizon`"
            )
