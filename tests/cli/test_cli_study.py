"""``gambitts study``: the five-command walk-through of the README, and its one-line errors."""

from __future__ import annotations

import json

from click.testing import CliRunner

from gambitts.cli.main import main

STUDY = """\
name: pilot
contexts:
  variables:
    - {name: time_of_day, levels: [morning, evening]}
prompts:
  - {id: warm, text: Write a warm reminder.}
  - {id: brief, text: Write a brief reminder.}
agent: {kind: foGAMBITTS, dims: [warmth], prior: {intercept_mean: 6.0}}
min_probability: 0.1
"""


def _gambitts(*args: str):
    return CliRunner().invoke(main, list(args))


def test_init_decide_record_update_status_replay(tmp_path):
    (tmp_path / "study.yaml").write_text(STUDY)
    assert _gambitts("study", "init", str(tmp_path / "study.yaml")).exit_code == 0
    db = str(tmp_path / "study.db")
    decided = _gambitts("study", "decide", db, "--participant", "p1", "--context",
                        "time_of_day=evening", "--client-id", "r1")  # fmt: skip
    decision = json.loads(decided.output)
    assert set(decision["probabilities"]) == {"warm", "brief"}
    assert min(decision["probabilities"].values()) >= 0.1
    assert decision["prompt_text"].startswith("Write a")
    again = _gambitts("study", "decide", db, "--participant", "p1", "--context",
                      "time_of_day=evening", "--client-id", "r1")  # fmt: skip
    assert json.loads(again.output) == decision
    recorded = _gambitts("study", "record", db, "0", "--reward", "6.5", "--z", "0.3")
    assert recorded.exit_code == 0
    assert "policy version 1" in _gambitts("study", "update", db).output
    status = _gambitts("study", "status", db).output
    assert "decisions: 1" in status and "pending: 0" in status
    assert "1 decision(s) replay exactly" in _gambitts("study", "replay", db).output
    exported = _gambitts("study", "export", db, str(tmp_path / "log.nc"))
    assert exported.exit_code == 0 and (tmp_path / "log.nc").stat().st_size > 0


def test_study_errors_are_one_line(tmp_path):
    (tmp_path / "study.yaml").write_text(STUDY)
    _gambitts("study", "init", str(tmp_path / "study.yaml"))
    db = str(tmp_path / "study.db")
    for args, message in [
        (("record", db, "4", "--reward", "1"), "Error: no decision 4 in this study"),
        (("decide", db, "--participant", "p", "--context", "evening"), "must be NAME=LEVEL"),
        (("record", db, "0", "--z", "a,b"), "--z must be comma-separated numbers"),
        (("status", str(tmp_path / "nothing.db")), "no study database at"),
        (("export", db, str(tmp_path / "log.csv")), "the export is NetCDF"),
    ]:
        result = _gambitts("study", *args)
        assert result.exit_code == 2 and message in result.output, result.output
        assert result.output.count("\n") == 1
    assert not (tmp_path / "nothing.db").exists()  # reading never makes a database
