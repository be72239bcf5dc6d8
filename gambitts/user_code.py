"""Import a user's function named in an experiment file (e.g. a custom agent's PyMC builder).

A reference is ``"package.module:function"`` (an importable module) or
``"path/to/file.py:function"`` (a Python file, relative to the working directory). Files are
loaded by path because ``gambitts`` run as a command does not have the working directory on
``sys.path``; Dask workers started by ``gambitts simulate`` share that working directory. As
``python file.py`` would, loading a file lets it import its neighbours: the file's directory and
the working directory are appended to ``sys.path`` (appended, so they never hide an installed
package).

:func:`source_fingerprint` hashes a builder's source and the local modules it imports, so that
editing any of them invalidates cached results.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import os
import sys
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gambitts
from gambitts.errors import InputError

#: Prefix of the names of modules loaded from a user's file, so that messages can name the file
#: (see :func:`gambitts.agents.custom.builder_reference`).
FILE_MODULE_PREFIX = "gambitts_user_"


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
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # the module's own code failed, or called sys.exit
            raise UserCodeError(
                f"{what} {reference!r}: importing module {module_name!r} {_failure(error)}"
            ) from error
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
    name = f"{FILE_MODULE_PREFIX}{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    for folder in (str(path.parent), os.getcwd()):  # its neighbours, as under `python file.py`
        if folder not in sys.path:
            sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except KeyboardInterrupt:
        del sys.modules[name]
        raise
    except BaseException as error:  # SystemExit too: it would end the run without a word
        del sys.modules[name]
        raise UserCodeError(f"{what}: importing {str(path)!r} {_failure(error)}") from error
    return module


def _failure(error: BaseException) -> str:
    """Complete "importing X ..." in one line: what the module's code did and how to fix it."""
    if isinstance(error, SystemExit):
        call = "sys.exit()" if error.code is None else f"sys.exit({error.code!r})"
        return (
            f"called {call}; a builder's module must not exit when imported (put script code "
            "under `if __name__ == '__main__':`)"
        )
    lines = str(error).strip().splitlines()
    return f"failed: {type(error).__name__}" + (f": {lines[0]}" if lines else "")


def source_fingerprint(reference: str) -> str:
    """Return a short hash of a builder's source and of the local modules it imports.

    Part of a custom agent's results key, so that editing a builder, or a module of the user's
    that it imports (a file beside it, a package in the working directory), invalidates its
    results. The imports are found by reading the source (``import`` statements anywhere in
    it, followed transitively), never by running it. Local means a ``.py`` file under the
    builder's directory or the working directory; installed packages, the standard library and
    gambitts itself are left out (the results key covers gambitts' own code apart), and so are
    modules imported dynamically (``importlib.import_module``) and data files.

    A builder with no local imports keeps the fingerprint of its file alone (the hash of its
    bytes), so results cached before imports were followed stay valid.

    Returns
    -------
    str
        16 hex digits, or ``""`` if the source cannot be found (e.g. a compiled module).
    """
    module_name = reference.split(":")[0]
    if module_name.endswith(".py"):
        path = Path(module_name).resolve()
    else:
        path = _module_file(module_name)
        if path is None:
            return ""
    try:
        source = path.read_bytes()
    except OSError:
        return ""
    digest = hashlib.sha256(source)
    # An installed builder's imports are installed too (or stray files with their names).
    local = sorted(_local_imports(path, source)) if _is_user_code(path.resolve()) else []
    if not local:
        return digest.hexdigest()[:16]
    for dependency in local:
        # Named relative to the builder, so that moving the whole project keeps the key.
        digest.update(b"\0" + os.path.relpath(dependency, path.parent).encode() + b"\0")
        try:
            digest.update(hashlib.sha256(dependency.read_bytes()).digest())
        except OSError:
            digest.update(b"unreadable")
    return digest.hexdigest()[:16]


def _module_file(module_name: str) -> Path | None:
    """Return the source file of ``package.module`` without running any package's code.

    ``importlib.util.find_spec("a.b")`` imports ``a``; only the top-level name is looked up
    that way, the rest is followed through the package folders.
    """
    top, *rest = module_name.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not rest:
        origin = Path(spec.origin) if spec.origin else None
        return origin if origin is not None and origin.suffix == ".py" else None
    for folder in spec.submodule_search_locations or ():
        found = _walk(Path(folder), rest)
        if found is not None and found.suffix == ".py":
            return found
    return None


