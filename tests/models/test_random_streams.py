"""Per-replicate random streams: exact distributions and independence from batch composition."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from gambitts.models.random_streams import ReplicateRandom, as_replicate_random

N_REPLICATES = 200


@pytest.fixture
def streams() -> ReplicateRandom:
    return ReplicateRandom(np.random.SeedSequence(11).spawn(N_REPLICATES))


@pytest.mark.parametrize("shape", [0.3, 0.5, 1.0, 2.5, 40.0], ids=lambda a: f"a={a}")
def test_gamma_draws_follow_the_gamma_distribution(streams, shape):
    # 200 x 500 = 100,000 draws: the KS statistic's 0.1% critical value is 1.95 / sqrt(n) = 0.0062;
    # a wrong sampler (e.g. dropping the shape < 1 boost, or an off-by-1/3 d) is off by >> 0.05.
    draws = np.concatenate(
        [streams.standard_gamma(np.full((N_REPLICATES, 50), shape)).ravel() for _ in range(10)]
    )
    n = draws.size
    assert stats.kstest(draws, stats.gamma(shape).cdf).statistic < 1.95 / np.sqrt(n)
    # Mean within 5 standard errors (sd of a Gamma(a) is sqrt(a)).
    assert abs(draws.mean() - shape) < 5 * np.sqrt(shape / n)


def test_normal_draws_are_standard_normal(streams):
    draws = streams.standard_normal(500)
    n = draws.size
    assert abs(draws.mean()) < 5 / np.sqrt(n)
    assert abs(draws.var() - 1) < 5 * np.sqrt(2 / n)


def test_each_replicate_gets_its_own_numbers_whatever_the_batch(rng):
    # Replicates consume different amounts (shapes differ, rejections differ), across refills.
    seeds = np.random.SeedSequence(3).spawn(12)
    shapes = rng.uniform(0.2, 5.0, size=(12, 4))
    whole = ReplicateRandom(seeds, capacity=16)
    part = ReplicateRandom(seeds[5:], capacity=64)
    for _ in range(200):
        np.testing.assert_array_equal(
            whole.standard_gamma(shapes)[5:], part.standard_gamma(shapes[5:])
        )
        np.testing.assert_array_equal(whole.standard_normal(3)[5:], part.standard_normal(3))


def test_replicates_streams_differ(streams):
    draws = streams.standard_normal(4)
    assert len({tuple(row) for row in draws}) == N_REPLICATES


def test_a_plain_generator_serves_all_replicates():
    batch = as_replicate_random(np.random.default_rng(0), 3)
    assert batch.standard_normal(2).shape == (3, 2)
    assert batch.standard_gamma(np.ones((3, 5))).shape == (3, 5)


def test_errors_say_what_to_fix(streams):
    with pytest.raises(ValueError, match="one SeedSequence per replicate"):
        ReplicateRandom([])
    with pytest.raises(ValueError, match="leading axis 200"):
        streams.standard_gamma(np.ones((3, 2)))
    with pytest.raises(ValueError, match="must be positive"):
        streams.standard_gamma(np.zeros((N_REPLICATES, 1)))
    with pytest.raises(ValueError, match="serves 200 replicates but the agent has 5"):
        as_replicate_random(streams, 5)
    with pytest.raises(TypeError, match="default_rng"):
        as_replicate_random(42, 5)
