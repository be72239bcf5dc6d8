"""A live study on SQLite and on PostgreSQL: decide, record late outcomes, update, replay."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
import sqlalchemy as sa

from gambitts.errors import InputError
from gambitts.live.study import Study

STUDY = """\
name: pilot
contexts:
  variables:
    - {name: time_of_day, levels: [morning, evening]}
    - {name: day, levels: [weekday, weekend]}
prompts:
  - {id: warm, text: Write a warm reminder.}
  - {id: brief, text: Write a brief reminder.}
  - {id: urgent, text: Write an urgent reminder.}
agent: {kind: foGAMBITTS, dims: [warmth, urgency], prior: {intercept_mean: 6.0}}
min_probability: 0.05
propensity_draws: 400
seed: 11
"""
EVENING = {"time_of_day": "evening", "day": "weekday"}


@pytest.fixture
def study(tmp_path, database):
    (tmp_path / "study.yaml").write_text(STUDY)
    with Study.init(tmp_path / "study.yaml", database) as made:
        yield made


def _run(study: Study, n: int, rng: np.random.Generator, start: int = 0) -> None:
    """Decide ``n`` times; rewards favour the urgent prompt in the evening."""
    for i in range(start, start + n):
        context = {"time_of_day": ["morning", "evening"][i % 2], "day": "weekday"}
        decision = study.decide(f"p{i % 5}", context)
        z = [float(decision.prompt == 0), float(decision.prompt == 2)]
        reward = 6.0 + (1.0 if decision.prompt == 2 and i % 2 else 0.0) + rng.normal(0, 0.3)
        study.record(decision.number, z=z)
        if i % 10 != 3:  # 10% of rewards never arrive
            study.record(decision.number, reward=reward)
        if i % 20 == 19:
            study.update()


def test_decisions_are_logged_with_floored_probabilities(study):
    decision = study.decide("p1", EVENING)
    assert decision.number == 0 and decision.version == 0
    assert decision.probabilities.min() >= 0.05 and decision.probabilities.sum() == pytest.approx(1)
    with study.engine.connect() as connection:
        row = connection.execute(
            sa.text("SELECT participant, cell, prompt, probabilities FROM decisions")
        ).one()
    assert tuple(row[:3]) == ("p1", 2, decision.prompt)
    assert np.array_equal(json.loads(row[3]), decision.probabilities)  # exactly as used


def test_a_sqlite_study_writes_ahead(tmp_path):
    (tmp_path / "study.yaml").write_text(STUDY)
    with Study.init(tmp_path / "study.yaml") as made:
        made.decide("p1", EVENING)
    with sqlite3.connect(tmp_path / "study.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_repeated_client_id_returns_the_same_decision(study):
    first = study.decide("p1", EVENING, client_id="req-1")
    again = study.decide("p1", EVENING, client_id="req-1")
    assert (again.number, again.prompt) == (first.number, first.prompt)
    assert study.status()["decisions"] == 1


def test_the_policy_learns_and_replays_exactly_after_reopening(study, database):
    _run(study, 120, np.random.default_rng(0))
    status = study.status()
    assert status["decisions"] == 120 and status["policy_version"] == 6
    assert status["pending"] == 12  # the rewards that never came
    with Study.open(database) as reopened:
        _check_reopened(study, reopened)


def _check_reopened(study: Study, reopened: Study) -> None:
    assert reopened.policy.version == 6
    assert reopened.policy.n_observations == study.policy.n_observations == 108
    assert reopened.replay() == 120
    late = reopened.decide("p9", EVENING)
    assert late.probabilities.argmax() == 2  # urgent wins in the evening
    rebuilt, original = reopened.policy.decide(2, 500), study.policy.decide(2, 500)
    assert np.array_equal(rebuilt.probabilities, original.probabilities)  # same posterior


def test_a_tampered_log_fails_the_replay(study, database):
    _run(study, 40, np.random.default_rng(1))
    with study.engine.begin() as connection:
        connection.execute(sa.text("UPDATE outcomes SET reward = reward + 1 WHERE decision = 5"))
    with Study.open(database) as reopened, pytest.raises(InputError, match="does not replay"):
        reopened.replay()


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda s: s.record(99, reward=1.0), "no decision 99"),
        (lambda s: s.record(0, reward=float("nan")), "`reward` must be a finite number"),
        (lambda s: s.record(0, reward="6"), "`reward` must be a finite number"),
        (lambda s: s.record(0, z=[1.0]), "`z` must be 2 finite numbers"),
        (lambda s: s.record(0), "give `z`, `reward` or both"),
        (lambda s: s.decide("p1", {"time_of_day": "night", "day": "weekday"}), "night"),
        (lambda s: s.decide("", EVENING), "`participant` must be an id"),
        (lambda s: s.decide("p" * 201, EVENING), "`participant` must be an id of 1 to 200"),
        (lambda s: s.decide("p1", EVENING, client_id=7), "`client_id` must be an id"),
    ],
    ids=[
        "unknown",
        "nan",
        "text",
        "z-length",
        "nothing",
        "level",
        "participant",
        "long-id",
        "client-id",
    ],
)
def test_bad_records_are_refused_and_write_nothing(study, call, message):
    study.decide("p1", EVENING)
    with pytest.raises(InputError, match=message):
        call(study)
    assert study.status()["rewarded"] == 0


def test_a_second_different_reward_is_refused_and_the_same_one_accepted(study):
    number = study.decide("p1", EVENING).number
    study.record(number, reward=6.5)
    study.record(number, reward=6.5)
    with pytest.raises(InputError, match="already has reward 6.5, not 7.0"):
        study.record(number, reward=7.0)


def test_a_study_database_is_made_once_and_checked_when_opened(study, tmp_path, database):
    with pytest.raises(InputError, match="already holds a study"):
        Study.init(tmp_path / "study.yaml", database).close()
    with study.engine.begin() as connection:
        connection.execute(sa.text("UPDATE meta SET value = '0' WHERE key = 'schema_version'"))
    with pytest.raises(InputError, match="has study schema '0'; this gambitts reads schema '1'"):
        Study.open(database)
    with pytest.raises(InputError, match="no study database at"):
        Study.open(tmp_path / "missing.db")
    sqlite3.connect(tmp_path / "empty.db").close()
    with pytest.raises(InputError, match="holds no study"):
        Study.open(tmp_path / "empty.db")


@pytest.mark.parametrize(
    "change,message",
    [
        ("min_probability: 0.05", "min_probability: 0.5"),
        ("agent: {kind: foGAMBITTS", "agent: {kind: ens-poGAMBITTS"),
        ("name: pilot", "name: pilot\ncolour: red"),
    ],
)
def test_a_bad_study_file_is_one_line(tmp_path, change, message):
    text = STUDY.replace(*((change, message)))
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(InputError) as error:
        Study.init(tmp_path / "bad.yaml")
    assert "\n" not in str(error.value)
    assert not (tmp_path / "bad.db").exists()


def test_the_export_holds_the_log_and_the_current_posterior(study, tmp_path):
    import arviz as az
    import xarray as xr

    _run(study, 30, np.random.default_rng(2))
    path = study.export(tmp_path / "log.nc")
    with xr.open_dataset(path, engine="h5netcdf") as log:
        assert log.sizes["decision"] == 30 and list(log["prompt_option"].values) == [
            "warm", "brief", "urgent",
        ]  # fmt: skip
        np.testing.assert_allclose(log["probability"].sum("prompt_option"), 1.0)
        assert int(log["reward"].isnull().sum()) == 3  # decisions 3, 13, 23 are pending
        assert (log["folded_in"].values[:20] == 1).sum() == 18  # version 1 folded 0..19's
        assert list(log["time_of_day"].values[:2]) == ["morning", "evening"]
        assert list(log["dim"].values) == ["warmth", "urgency"]
        assert log.attrs["policy_version"] == 1
    posterior = az.from_netcdf(path).posterior
    assert list(posterior["feature"].values) == ["warmth", "urgency", "intercept"]
    assert posterior["mu"].sizes == {"chain": 1, "draw": 1000, "cell": 4, "arm": 3, "dim": 2}


def test_a_failed_update_keeps_the_last_good_policy_and_says_so(study, monkeypatch):
    import gambitts.live.study as live_study

    _run(study, 20, np.random.default_rng(3))  # version 1
    for _ in range(5):
        decision = study.decide("p1", EVENING)
        study.record(decision.number, z=[0.0, 1.0], reward=7.0)

    def broken(policy):
        raise FloatingPointError("a non-finite posterior")

    monkeypatch.setattr(live_study, "_check_policy", broken)
    assert study.update() == 0
    status = study.status()
    assert (
        status["policy_version"] == 1
        and "FloatingPointError: a non-finite" in (status["last_update_failure"])
    )
    assert study.decide("p2", EVENING).version == 1  # still deciding, with the good version
    monkeypatch.undo()
    assert study.update() == 5 and study.policy.version == 2  # the outcomes were kept
    assert study.replay() == 26


def test_a_study_may_update_after_each_outcome(tmp_path, database):
    (tmp_path / "each.yaml").write_text(STUDY + "update: each_outcome\n")
    with Study.init(tmp_path / "each.yaml", database) as study:
        decision = study.decide("p1", EVENING)
        study.record(decision.number, z=[1.0, 0.0])
        assert study.policy.version == 0  # no reward yet: nothing to fold
        study.record(decision.number, reward=6.0)
        assert study.policy.version == 1 and study.decide("p1", EVENING).version == 1
