"""The benchmark scripts run (at a tiny size), so that a refactor cannot leave them broken."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


@pytest.mark.parametrize(
    "script,arguments,expected",
    [
        ("agents.py", ["--replicates", "3", "--horizon", "20", "--repeats", "1"], "foGAMBITTS"),
        (
            "ensemble.py",
            ["--speed-replicates", "2", "--speed-horizon", "20", "--skip-science"],
            "ens (paper, fresh Adam)",
        ),
        ("sweep.py", ["--replicates", "2", "--horizon", "10", "--workers", "1"], "wall time"),
        ("custom.py", ["--method", "laplace", "--replicates", "2", "--repeats", "1"], "refit"),
    ],
    ids=["agents", "ensemble", "sweep", "custom"],
)
def test_a_benchmark_script_runs_and_prints_its_figures(tmp_path, script, arguments, expected):
    if script == "sweep.py":
        arguments = [*arguments, "--out", str(tmp_path / "out")]
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *arguments],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert expected in result.stdout
