"""A live policy: floored Thompson-sampling probabilities that are the ones actually used."""

from __future__ import annotations

import numpy as np
import pytest

from gambitts.agents.registry import agent_spec
from gambitts.design.contexts import PAPER_CONTEXTS
from gambitts.errors import InputError
from gambitts.live.policy import Policy, floor_probabilities

N_PROMPTS = 4


@pytest.mark.parametrize(
    "p,floor,expected",
    [
        ([1.0, 0.0, 0.0], 0.1, [0.8, 0.1, 0.1]),
        ([0.5, 0.3, 0.2], 0.1, [0.5, 0.3, 0.2]),  # already above the floor: unchanged
        ([0.6, 0.38, 0.02], 0.05, [0.585, 0.365, 0.05]),
        ([0.25, 0.25, 0.25, 0.25], 0.25, [0.25, 0.25, 0.25, 0.25]),
        ([0.9, 0.1], 0.0, [0.9, 0.1]),
    ],
)
def test_flooring_is_the_closest_vector_above_the_floor(p, floor, expected):
    q = floor_probabilities(np.array(p), floor)
    np.testing.assert_allclose(q, expected, atol=1e-12)
    assert q.sum() == pytest.approx(1.0) and (q >= floor - 1e-15).all()


def test_flooring_beats_every_other_feasible_vector():
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = rng.dirichlet(np.full(5, 0.3))
        q = floor_probabilities(p, 0.08)
        others = 0.08 + rng.dirichlet(np.ones(5), size=500) * (1 - 5 * 0.08)
        assert np.linalg.norm(q - p) <= np.linalg.norm(others - p, axis=1).min() + 1e-12


def test_an_impossible_floor_is_refused():
    with pytest.raises(InputError, match=r"`min_probability` must be in \[0, 1/4\] for 4 prompts"):
        floor_probabilities(np.full(4, 0.25), 0.3)


def _stdts_policy(**options) -> Policy:
    return Policy(agent_spec("StdTS"), N_PROMPTS, PAPER_CONTEXTS, **options)


def test_with_the_prior_alone_every_prompt_is_equally_likely():
    policy = _stdts_policy(propensity_draws=8000)
    p = policy.probabilities(3, np.random.default_rng(1))
    np.testing.assert_allclose(p, 0.25, atol=0.02)  # MC sd 0.005


def test_the_logged_probability_is_the_probability_thompson_sampling_plays_with():
    policy = _stdts_policy(propensity_draws=20_000)
    rewards = {0: 77.0, 1: 78.0, 2: 76.5, 3: 77.2}
    prompts = np.repeat(np.arange(N_PROMPTS), 3)
    policy.update(np.zeros(12, int), prompts, np.zeros((12, 0)), [rewards[a] for a in prompts])
    p = policy.probabilities(0, np.random.default_rng(2))
    single = Policy(agent_spec("StdTS"), N_PROMPTS, PAPER_CONTEXTS, propensity_draws=1)
    single.update(np.zeros(12, int), prompts, np.zeros((12, 0)), [rewards[a] for a in prompts])
    rng = np.random.default_rng(3)
    plays = [int(single.agent.select(np.zeros(1, int), rng)[0]) for _ in range(20_000)]
    frequency = np.bincount(plays, minlength=N_PROMPTS) / len(plays)
    np.testing.assert_allclose(p, frequency, atol=0.015)  # two MC estimates, sd <= 0.005 each
    assert p.argmax() == 1


def test_decisions_are_drawn_from_the_logged_probabilities():
    policy = _stdts_policy(min_probability=0.05, propensity_draws=500, seed=7)
    policy.update(np.zeros(8, int), np.repeat([0, 1], 4), np.zeros((8, 0)), [80.0] * 4 + [70.0] * 4)
    decisions = [policy.decide(0, number) for number in range(3000)]
    for d in decisions:
        assert d.probabilities.min() >= 0.05 - 1e-12 and d.probabilities.sum() == pytest.approx(1)
        assert d.version == 1
    mean = np.mean([d.probabilities for d in decisions], axis=0)
    frequency = np.bincount([d.prompt for d in decisions], minlength=N_PROMPTS) / 3000
    np.testing.assert_allclose(frequency, mean, atol=0.03)  # sd <= 0.009
    assert mean[1] == pytest.approx(0.05, abs=0.01)  # the bad prompt sits at the floor


def test_a_decision_is_reproduced_by_its_seed_and_number():
    first, again = _stdts_policy(seed=3), _stdts_policy(seed=3)
    a, b = first.decide(5, 17), again.decide(5, 17)
    assert a.prompt == b.prompt and np.array_equal(a.probabilities, b.probabilities)
    assert _stdts_policy(seed=4).decide(5, 17).probabilities.tolist() != a.probabilities.tolist()


@pytest.mark.parametrize("kind", ["StdTS:Contextual", "foGAMBITTS", "poGAMBITTS"])
def test_updating_in_steps_ends_where_updating_at_once_does(kind):
    dims = {} if kind.startswith("StdTS") else {"dims": ["a", "b"]}
    rng = np.random.default_rng(5)
    cells, prompts = rng.integers(0, 12, 30), rng.integers(0, N_PROMPTS, 30)
    z, rewards = rng.normal(size=(30, 2)), rng.normal(77, 2, size=30)
    means = rng.normal(size=(12, N_PROMPTS, 2))
    policies = [
        Policy(agent_spec(kind, **dims), N_PROMPTS, PAPER_CONTEXTS, propensity_draws=50,
               generator_means=means)
        for _ in range(2)
    ]  # fmt: skip
    policies[0].update(cells, prompts, z, rewards)
    for chunk in np.array_split(np.arange(30), 4):
        policies[1].update(cells[chunk], prompts[chunk], z[chunk], rewards[chunk])
    a, b = (p.decide(2, 9) for p in policies)
    assert np.array_equal(a.probabilities, b.probabilities) and a.prompt == b.prompt
    assert (policies[0].version, policies[1].version) == (1, 4)


@pytest.mark.parametrize(
    "make,message",
    [
        (
            lambda: Policy(agent_spec("ens-poGAMBITTS", dims=["a"]), 4, PAPER_CONTEXTS),
            "a live study runs StdTS, StdTS:Contextual, poGAMBITTS, foGAMBITTS so far",
        ),
        (lambda: _stdts_policy(min_probability=0.3), r"must be in \[0, 1/4\]"),
        (lambda: _stdts_policy(propensity_draws=0), "`propensity_draws` must be a whole number"),
        (
            lambda: Policy(agent_spec("poGAMBITTS", dims=["a"]), 4, PAPER_CONTEXTS),
            "needs the generator's mean style",
        ),
        (lambda: _stdts_policy().decide(12, 0), r"`cell` must be 0..11, got 12"),
    ],
    ids=["ensemble", "floor", "draws", "means", "cell"],
)
def test_what_a_live_policy_cannot_do_is_one_line(make, message):
    with pytest.raises(InputError, match=message):
        make()
