"""Random numbers for many replicates at once, one independent stream per replicate.

A simulation runs all replicates in lockstep, so every draw is a batch ``(n_replicates, n)``.
:class:`ReplicateRandom` gives replicate ``r`` its own :class:`numpy.random.Generator`, seeded
from its own :class:`numpy.random.SeedSequence`, so replicate ``r``'s numbers do not depend on
how many other replicates run beside it. Draws are served from per-replicate blocks that are
refilled every ``block`` calls (one pass over the replicates per block, not per round).

:func:`as_replicate_random` also accepts a plain :class:`numpy.random.Generator`, which is the
simplest choice for a single replicate or an analysis outside the simulator.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import special

_GAMMA_ATTEMPTS = 3


class BatchRandom:
    """Shared sampling algorithms on top of batched uniform and normal draws."""

    n_replicates: int

    def standard_normal(self, n: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def random(self, n: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def standard_gamma(self, shape: np.ndarray) -> np.ndarray:
        """Draw ``Gamma(shape, 1)`` variates, one per entry of ``shape``.

        Marsaglia and Tsang's squeeze-free method with a fixed number of candidates per
        variate (so every replicate consumes the same amount of randomness per call); in the
        rare case that all candidates are rejected the variate is drawn exactly by inverting the
        CDF. Shapes below 1 use the boost ``Gamma(a) = Gamma(a + 1) * U ** (1 / a)``.

        Parameters
        ----------
        shape : ndarray, shape (n_replicates, ...)
            Positive shape parameters.

        Returns
        -------
        ndarray
            Same shape as ``shape``.
        """
        shape = np.asarray(shape, dtype=float)
        if shape.shape[:1] != (self.n_replicates,):
            raise ValueError(
                f"`shape` must have leading axis {self.n_replicates} (one row per replicate), "
                f"got array of shape {shape.shape}"
            )
        flat = shape.reshape(self.n_replicates, -1)
        m = flat.shape[1]
        normals = self.standard_normal(_GAMMA_ATTEMPTS * m).reshape(-1, _GAMMA_ATTEMPTS, m)
        uniforms = self.random((_GAMMA_ATTEMPTS + 2) * m).reshape(-1, _GAMMA_ATTEMPTS + 2, m)
        boosted = flat < 1.0
        a = np.where(boosted, flat + 1.0, flat)
        d = a - 1.0 / 3.0
        c = 1.0 / np.sqrt(9.0 * d)
        draws = _marsaglia_tsang(normals[:, 0], uniforms[:, 0], d, c)
        for attempt in range(1, _GAMMA_ATTEMPTS):
            rejected = np.isnan(draws)
            if not rejected.any():
                break
            draws[rejected] = _marsaglia_tsang(
                normals[:, attempt][rejected], uniforms[:, attempt][rejected], d[rejected], c[rejected]
            )
        rejected = np.isnan(draws)
        if rejected.any():
            draws[rejected] = special.gammaincinv(a[rejected], uniforms[:, -2][rejected])
        if boosted.any():
            draws[boosted] *= uniforms[:, -1][boosted] ** (1.0 / flat[boosted])
        return draws.reshape(shape.shape)


def _marsaglia_tsang(x: np.ndarray, u: np.ndarray, d: np.ndarray, c: np.ndarray) -> np.ndarray:
    """One Marsaglia-Tsang candidate per entry: the Gamma(d + 1/3) draw, or NaN if rejected."""
    t = 1.0 + c * x
    v = t * t * t
    with np.errstate(invalid="ignore"):
        log_v = np.log(v)  # NaN where v <= 0, which rejects below
        accept = np.log(u) < 0.5 * x * x + d - d * v + d * log_v
    return np.where(accept, d * v, np.nan)


_DRAWS = {"normal": np.random.Generator.standard_normal, "uniform": np.random.Generator.random}


class ReplicateRandom(BatchRandom):
    """Independent random streams for a batch of replicates.

    Parameters
    ----------
    seeds : sequence of numpy.random.SeedSequence
        One seed sequence per replicate; replicate ``r`` draws only from ``seeds[r]``.
    block_values : int, default 16384
        How many numbers of one kind each replicate draws per refill of its buffer
        (memory: ``8 * block_values * n_replicates`` bytes per kind and size).

    Notes
    -----
    The numbers replicate ``r`` receives depend only on ``seeds[r]`` and on the sequence of
    calls (their kinds and sizes), never on the other replicates. Callers must therefore make
    the same calls whatever their data; all agents in :mod:`gambitts.agents` do.
    """

    def __init__(self, seeds: Sequence[np.random.SeedSequence], block_values: int = 16384) -> None:
        if len(seeds) == 0:
            raise ValueError("`seeds` must hold one SeedSequence per replicate, got none")
        if block_values < 1:
            raise ValueError(f"`block_values` must be a positive integer, got {block_values}")
        self._generators = [np.random.default_rng(seed) for seed in seeds]
        self._block_values = block_values
        self._buffers: dict[tuple[str, int], list] = {}

    @property
    def n_replicates(self) -> int:
        """Number of replicates (rows of every draw)."""
        return len(self._generators)

    def _next(self, kind: str, n: int) -> np.ndarray:
        key = (kind, n)
        entry = self._buffers.get(key)
        if entry is None or entry[1] == len(entry[0]):
            calls = max(1, self._block_values // n)
            draw = _DRAWS[kind]
            block = np.stack([draw(g, (calls, n)) for g in self._generators], axis=1)
            entry = self._buffers[key] = [block, 0]
        values = entry[0][entry[1]]
        entry[1] += 1
        return values

    def standard_normal(self, n: int) -> np.ndarray:
        """Return ``(n_replicates, n)`` standard normal draws."""
        return self._next("normal", n)

    def random(self, n: int) -> np.ndarray:
        """Return ``(n_replicates, n)`` uniform draws on [0, 1)."""
        return self._next("uniform", n)


class _SharedGenerator(BatchRandom):
    """All replicates drawn from one :class:`numpy.random.Generator`."""

    def __init__(self, rng: np.random.Generator, n_replicates: int) -> None:
        self._rng = rng
        self.n_replicates = n_replicates

    def standard_normal(self, n: int) -> np.ndarray:
        return self._rng.standard_normal((self.n_replicates, n))

    def random(self, n: int) -> np.ndarray:
        return self._rng.random((self.n_replicates, n))




def as_replicate_random(rng: np.random.Generator | BatchRandom, n_replicates: int) -> BatchRandom:
    """Return a batched source of randomness for ``n_replicates`` replicates.

    Parameters
    ----------
    rng : numpy.random.Generator or ReplicateRandom
        A :class:`ReplicateRandom` is returned as is (its size must match); a ``Generator``
        serves all replicates from one stream.
    n_replicates : int
        Number of rows every draw must have.
    """
    if isinstance(rng, BatchRandom):
        if rng.n_replicates != n_replicates:
            raise ValueError(
                f"`rng` serves {rng.n_replicates} replicates but the agent has {n_replicates}; "
                "build the ReplicateRandom with one seed per replicate"
            )
        return rng
    if isinstance(rng, np.random.Generator):
        return _SharedGenerator(rng, n_replicates)
    raise TypeError(
        f"`rng` must be a numpy.random.Generator or a ReplicateRandom, got {type(rng).__name__}; "
        "use numpy.random.default_rng(seed)"
    )
