"""A study file: the YAML document that describes a study of your own.

Today a study file holds one section, ``contexts``: the study's context space in the form of
:meth:`~gambitts.design.contexts.ContextSpace.from_dict`::

    contexts:
      variables:
        - name: time_of_day
          levels: [morning, evening]
        - name: sleep
          levels: [short, long]
          values: [6, 8]          # optional: enters stage 2 as one numeric column
      cells: [[morning, short], [evening, long]]   # optional: default every combination
      probabilities: [0.25, 0.75]                 # optional: default uniform arrival

Each section is read by its own public function (:func:`context_space_from_section` for
``contexts``), listed in :data:`SECTIONS`; a later section (a live study's settings) adds its reader
there. The file is read strictly, since a study file a reader misunderstands would run the wrong
study without a word: a key given twice, an unknown top-level key and a missing section are
errors, and YAML 1.1's surprising numbers stay text (``01`` is the label ``"01"``, not the octal
1; ``12:30`` is ``"12:30"``, not the base-60 number 750; ``1_000`` is ``"1_000"``). Every problem
raises :class:`StudyFileError` with a one-line message naming the file, the key and the fix.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from gambitts.design.contexts import ContextSpace, ContextSpaceError
from gambitts.errors import InputError
from gambitts.yaml_files import StrictLoader, parse_yaml, read_yaml_text

#: Plain decimal integers; any other YAML 1.1 integer form (octal ``01``, base 60 ``12:30``, hex
#: ``0x1F``, ``1_000``) is read as the text written.
_PLAIN_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_VARIABLE_KEYS = ("name", "levels", "values")


class StudyFileError(InputError):
    """A study file cannot be read, or one of its sections is invalid."""


class _StudyLoader(StrictLoader):
    """:class:`~gambitts.yaml_files.StrictLoader` that keeps YAML 1.1's odd numbers as text.

    YAML 1.1 reads ``01`` as 1 (octal) but ``08`` as text, and ``12:30`` as 750 (base 60); a
    level label written so is kept as the text written.
    """


def _construct_int(loader: _StudyLoader, node: yaml.ScalarNode) -> int | str:
    text = loader.construct_scalar(node)
    if _PLAIN_INT.fullmatch(text):
        return int(text)
    return text


def _construct_float(loader: _StudyLoader, node: yaml.ScalarNode) -> float | str:
    text = loader.construct_scalar(node)
    if ":" in text or "_" in text:  # base 60 (1:30.5) or digit groups (1_0.5): keep as written
        return text
    return yaml.SafeLoader.construct_yaml_float(loader, node)


_StudyLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_StudyLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def context_space_from_section(section: Any, where: str = "`contexts`") -> ContextSpace:
    """Validate a study file's ``contexts`` section into a :class:`ContextSpace`.

    Other readers of study-like documents (a live study's file) call this for their
    ``contexts`` section, so a context space is written the same way everywhere.

    Parameters
    ----------
    section : object
        The section as parsed from YAML: a mapping in
        :meth:`~gambitts.design.contexts.ContextSpace.from_dict` form.
    where : str, optional
        How error messages name the section, e.g. ``"study file 'study.yaml': `contexts`"``.

    Returns
    -------
    ContextSpace

    Raises
    ------
    StudyFileError
        With a one-line message naming ``where`` and what is wrong.
    """
    _check_variable_entries(section, where)
    try:
        return ContextSpace.from_dict(section, where)
    except ContextSpaceError as error:
        message = str(error)
        raise StudyFileError(message if where in message else f"{where}: {message}") from None


def _check_variable_entries(section: Any, where: str) -> None:
    """Name the slips a YAML author makes in a variable: an unknown key, an unquoted yes/no.

    ``ContextSpace.from_dict`` refuses both too, but cannot say which key is wrong or why a
    level became ``True``.
    """
    if not isinstance(section, Mapping) or not isinstance(section.get("variables"), list):
        return  # ContextSpace.from_dict says what is wrong with the shape
    for entry in section["variables"]:
        if not isinstance(entry, Mapping):
            continue
        unknown = sorted(str(key) for key in entry if key not in _VARIABLE_KEYS)
        if unknown:
            raise StudyFileError(
                f"{where}: variable {entry.get('name')!r} has unknown key(s) {unknown}; valid keys "
                f"are {', '.join(_VARIABLE_KEYS)}"
            )
        levels = entry.get("levels")
        for level in levels if isinstance(levels, list) else ():
            if isinstance(level, bool):
                raise StudyFileError(
                    f"{where}: variable {entry.get('name')!r} has the level {level!r}, which YAML "
                    "reads from an unquoted yes/no/on/off/true/false; quote it, e.g. 'yes'"
                )


#: The sections a study file may hold, each with the function that validates it. A section that
#: is not listed here is an error (nothing in a study file is ignored).
SECTIONS: dict[str, Callable[[Any, str], Any]] = {"contexts": context_space_from_section}


def read_study_document(path: str | os.PathLike) -> dict[str, Any]:
    """Read a study file's YAML and check its top level: a mapping of known sections.

    Parameters
    ----------
    path : str or path-like
        A UTF-8 YAML file.

    Returns
    -------
    dict
        The sections as parsed (not yet validated); validate each with its reader in
        :data:`SECTIONS`.

    Raises
    ------
    StudyFileError
        If the file cannot be read, is not UTF-8 YAML, repeats a key, is not a mapping, or has a
        top-level key that is not one of :data:`SECTIONS`.
    """
    source = _source(path)
    try:
        text = read_yaml_text(path, source)
    except ValueError as error:
        raise StudyFileError(str(error)) from None
    try:
        document = parse_yaml(text, source, _StudyLoader)
    except ValueError as error:
        raise StudyFileError(str(error)) from None
    if not isinstance(document, dict) or not document:
        raise StudyFileError(
            f"{source} must be a YAML mapping of sections such as `contexts:`, got "
            f"{type(document).__name__ if document is not None else 'an empty file'}"
        )
    unknown = [str(key) for key in document if key not in SECTIONS]
    if unknown:
        raise StudyFileError(
            f"{source} has unknown top-level key(s) {unknown}; valid keys are "
            f"{sorted(SECTIONS)} (check the spelling and indentation)"
        )
    return document


def load_context_space(path: str | os.PathLike) -> ContextSpace:
    """Read the context space of a study file (its ``contexts`` section).

    Parameters
    ----------
    path : str or path-like
        A study file, see the module documentation.

    Returns
    -------
    ContextSpace

    Raises
    ------
    StudyFileError
        If the file is unreadable or malformed (see :func:`read_study_document`), has no
        ``contexts`` section, or the section is invalid.
    """
    source = _source(path)
    document = read_study_document(path)
    if "contexts" not in document:
        raise StudyFileError(
            f"{source} has no `contexts` section; add one listing the context `variables`"
        )
    return context_space_from_section(document["contexts"], f"{source}: `contexts`")


#: Levels shown per variable by :func:`describe_context_space` before the list is cut.
_SHOWN_LEVELS = 8


def describe_context_space(contexts: ContextSpace) -> str:
    """Describe a context space on one line, for a user checking that it was read as meant.

    Parameters
    ----------
    contexts : ContextSpace

    Returns
    -------
    str
        The variables with their levels (a numeric variable's levels with their values, long
        lists cut), then the number of cells, e.g.
        ``time_of_day (morning, evening) x sleep (short=5.5, long=8.5): 4 cells``.
    """
    parts = []
    for variable in contexts.variables:
        levels = list(variable.levels)
        if variable.values is not None:
            levels = [
                f"{level}={value:g}" for level, value in zip(levels, variable.values, strict=True)
            ]
        if len(levels) > _SHOWN_LEVELS:
            levels = [*levels[: _SHOWN_LEVELS - 1], f"... ({len(levels)} levels)"]
        parts.append(f"{variable.name} ({', '.join(levels)})")
    cells = f"{contexts.n_cells} cells"
    if contexts.cells is not None:
        combinations = math.prod(len(variable.levels) for variable in contexts.variables)
        cells += f" (of {combinations} combinations)"
    if not contexts.uniform:
        cells += ", arrival probabilities given"
    return f"{' x '.join(parts)}: {cells}"


def _source(path: str | os.PathLike) -> str:
    return f"study file '{path}'"
