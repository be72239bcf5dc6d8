"""A trial stepped by hand is the simulator's replicate 0, round for round."""

from __future__ import annotations

import numpy as np
import pytest

import gambitts
from gambitts.agents import StdTS
from gambitts.errors import InputError


@pytest.fixture(scope="module")
def simulated():
    return gambitts.simulate("var_decomp_linear", replicates=2, horizon=30, seed=4).regret.sel(
        noise_level="sd_1", agent="poGAMBITTS", replicate=0
    )


def test_playing_a_simulated_agents_prompts_gives_its_rewards_and_regret(simulated):
    trial = gambitts.Trial("linear_3d", n_prompts=5, noise_level=1, seed=4, horizon=30)
    first = trial.reset()
    assert trial.cell == int(simulated["context_cell"][0])
    assert set(first) == {"curr_loc", "prev_steps"}
    rounds = [trial.step(int(action)) for action in simulated["action"].values]
    np.testing.assert_array_equal(
        np.array([r.reward for r in rounds], dtype=np.float32), simulated["reward"].values
    )
    np.testing.assert_allclose([r.regret for r in rounds], simulated["regret"].values, rtol=1e-6)
    assert [r.cell for r in rounds] == simulated["context_cell"].values.tolist()
    assert [r.t for r in rounds] == list(range(1, 31))
    assert set(rounds[0].z) >= {"optimism", "formality", "severity"}


def test_reset_replays_the_same_rounds_and_the_horizon_is_enforced():
    trial = gambitts.Trial(n_prompts=3, seed=1, horizon=4)
    trial.reset()
    once = [trial.step(0) for _ in range(4)]
    with pytest.raises(InputError, match="the trial's 4 rounds are played"):
        trial.step(0)
    trial.reset()
    assert [trial.step(0) for _ in range(4)] == once


def test_an_agent_can_be_driven_by_hand():
    trial = gambitts.Trial("linear_3d", n_prompts=5, seed=0, horizon=300)
    agent = StdTS(len(trial.prompts), trial.n_cells).reset(1)
    rng = np.random.default_rng(0)
    trial.reset()
    regret = []
    for _ in range(300):
        cell = np.array([trial.cell])
        prompt = int(agent.select(cell, rng)[0])
        played = trial.step(prompt)
        agent.update(cell, np.array([prompt]), np.zeros((1, 0)), np.array([played.reward]))
        regret.append(played.regret)
    assert np.mean(regret[-100:]) < np.mean(regret[:100])  # it learns


def test_bad_prompts_and_steps_before_reset_are_one_line():
    trial = gambitts.Trial(n_prompts=3, horizon=5)
    with pytest.raises(InputError, match="call `reset\\(\\)` before stepping"):
        trial.step(0)
    trial.reset()
    for bad in (3, -1, 1.0, True):
        with pytest.raises(InputError, match="`prompt` must be an index 0..2"):
            trial.step(bad)
    with pytest.raises(InputError, match="`horizon` must be a positive whole number"):
        gambitts.Trial(horizon=0)
