"""Models of the two stages: priors, exact (conjugate) posteriors and their PyMC declarations.

The PyMC builders (:func:`build_arm_reward_model`, :func:`build_outcome_model`,
:func:`build_treatment_model`) live in :mod:`gambitts.models.pymc_models` and are imported
lazily here, because importing PyMC takes seconds and the exact posteriors do not need it.
"""

from __future__ import annotations

from typing import Any

from gambitts.models.conjugate import (
    BayesianLinearRegression,
    NormalInverseGamma,
    NormalInverseWishart,
)
from gambitts.models.priors import LinearPrior, NormalInverseGammaPrior, NormalInverseWishartPrior
from gambitts.models.random_streams import ReplicateRandom

_PYMC_BUILDERS = ("build_arm_reward_model", "build_outcome_model", "build_treatment_model")

__all__ = [
    "BayesianLinearRegression",
    "LinearPrior",
    "NormalInverseGamma",
    "NormalInverseGammaPrior",
    "NormalInverseWishart",
    "NormalInverseWishartPrior",
    "ReplicateRandom",
    *_PYMC_BUILDERS,
]


def __getattr__(name: str) -> Any:
    if name in _PYMC_BUILDERS:
        from gambitts.models import pymc_models

        return getattr(pymc_models, name)
    raise AttributeError(f"module 'gambitts.models' has no attribute {name!r}")
