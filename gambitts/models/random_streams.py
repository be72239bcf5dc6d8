"""Random numbers for many replicates at once, one independent stream per replicate.

A simulation runs all replicates in lockstep, so every draw is a batch ``(n_replicates, n)``.
:class:`ReplicateRandom` gives replicate ``r`` its own :class:`numpy.random.Generator`, seeded
from its own :class:`numpy.random.SeedSequence`, so replicate ``r``'s numbers do not depend on
how many other replicates run beside it. Draws are served from per-replicate buffers that are
refilled every few hundred rounds (one pass over the replicates per refill, not per round).

:func:`as_replicate_random` also accepts a plain :class:`numpy.random.Generator`, which is the
simplest choice for a single replicate or an analysis outside the simulator.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class BatchRandom:
    """Sampling algorithms shared by every batched source of randomness.

    Subclasses provide :meth:`standard_normal`, :meth:`standard_exponential` and :meth:`random`
    for fixed-size batches, and the ``*_where`` variants that draw only for the entries of a
    mask (each replicate consuming just as many numbers as its row of the mask selects).
    """

    n_replicates: int

    def standard_normal(self, n: int) -> np.ndarray:  # pragma: no cover - abstract
        """Return ``(n_replicates, n)`` standard normal draws."""
        raise NotImplementedError

    def standard_exponential(self, n: int) -> np.ndarray:  # pragma: no cover - abstract
        """Return ``(n_replicates, n)`` standard exponential draws."""
        raise NotImplementedError

    def random(self, n: int) -> np.ndarray:  # pragma: no cover - abstract
        """Return ``(n_replicates, n)`` uniform draws on [0, 1)."""
        raise NotImplementedError

    def _where(self, kind: str, mask: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def standard_gamma(self, shape: np.ndarray) -> np.ndarray:
        """Draw ``Gamma(shape, 1)`` variates, one per entry of ``shape``.

        Marsaglia and Tsang's method: every entry gets a first candidate, and only rejected
        entries draw again, from their own replicate's stream, until all are accepted. Shapes
        below 1 use the boost ``Gamma(a) = Gamma(a + 1) * U ** (1 / a)``.

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
        boosted = flat < 1.0
        a = np.where(boosted, flat + 1.0, flat)
        d = a - 1.0 / 3.0
        c = 1.0 / np.sqrt(9.0 * d)
        m = flat.shape[1]
        draws = _marsaglia_tsang(self.standard_normal(m), self.standard_exponential(m), d, c)
        rejected = np.isnan(draws)
        while rejected.any():
            draws[rejected] = _marsaglia_tsang(
                self._where("normal", rejected),
                self._where("exponential", rejected),
                d[rejected],
                c[rejected],
            )
            rejected = np.isnan(draws)
        if boosted.any():
            draws[boosted] *= np.exp(-self._where("exponential", boosted) / flat[boosted])
        return draws.reshape(shape.shape)


def _marsaglia_tsang(x: np.ndarray, e: np.ndarray, d: np.ndarray, c: np.ndarray) -> np.ndarray:
    """One Marsaglia-Tsang candidate per entry: the Gamma(d + 1/3) draw, or NaN if rejected.

    ``x`` is standard normal and ``e = -log(U)`` standard exponential.
    """
    t = 1.0 + c * x
    v = t * t * t
    with np.errstate(invalid="ignore"):
        log_v = np.log(v)  # NaN where v <= 0, which rejects below
        accept = -e < 0.5 * x * x + d - d * v + d * log_v
    return np.where(accept, d * v, np.nan)


