"""The study's simulated world: tomorrow's sleep-hygiene score given the message and context.

Called by gambitts once, vectorised over every message of the database (see
gambitts.sims.worlds.custom): ``z`` holds the modelled style scores in the order of the
experiment's ``dims`` (warmth, urgency, specificity), ``context`` each message's context levels.
"""

from __future__ import annotations

import numpy as np


def expected_reward(z: np.ndarray, context: dict[str, np.ndarray]) -> np.ndarray:
    """Return the expected score of each message: non-linear in Z, varying with the context.

    Warmth helps with diminishing returns; urgency helps in the evening after a short night and
    backfires otherwise; specificity helps on weekdays.
    """
    warmth, urgency, specificity = z[:, 0], z[:, 1], z[:, 2]
    evening = context["time_of_day"] == "evening"
    short_night = context["sleep"] == "short"
    weekday = context["day"] == "weekday"
    return (
        6.0
        + 0.8 * np.tanh(warmth)
        + np.where(evening & short_night, 0.5, -0.25) * urgency
        + 0.3 * weekday * specificity
        - 0.2 * short_night
    )
