"""Import a user's function named in an experiment file (e.g. a custom agent's PyMC builder).

A reference is ``"package.module:function"`` (an importable module) or
``"path/to/file.py:function"`` (a Python file, relative to the working directory). Files are
loaded by path because ``gambitts`` run as a command does not have the working directory on
``sys.path``; Dask workers started by ``gambitts simulate`` share that working directory.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gambitts.errors import InputError


class UserCodeError(InputError):
    """A reference to user code is malformed or cannot be imported."""


def check_reference(reference: str, what: str) -> None:
    """Raise :class:`UserCodeError` unless ``reference`` has the form ``module:function``."""
    parts = reference.split(":") if isinstance(reference, str) else []
    if len(parts) != 2 or not parts[0] or not parts[1].isidentifier():
        raise UserCodeError(
            f"{what} must be 'package.module:function' or 'path/to/file.py:function', "
            f"got {reference!r}"
        )


def import_function(reference: str, what: str = "builder") -> Callable[..., Any]:
    """Import the callable named by ``reference`` (see the module notes).

    Raises
    ------
    UserCodeError
        If the reference is malformed, the module or file cannot be imported, or the name is
        missing or not callable. The message says which.
    """
    check_reference(reference, what)
    module_name, name = reference.split(":")
    if module_name.endswith(".py"):
        module = _load_file(Path(module_name), what)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise UserCodeError(
                f"{what} {reference!r}: cannot import module {module_name!r} ({error}); "
                "give a file instead as 'path/to/file.py:function'"
            ) from None
    function = getattr(module, name, None)
    if not callable(function):
        found = "is not callable" if hasattr(module, name) else "does not exist"
        raise UserCodeError(f"{what} {reference!r}: `{name}` {found} in {module_name!r}")
    return function


def _load_file(path: Path, what: str) -> Any:
    path = path.resolve()
    if not path.is_file():
        raise UserCodeError(f"{what}: no such file {str(path)!r}")
    # One module per file, loaded once per process.
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    name = f"gambitts_user_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise UserCodeError(
            f"{what}: importing {str(path)!r} failed: {type(error).__name__}: {error}"
        ) from None
    return module


def source_fingerprint(reference: str) -> str:
    """Return a short hash of the source file a reference points to (``""`` if none is found).

    Part of a custom agent's results key, so that editing a builder invalidates its results.
    """
    module_name = reference.split(":")[0]
    if module_name.endswith(".py"):
        path = Path(module_name).resolve()
    else:
        try:
            spec = importlib.util.find_spec(module_name)
        except (ImportError, ValueError):
            return ""
        if spec is None or spec.origin is None or not Path(spec.origin).is_file():
            return ""
        path = Path(spec.origin)
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return ""