class _ReplicateBuffer:
    """Numbers of one kind for each replicate, drawn ahead in blocks from its own generator.

    Each replicate has its own read position, so replicates may consume different amounts;
    a refill keeps every replicate's unread numbers and appends the next ones from its stream.
    """

    def __init__(self, generators: list[np.random.Generator], kind: str, capacity: int) -> None:
        self._generators = generators
        self._fill = {
            "normal": np.random.Generator.standard_normal,
            "exponential": np.random.Generator.standard_exponential,
            "uniform": np.random.Generator.random,
        }[kind]
        self._values = np.empty((len(generators), 0))
        self._position = np.zeros(len(generators), dtype=np.int64)
        self._capacity = capacity

    def _ensure(self, n: int) -> None:
        """Make sure every replicate has at least ``n`` unread numbers."""
        if self._position.max(initial=0) + n <= self._values.shape[1]:
            return
        capacity = max(self._capacity, 2 * n)
        values = np.empty((len(self._generators), capacity))
        for row, (generator, start) in enumerate(zip(self._generators, self._position, strict=True)):
            unread = self._values[row, start:]
            values[row, : len(unread)] = unread
            self._fill(generator, out=values[row, len(unread) :])
        self._values = values
        self._position[:] = 0

    def take(self, n: int) -> np.ndarray:
        """Return the next ``n`` numbers of every replicate, shape ``(n_replicates, n)``."""
        self._ensure(n)
        start = self._position + np.arange(len(self._position)) * self._values.shape[1]
        self._position += n
        return self._values.take(start[:, None] + np.arange(n))

    def take_where(self, mask: np.ndarray) -> np.ndarray:
        """Return one number per ``True`` entry of ``mask`` (row-major order), drawn by its row."""
        rows, _ = np.nonzero(mask)
        counts = np.bincount(rows, minlength=len(self._position))
        self._ensure(int(counts.max(initial=0)))
        rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
        values = self._values[rows, self._position[rows] + rank]
        self._position += counts
        return values


class ReplicateRandom(BatchRandom):
    """Independent random streams for a batch of replicates.

    Parameters
    ----------
    seeds : sequence of numpy.random.SeedSequence
        One seed sequence per replicate; replicate ``r`` draws only from ``seeds[r]``.
    capacity : int, default 4096
        How many numbers of each kind every replicate draws ahead per refill
        (memory: ``8 * capacity * n_replicates`` bytes per kind).

    Notes
    -----
    The numbers replicate ``r`` receives depend only on ``seeds[r]`` and on its own sequence of
    requests, never on the other replicates or on how many there are. Each kind of number
    (normal, exponential, uniform) comes from its own child stream of ``seeds[r]``.
    """

    def __init__(self, seeds: Sequence[np.random.SeedSequence], capacity: int = 4096) -> None:
        if len(seeds) == 0:
            raise ValueError("`seeds` must hold one SeedSequence per replicate, got none")
        if capacity < 1:
            raise ValueError(f"`capacity` must be a positive integer, got {capacity}")
        self._buffers = {
            kind: _ReplicateBuffer([_child_generator(seed, k) for seed in seeds], kind, capacity)
            for k, kind in enumerate(("normal", "exponential", "uniform"))
        }

    @property
    def n_replicates(self) -> int:
        """Number of replicates (rows of every draw)."""
        return len(self._buffers["normal"]._generators)

    def standard_normal(self, n: int) -> np.ndarray:
        """Return ``(n_replicates, n)`` standard normal draws."""
        return self._buffers["normal"].take(n)

    def standard_exponential(self, n: int) -> np.ndarray:
        """Return ``(n_replicates, n)`` standard exponential draws."""
        return self._buffers["exponential"].take(n)

    def random(self, n: int) -> np.ndarray:
        """Return ``(n_replicates, n)`` uniform draws on [0, 1)."""
        return self._buffers["uniform"].take(n)

    def _where(self, kind: str, mask: np.ndarray) -> np.ndarray:
        return self._buffers[kind].take_where(mask)


def _child_generator(seed: np.random.SeedSequence, key: int) -> np.random.Generator:
    """Generator of the ``key``-th child of ``seed``, without spawning from (mutating) it."""
    child = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, key))
    return np.random.default_rng(child)


class _SharedGenerator(BatchRandom):
    """All replicates drawn from one :class:`numpy.random.Generator`."""

    def __init__(self, rng: np.random.Generator, n_replicates: int) -> None:
        self._rng = rng
        self.n_replicates = n_replicates

    def standard_normal(self, n: int) -> np.ndarray:
        return self._rng.standard_normal((self.n_replicates, n))

    def standard_exponential(self, n: int) -> np.ndarray:
        return self._rng.standard_exponential((self.n_replicates, n))

    def random(self, n: int) -> np.ndarray:
        return self._rng.random((self.n_replicates, n))

    def _where(self, kind: str, mask: np.ndarray) -> np.ndarray:
        draw = {
            "normal": self._rng.standard_normal,
            "exponential": self._rng.standard_exponential,
            "uniform": self._rng.random,
        }[kind]
        return draw(int(mask.sum()))


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
