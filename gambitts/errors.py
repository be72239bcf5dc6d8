"""The toolkit's own error classes.

Every problem a user can fix (a bad option, a malformed file, a full disk, a busy output folder)
raises a subclass of :class:`GambittsError` with a one-line message that says what was wrong and
how to fix it. The command line prints such errors as one line and exits with code 2; any other
exception is a bug in gambitts and is shown with its traceback.
"""

from __future__ import annotations


class GambittsError(Exception):
    """Base class of every error a user can act on; its message is one line."""


class InputError(GambittsError, ValueError):
    """An argument, option or input file is invalid."""


class OutputError(GambittsError, OSError):
    """A result could not be written (full disk, no permission, output folder in use)."""


class ExperimentError(InputError):
    """An experiment definition, an agent of it or an override is invalid."""


def shown(value: object, limit: int = 80) -> str:
    """Return ``repr(value)`` on one line, cut to ``limit`` characters, for an error message.

    NumPy scalars (as read back from NetCDF) are shown as the Python values they hold.
    """
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