def _walk(folder: Path, parts: list[str]) -> Path | None:
    """Return ``folder/a/b.py`` (or ``folder/a/b/__init__.py``) for ``parts = ["a", "b"]``.

    A package folder without ``__init__.py`` (a namespace package) is returned as the folder.
    """
    for index, part in enumerate(parts):
        if not part.isidentifier():
            return None
        if index == len(parts) - 1 and (folder / f"{part}.py").is_file():
            return folder / f"{part}.py"
        if not (folder / part).is_dir():
            return None
        folder = folder / part
    init = folder / "__init__.py"
    return init if init.is_file() else folder


def _local_imports(root: Path, source: bytes) -> set[Path]:
    """Return the local ``.py`` files that ``root`` imports, directly or through one another."""
    search = [root.parent, Path.cwd().resolve()]  # where absolute imports are looked for
    found: set[Path] = set()
    pending = [(root, source)]
    installed: dict[str, bool] = {}

    def is_installed(name: str) -> bool:
        if name not in installed:
            installed[name] = _installed(name)
        return installed[name]

    while pending:
        path, text = pending.pop()
        for candidate in _imported_files(path, text, search, is_installed):
            candidate = candidate.resolve()
            if candidate == root or candidate in found:
                continue
            if not (any(candidate.is_relative_to(s) for s in search) and _is_user_code(candidate)):
                continue
            found.add(candidate)
            try:
                pending.append((candidate, candidate.read_bytes()))
            except OSError:
                continue
    return found


def _is_user_code(path: Path) -> bool:
    """Return whether ``path`` may be the user's: not gambitts, the standard library, installs."""
    if "site-packages" in path.parts or "dist-packages" in path.parts:
        return False
    paths = sysconfig.get_paths()
    folders = [paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths]
    others = [Path(gambitts.__file__).resolve().parent, *(Path(f).resolve() for f in folders)]
    return not any(path.is_relative_to(folder) for folder in others)


def _installed(name: str) -> bool:
    """Return whether top-level module ``name`` is built in, in the standard library or installed.

    Such a module wins over a user's file of the same name (the user's folders are appended to
    ``sys.path``), so that file is not a dependency. Looking a top-level name up runs no code.
    """
    if name in sys.builtin_module_names or name in sys.stdlib_module_names:
        return True
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    places = list(spec.submodule_search_locations or []) or [spec.origin]
    for place in places:
        if place is None:
            continue
        if not Path(place).is_absolute():  # "built-in", "frozen"
            return True
        if not _is_user_code(Path(place).resolve()):
            return True
    return False


def _imported_files(
    path: Path, source: bytes, search: list[Path], installed: Callable[[str], bool]
) -> Iterator[Path]:
    """Yield the files each ``import`` statement of ``path`` would run, if they are found.

    ``import a.b.c`` runs ``a/__init__.py``, ``a/b/__init__.py`` and ``a/b/c.py``; ``from a
    import x`` also runs ``a/x.py`` when ``x`` is a module. Relative imports are resolved from
    ``path``'s folder; absolute ones in the ``search`` folders, unless ``installed(a)``.
    """
    try:
        tree = ast.parse(source, filename=str(path))
    except (SyntaxError, ValueError):
        return  # importing it fails anyway, with a clear message
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [(0, alias.name.split(".")) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module.split(".") if node.module else []
            targets = [(node.level, base)] + [
                (node.level, [*base, alias.name]) for alias in node.names if alias.name != "*"
            ]
        else:
            continue
        for level, parts in targets:
            if level > len(path.parents) or (not level and installed(parts[0])):
                continue  # an import that fails anyway, or of an installed package
            bases = [path.parents[level - 1]] if level else search
            for base in bases:
                for depth in range(1, len(parts) + 1):  # every package on the way
                    file = _walk(base, parts[:depth])
                    if file is not None and file.suffix == ".py":
                        yield file
