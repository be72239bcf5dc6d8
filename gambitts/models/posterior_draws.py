"""One replicate's posterior as plain arrays: what every agent hands to ArviZ.

Each agent knows its own posterior (:meth:`gambitts.agents.base.Agent.posterior_draws`) and
returns it as a :class:`PosteriorDraws`;
:func:`gambitts.models.inference_data.posterior_inference_data` adds the coordinate labels (style
dims, prompts, context cells and features) and makes the :class:`arviz.InferenceData`. This
module is light on purpose: agents import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class PosteriorDraws:
    """Draws of one replicate's posterior variables.

    Attributes
    ----------
    variables : dict of str to ndarray
        Each variable's draws, shape ``(chain, draw, *dims)``.
    dims : dict of str to list of str
        Each variable's dims after ``chain`` and ``draw``. The shared names are ``arm``,
        ``cell``, ``dim`` (style dimensions) and ``feature`` (stage-2 features), whose labels the
        caller supplies.
    coords : dict of str to list
        Labels of other dims, which only the agent knows (e.g. a custom PyMC model's coords).
    """

    variables: dict[str, np.ndarray]
    dims: dict[str, list[str]]
    coords: dict[str, list] = field(default_factory=dict)
