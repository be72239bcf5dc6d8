"""Prior hyper-parameters of the built-in models, with the paper's values as defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NoiseMode = Literal["known", "unknown"]


def _require_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"`{name}` must be positive, got {value!r}")


@dataclass(frozen=True)
class NormalInverseGammaPrior:
    """Normal-Inverse-Gamma prior on the mean and variance of a normal reward.

    ``sigma^2 ~ InverseGamma(shape, scale)`` and ``mu | sigma^2 ~ Normal(mean, sigma^2 / count)``.
    Defaults are the paper's StdTS prior.
    """

    mean: float = 77.0
    count: float = 5.0
    shape: float = 1.0
    scale: float = 10.0

    def __post_init__(self) -> None:
        _require_positive(count=self.count, shape=self.shape, scale=self.scale)


@dataclass(frozen=True)
class LinearPrior:
    """Prior of the stage-2 Bayesian linear regression ``Y = features . beta + e``.

    Coefficients are independent normals with mean ``coef_mean`` and precision
    ``coef_precision``; the intercept (the last feature) has its own mean and precision.
    With ``noise="known"`` the noise variance is fixed at ``noise_variance`` (the paper fixes it
    at 1). With ``noise="unknown"`` the model is Normal-Inverse-Gamma:
    ``sigma^2 ~ InverseGamma(noise_shape, noise_scale)`` and the coefficient precisions are in
    units of ``1 / sigma^2``. Defaults are the paper's poGAMBITTS prior.
    """

    coef_mean: float = 0.0
    coef_precision: float = 1.0
    intercept_mean: float = 77.0
    intercept_precision: float = 0.01
    noise: NoiseMode = "known"
    noise_variance: float = 1.0
    noise_shape: float = 1.0
    noise_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.noise not in ("known", "unknown"):
            raise ValueError(f"`noise` must be 'known' or 'unknown', got {self.noise!r}")
        _require_positive(
            coef_precision=self.coef_precision,
            intercept_precision=self.intercept_precision,
            noise_variance=self.noise_variance,
            noise_shape=self.noise_shape,
            noise_scale=self.noise_scale,
        )


@dataclass(frozen=True)
class NormalInverseWishartPrior:
    """Normal-Inverse-Wishart prior on the mean and covariance of the treatment ``Z``.

    ``Sigma ~ InverseWishart(dof, scale * I)`` and ``mu | Sigma ~ Normal(mean, Sigma / kappa)``.
    ``dof=None`` means the number of modelled dimensions (the paper's choice).
    """

    mean: float = 0.0
    kappa: float = 1.0
    dof: float | None = None
    scale: float = 1.0

    def __post_init__(self) -> None:
        _require_positive(kappa=self.kappa, scale=self.scale)

    def resolved_dof(self, n_dims: int) -> float:
        """Return the degrees of freedom for ``n_dims`` dimensions (must exceed ``n_dims - 1``)."""
        dof = float(n_dims) if self.dof is None else float(self.dof)
        if dof <= n_dims - 1:
            raise ValueError(f"`dof` must exceed n_dims - 1 = {n_dims - 1}, got {dof}")
        return dof
