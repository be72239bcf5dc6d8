"""Writing result files safely: temporary file, then rename; a full disk is one clear line.

Every file gambitts writes (NetCDF results, figures, reports, databases) goes through
:func:`atomic_path`: it is written to a temporary file beside its final name and renamed into
place only once complete, so a reader never sees a partial file under a final name. The
temporary name carries the writer's process id, so that :func:`remove_stale_temporaries` can
clean what a killed run left behind without touching a live run's files.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import xarray as xr

from gambitts.errors import OutputError

#: Errors that mean "the disk (or quota) is full".
_FULL_DISK = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
#: ``.<final name>.<pid>.<random>.tmp``
_TEMPORARY = re.compile(r"^\..+\.(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")
#: Room kept free beyond a NetCDF file's uncompressed size before writing it.
_MARGIN_BYTES = 1 << 20


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to ``path``.

    On any error (or interruption) the temporary file is removed and ``path`` is left as it
    was. ``OSError`` s of the write become :class:`~gambitts.errors.OutputError` naming
    ``path``.

    Examples
    --------
    >>> with atomic_path("out/figure.png") as temporary:  # doctest: +SKIP
    ...     fig.savefig(temporary, format="png")
    """
    path = Path(path)
    try:
        handle, name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"
        )
        os.close(handle)
    except OSError as error:
        raise _output_error(path, error) from None
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise _output_error(path, error) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file; return ``path``."""
    path = Path(path)
    with atomic_path(path) as temporary:
        temporary.write_text(text)
    return path


def write_netcdf_atomic(
    ds: xr.Dataset, path: str | os.PathLike, groups: dict[str, xr.Dataset] | None = None
) -> Path:
    """Write ``ds`` to NetCDF (h5netcdf, compressed) through a temporary file and a rename.

    ``groups`` are written as NetCDF groups of the same file (e.g. saved posteriors). The free
    space is checked first against the uncompressed size, because HDF5 reports a full disk with
    a cascade of errors (and has crashed the interpreter) rather than one.

    Raises
    ------
    OutputError
        If the disk lacks room or the file cannot be written; the message names ``path``.
    """
    path = Path(path)
    groups = groups or {}
    needed = ds.nbytes + sum(group.nbytes for group in groups.values()) + _MARGIN_BYTES
    require_free_space(path, needed)
    with atomic_path(path) as temporary:
        ds.to_netcdf(temporary, engine="h5netcdf", encoding=_compression(ds))
        for group, data in groups.items():
            data.to_netcdf(
                temporary, mode="a", group=group, engine="h5netcdf", encoding=_compression(data)
            )
    return path


def check_writable_directory(directory: str | os.PathLike) -> Path:
    """Create ``directory`` if needed and make sure files can be written in it.

    Raises
    ------
    OutputError
        With a message naming the directory, if it cannot be created or written.
    """
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".gambitts-write-check-"):
            pass
    except OSError as error:
        raise OutputError(
            f"cannot write to output directory {str(path)!r}: {error.strerror or error}"
        ) from None
    return path


def make_folder(path: str | os.PathLike) -> Path:
    """Create the folder ``path`` (and its parents) if needed; return it.

    Raises
    ------
    OutputError
        If a file stands where the folder should be, or the folder cannot be created.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{str(path)!r} is a file, not a folder; remove it and run again")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f"cannot create folder {str(path)!r}: {error.strerror or error}"
        ) from None
    return path


def require_free_space(path: str | os.PathLike, needed: int) -> None:
    """Raise :class:`OutputError` unless ``path`` 's folder has ``needed`` bytes free."""
    path = Path(path)
    try:
        usage = shutil.disk_usage(path.parent)
    except OSError as error:
        raise _output_error(path, error) from None
    if usage.total == 0:  # /proc, /sys: not a disk at all
        raise OutputError(f"cannot write {str(path)!r}: that folder is not on a writable disk")
    free = usage.free
    if free < needed:
        raise OutputError(
            f"cannot write {str(path)!r}: the disk is full ({_megabytes(free)} free, "
            f"about {_megabytes(needed)} needed); free some space or write to another disk"
        )


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete temporary files in ``directory`` left by writers that no longer run.

    Returns
    -------
    list of Path
        The files removed.
    """
    removed = []
    directory = Path(directory)
    if not directory.is_dir():
        return removed
    for candidate in directory.iterdir():
        match = _TEMPORARY.match(candidate.name)
        if match and candidate.is_file() and not _process_alive(int(match["pid"])):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _output_error(path: Path, error: OSError) -> OutputError:
    if error.errno in _FULL_DISK:
        reason = "the disk is full; free some space or write to another disk"
    else:
        reason = error.strerror or " ".join(str(error).split())
    return OutputError(f"cannot write {str(path)!r}: {reason}")


def _megabytes(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f} MB"


def _compression(ds: xr.Dataset) -> dict[str, dict]:
    return {
        name: {"zlib": True, "complevel": 4}
        for name, variable in ds.data_vars.items()
        if variable.dtype.kind in "fiu"
    }


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
