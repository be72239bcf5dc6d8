"""What produced a result: the package version and a fingerprint of the code and data behind it.

Finished configurations are cached on disk under a key (see
:meth:`gambitts.sims.experiments.RunConfig.key`). The key must change whenever the numbers
could: after an upgrade, or an edit of an agent, a world or the packaged data (outcome
coefficients, stand-in weights). :func:`code_fingerprint` hashes all of that.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from gambitts import __version__

_PACKAGE = Path(__file__).resolve().parents[1]
#: Modules that present numbers but never make them: editing them keeps cached results.
_NOT_NUMERIC = ("cli", "sims/plots.py", "sims/report.py", "sims/findings.py")


@cache
def code_fingerprint() -> str:
    """Return a short hash of the package version, its Python code and its packaged data.

    The command line, figures and reports are left out: they do not change a result.
    """
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(_numeric_sources()):
        digest.update(str(path.relative_to(_PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _numeric_sources() -> list[Path]:
    sources = []
    for path in _PACKAGE.rglob("*"):
        relative = path.relative_to(_PACKAGE)
        if "__pycache__" in relative.parts or any(
            relative.as_posix() == part or relative.parts[0] == part for part in _NOT_NUMERIC
        ):
            continue
        if path.is_file() and path.suffix in (".py", ".yaml", ".yml", ".json"):
            sources.append(path)
    return sources


def provenance() -> dict[str, str]:
    """Return the attributes that say which code made a file (``gambitts_version``, ``code``)."""
    return {"gambitts_version": __version__, "code": code_fingerprint()}
