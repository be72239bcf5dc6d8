"""Imports point one way: cli -> api -> (sims, live) -> agents -> models, design below all.

Read from the source (every ``import`` statement, at any depth, including lazy ones inside
functions and those under ``TYPE_CHECKING``), so that no shortcut through a function body
goes unnoticed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gambitts

PACKAGE = Path(gambitts.__file__).parent
#: Subpackage -> the subpackages of gambitts it must never import.
FORBIDDEN = {
    "models": {"agents", "sims", "live", "api", "cli", "design"},
    "design": {"agents", "sims", "live", "api", "cli", "models"},
    "agents": {"sims", "live", "api", "cli"},
    "sims": {"live", "api", "cli"},  # the simulator never imports the live runtime
    "live": {"sims", "api", "cli"},
}
#: Top-level modules every layer may use; they import no subpackage.
UTILITIES = ["errors", "files", "yaml_files", "user_code"]


def _imported(path: Path) -> set[str]:
    """Names of the gambitts subpackages or modules ``path`` imports, e.g. ``{"models"}``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "gambitts" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(layer):
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(_imported(path) & FORBIDDEN[layer])
        for path in (PACKAGE / layer).rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


@pytest.mark.parametrize("module", UTILITIES)
def test_the_shared_utilities_import_no_layer(module):
    layers = {"models", "design", "agents", "sims", "live", "api", "cli"}
    assert _imported(PACKAGE / f"{module}.py") & layers == set()


def test_the_checker_sees_a_lazy_import_inside_a_function(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("def f():\n    from gambitts.agents.stdts import StdTS\n    return StdTS\n")
    assert _imported(planted) == {"agents"}
