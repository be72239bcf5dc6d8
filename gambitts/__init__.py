"""GAMBITTS: Thompson sampling for generator-mediated bandits.

The names below are the public API, for notebooks and scripts (see :mod:`gambitts.api`)::

    import gambitts

    results = gambitts.simulate("var_decomp_linear", replicates=20, save_posteriors=[0])
    results.summary(); results.plot(); results.posterior("poGAMBITTS", setting="sd_0")

Subpackages: :mod:`gambitts.design` (context spaces and generator databases),
:mod:`gambitts.models` (PyMC models and their exact posteriors), :mod:`gambitts.agents`
(Thompson-sampling policies), :mod:`gambitts.sims` (worlds, experiments, the simulator),
:mod:`gambitts.live` (a live study: logged decisions in a database) and :mod:`gambitts.cli`
(the ``gambitts`` command). They are imported when a public name is first
used, so that ``import gambitts`` (and the command's start) stays fast.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("gambitts")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

#: Public name -> the module that defines it.
_PUBLIC = {
    "simulate": "gambitts.api",
    "open_results": "gambitts.api",
    "Results": "gambitts.api",
    "Trial": "gambitts.sims.trial",
    "ExperimentSpec": "gambitts.sims.experiments",
    "experiment_names": "gambitts.sims.experiments",
    "load_experiment_file": "gambitts.sims.experiments",
    "ContextSpace": "gambitts.design.contexts",
    "ContextVariable": "gambitts.design.contexts",
    "PromptDatabase": "gambitts.design.promptdb",
    "load_prompt_database": "gambitts.design.promptdb",
    "agent_spec": "gambitts.agents.registry",
    "nutpie_available": "gambitts.agents.custom",
    "posterior_inference_data": "gambitts.models.inference_data",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (PEP 562)."""
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'gambitts' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
