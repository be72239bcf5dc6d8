"""The documentation builds with warnings as errors: a broken reference fails it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="building the docs needs `pip install -e '.[test]'`")

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_docs_build_with_the_api_reference_and_the_executed_notebooks(tmp_path):
    html = tmp_path / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(ROOT / "docs"), str(html)],
        capture_output=True, text=True, timeout=1200, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    reference = (html / "api.html").read_text()
    for name in ("gambitts.simulate", "gambitts.open_results", "gambitts.Results.posterior",
                 "gambitts.Trial", "gambitts.ContextSpace"):  # fmt: skip
        assert f'id="{name}"' in reference, name
    figure = (html / "notebooks" / "paper_figure.html").read_text()
    assert "<img" in figure  # executed: the figure is on the page
    assert not list((ROOT / "docs").glob("_build")), "the build wrote into the source tree"
