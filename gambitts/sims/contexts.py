"""The context of a round: where the participant is and how active they were yesterday.

The paper's context is ``x = (curr_loc, prev_steps)`` with ``curr_loc`` in {home, work, other} and
``prev_steps`` in {1, 2, 3, 4} (a binned previous-day step count). The 12 combinations are the
*context cells*; everything in the simulator refers to a cell by its integer index
given by :func:`cell_index` (``curr_loc`` major, ``prev_steps`` minor).
"""

from __future__ import annotations

import numpy as np

CURR_LOC: tuple[str, ...] = ("home", "work", "other")
PREV_STEPS: tuple[int, ...] = (1, 2, 3, 4)
N_CELLS: int = len(CURR_LOC) * len(PREV_STEPS)

#: ``curr_loc`` of each cell, in cell order.
CELL_CURR_LOC: tuple[str, ...] = tuple(loc for loc in CURR_LOC for _ in PREV_STEPS)
#: ``prev_steps`` of each cell, in cell order.
CELL_PREV_STEPS: tuple[int, ...] = tuple(steps for _ in CURR_LOC for steps in PREV_STEPS)
#: Human-readable label of each cell, e.g. ``"home/1"``.
CELL_LABELS: tuple[str, ...] = tuple(
    f"{loc}/{steps}" for loc, steps in zip(CELL_CURR_LOC, CELL_PREV_STEPS, strict=True)
)
#: Names of the columns of :func:`context_features`.
CONTEXT_FEATURE_NAMES: tuple[str, ...] = ("prev_steps",) + tuple(
    f"curr_loc[{loc}]" for loc in CURR_LOC
)


def cell_index(curr_loc: str, prev_steps: int) -> int:
    """Return the index of the context cell ``(curr_loc, prev_steps)``.

    Raises
    ------
    ValueError
        If either level is not one of the paper's levels.
    """
    if curr_loc not in CURR_LOC:
        raise ValueError(f"`curr_loc` must be one of {list(CURR_LOC)}, got {curr_loc!r}")
    if prev_steps not in PREV_STEPS:
        raise ValueError(f"`prev_steps` must be one of {list(PREV_STEPS)}, got {prev_steps!r}")
    return CURR_LOC.index(curr_loc) * len(PREV_STEPS) + PREV_STEPS.index(prev_steps)


def context_features() -> np.ndarray:
    """Return the stage-2 context features of every cell, shape ``(n_cells, 4)``.

    Columns are ``prev_steps`` (numeric, 1..4) and a one-hot encoding of ``curr_loc``
    (see :data:`CONTEXT_FEATURE_NAMES`), as the paper's "context" agents use them.
    """
    features = np.zeros((N_CELLS, len(CONTEXT_FEATURE_NAMES)))
    features[:, 0] = CELL_PREV_STEPS
    for cell, loc in enumerate(CELL_CURR_LOC):
        features[cell, 1 + CURR_LOC.index(loc)] = 1.0
    return features
