"""Reading the YAML files a user writes (experiments, studies), strictly and safely.

``yaml.safe_load`` keeps the last of two equal keys, so a duplicated block or field would
silently drop the first; :class:`StrictLoader` refuses it (YAML merge keys ``<<: *anchor`` still
work, and may be overridden as YAML says). :func:`read_yaml_text` reads only regular UTF-8 files
of bounded size, so a device, a FIFO or a huge file is one clear error instead of a hang.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from gambitts.errors import shown

#: Largest YAML file read (an experiment or study file is a few kB).
MAX_YAML_BYTES = 4 * 2**20
_MERGE_TAG = "tag:yaml.org,2002:merge"


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice, or a key that is not a plain value."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        """Build a mapping, refusing repeated and unhashable keys (merge keys are allowed)."""
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, f"a mapping key must be a plain value, got {shown(key, 60)}",
                    key_node.start_mark,
                ) from None  # fmt: skip
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (also on line {seen[key] + 1})",
                    key_node.start_mark,
                )  # fmt: skip
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, source: str, loader: type[StrictLoader] = StrictLoader) -> Any:
    """Parse a user's YAML text with a strict *safe* loader; ``ValueError`` on bad YAML.

    The only place gambitts parses YAML a user wrote: the loader must derive from
    ``yaml.SafeLoader``, which builds plain data and never runs code or makes objects from
    tags. ``source`` names the text in the one-line message.
    """
    if not issubclass(loader, yaml.SafeLoader):  # pragma: no cover - a programming error
        raise TypeError(f"{loader.__name__} is not a yaml.SafeLoader")
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader, checked above
    except yaml.YAMLError as error:
        raise ValueError(f"{source} is not valid YAML: {yaml_problem(error)}") from None


def yaml_problem(error: yaml.YAMLError) -> str:
    """Return a YAML error as one line, with the line number where it has one."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"{problem} at line {mark.line + 1}" if mark is not None else problem


def read_yaml_text(path: str | os.PathLike, source: str) -> str:
    """Return the text of a user's YAML file, or raise ``ValueError`` with a one-line reason.

    ``source`` names the file in the message (e.g. ``"experiment file 'x.yaml'"``); callers turn
    the ``ValueError`` into their own error class.
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        raise ValueError(f"{source} is not a regular file; give a YAML file")
    if path.is_file() and path.stat().st_size > MAX_YAML_BYTES:
        raise ValueError(
            f"{source} is larger than {MAX_YAML_BYTES // 2**20} MB; it should be a short YAML text"
        )
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"cannot read {source}: {error.strerror}; check the path") from None
    except UnicodeDecodeError:
        raise ValueError(f"{source} is not a UTF-8 text file; give a YAML file") from None
