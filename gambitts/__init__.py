"""GAMBITTS: Thompson sampling for generator-mediated bandits.

Subpackages: :mod:`gambitts.models` (PyMC models and their exact posteriors),
:mod:`gambitts.agents` (Thompson-sampling policies), :mod:`gambitts.sims` (generator database,
worlds, experiments, the simulator) and :mod:`gambitts.cli` (the ``gambitts`` command).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gambitts")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"
