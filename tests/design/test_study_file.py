"""Tests of the study file: its `contexts` section, read strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from gambitts.design import study_file
from gambitts.design.contexts import PAPER_CONTEXTS, ContextSpace, ContextVariable
from gambitts.design.study_file import (
    StudyFileError,
    context_space_from_section,
    describe_context_space,
    load_context_space,
    read_study_document,
)

STUDY = """\
# a sleep-hygiene study
contexts:
  variables:
    - name: time_of_day
      levels: [morning, evening]
    - {name: day, levels: [weekday, weekend]}
    - name: sleep
      levels: [short, long]
      values: [5.5, 8]
  cells: [[morning, weekday, short], [evening, weekend, long], [evening, weekday, long]]
  probabilities: [0.5, 0.25, 0.25]
"""


def write(tmp_path: Path, text: str, name: str = "study.yaml") -> Path:
    """Write ``text`` to ``tmp_path / name`` and return the path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_study_file_gives_its_context_space(tmp_path) -> None:
    """Variables, levels, values, cells and probabilities are read as declared."""
    contexts = load_context_space(write(tmp_path, STUDY))
    assert contexts == ContextSpace(
        (
            ContextVariable("time_of_day", ("morning", "evening")),
            ContextVariable("day", ("weekday", "weekend")),
            ContextVariable("sleep", ("short", "long"), values=(5.5, 8.0)),
        ),
        cells=(
            ("morning", "weekday", "short"),
            ("evening", "weekend", "long"),
            ("evening", "weekday", "long"),
        ),
        probabilities=(0.5, 0.25, 0.25),
    )


def test_the_shipped_example_study_file_loads() -> None:
    """The sleep study's file in examples/ is a valid study file."""
    path = Path(__file__).parents[2] / "examples" / "sleep_study" / "study.yaml"
    if not path.exists():
        pytest.skip("examples/sleep_study/study.yaml is not in this checkout")
    assert load_context_space(path).names == ("time_of_day", "day", "sleep")


def test_the_paper_space_round_trips_through_a_study_file(tmp_path) -> None:
    """A space written with ``to_dict`` under `contexts` reads back equal."""
    import yaml

    path = write(tmp_path, yaml.safe_dump({"contexts": PAPER_CONTEXTS.to_dict()}))
    assert load_context_space(path) == PAPER_CONTEXTS


def test_yaml_number_forms_stay_the_text_written(tmp_path) -> None:
    """YAML 1.1 would read 01 as 1 (octal) but 08 as text, and 12:30 as 750; labels stay text."""
    text = (
        "contexts:\n  variables:\n    - {name: tt, levels: [01, 08, '09', 12:30, 1_000, 7, -2]}\n"  # noqa: E501
    )
    contexts = load_context_space(write(tmp_path, text))
    assert contexts.variable("tt").levels == ("01", "08", "09", "12:30", "1_000", "7", "-2")


def test_the_contexts_section_reader_is_public() -> None:
    """Other study-like files validate their `contexts` section with the same function."""
    section = {"variables": [{"name": "day", "levels": ["weekday", "weekend"]}]}
    assert context_space_from_section(section).cell_labels == ("weekday", "weekend")
    with pytest.raises(StudyFileError, match=r"^live study 'x': `contexts`: `variables` must"):
        context_space_from_section({"variables": []}, "live study 'x': `contexts`")


def test_read_study_document_returns_the_sections(tmp_path) -> None:
    """The document reader checks the top level and leaves each section to its reader."""
    document = read_study_document(write(tmp_path, STUDY))
    assert list(document) == ["contexts"]


HOSTILE = {
    "duplicate-variables-key": (
        "contexts:\n  variables:\n    - {name: a, levels: [x]}\n  variables:\n"
        "    - {name: b, levels: [y]}\n",
        r"is not valid YAML: duplicate key 'variables' \(also on line 2\) at line 4",
    ),
    "duplicate-section": (
        "contexts: {variables: [{name: a, levels: [x]}]}\n"
        "contexts: {variables: [{name: b, levels: [y]}]}\n",
        r"duplicate key 'contexts' \(also on line 1\) at line 2",
    ),
    "unknown-top-level-key": (
        "contexts: {variables: [{name: a, levels: [x]}]}\nworld: linear\n",
        r"has unknown top-level key\(s\) \['world'\]; valid keys are \['contexts'\]",
    ),
    "misindented-variables": (
        "contexts:\nvariables: [{name: a, levels: [x]}]\n",
        r"unknown top-level key\(s\) \['variables'\].*check the spelling and indentation",
    ),
    "empty-contexts": ("contexts:\n", r"`contexts` must be a mapping, got NoneType"),
    "empty-file": ("", r"must be a YAML mapping of sections such as `contexts:`, got an empty"),
    "a-list": ("- contexts\n", r"must be a YAML mapping of sections .*, got list"),
    "invalid-yaml": (
        "contexts: {variables: [{name: a, levels: [x]}\n",
        r"is not valid YAML: expected ',' or '\]', but got '<stream end>' at line 2",
    ),
    "unquoted-yes-no": (
        "contexts:\n  variables:\n    - {name: slept, levels: [yes, no]}\n",
        r"variable 'slept' has the level True, which YAML reads from an unquoted yes/no/on/off"
        r"/true/false; quote it",
    ),
    "misspelt-values": (
        "contexts:\n  variables:\n    - {name: sleep, levels: [a, b], value: [1, 2]}\n",
        r"variable 'sleep' has unknown key\(s\) \['value'\]; valid keys are name, levels, values",
    ),
    "unknown-contexts-key": (
        "contexts:\n  variables: [{name: a, levels: [x]}]\n  arrival: uniform\n",
        r"`contexts`: unknown key\(s\) \['arrival'\]; valid keys are cells, probabilities",
    ),
    "bad-probabilities": (
        "contexts:\n  variables: [{name: day, levels: [weekday, weekend]}]\n"
        "  probabilities: [0.5, 0.6]\n",
        r"`probabilities` must be 2 non-negative numbers summing to 1",
    ),
    "fractional-level": (
        "contexts:\n  variables: [{name: sleep, levels: [5.5, 7]}]\n",
        r"study file '.*study.yaml': `contexts`: context variable 'sleep': levels must be",
    ),
    "repeated-variable": (
        "contexts:\n  variables: [{name: a, levels: [x]}, {name: a, levels: [y]}]\n",
        r"context variable names must be distinct, got \['a', 'a'\]",
    ),
    "values-not-one-per-level": (
        "contexts:\n  variables: [{name: sleep, levels: [a, b], values: [1]}]\n",
        r"context variable 'sleep': `values` must be 2 finite numbers",
    ),
}


@pytest.mark.parametrize(("text", "message"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_study_files(tmp_path, text: str, message: str) -> None:
    """Each malformed study file raises a one-line error naming the file and what is wrong."""
    path = write(tmp_path, text)
    with pytest.raises(StudyFileError, match=message) as info:
        load_context_space(path)
    assert "\n" not in str(info.value)
    assert f"study file '{path}'" in str(info.value)


def test_a_file_without_a_contexts_section(tmp_path) -> None:
    """A study file must declare its context space (today its only section)."""
    path = write(tmp_path, "live: {}\n")
    with pytest.MonkeyPatch.context() as patch:  # a later section, e.g. a live study's
        patch.setitem(study_file.SECTIONS, "live", lambda section, where: section)
        with pytest.raises(StudyFileError, match=r"has no `contexts` section; add one") as info:
            load_context_space(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", ["missing", "directory", "not-utf8"])
def test_unreadable_study_files(tmp_path, kind: str) -> None:
    """A missing file, a directory and a binary file are one-line errors."""
    path = tmp_path / "study.yaml"
    if kind == "directory":
        path.mkdir()
    elif kind == "not-utf8":
        path.write_bytes(b"contexts: \xff\xfe\n")
    message = {
        "missing": r"cannot read study file '.*': No such file",
        "directory": r"study file '.*' is not a regular file; give a YAML file",
        "not-utf8": r"study file '.*' is not a UTF-8 text file",
    }[kind]
    with pytest.raises(StudyFileError, match=message) as info:
        load_context_space(path)
    assert "\n" not in str(info.value)


def test_describe_context_space() -> None:
    """One line: variables with levels (numeric ones with values), cells, arrival."""
    assert describe_context_space(PAPER_CONTEXTS) == (
        "curr_loc (home, work, other) x prev_steps (1=1, 2=2, 3=3, 4=4): 12 cells"
    )
    sparse = ContextSpace(
        (ContextVariable("a", ("x", "y")), ContextVariable("b", ("u", "v"))),
        cells=(("x", "u"), ("y", "v")),
        probabilities=(0.25, 0.75),
    )
    assert describe_context_space(sparse) == (
        "a (x, y) x b (u, v): 2 cells (of 4 combinations), arrival probabilities given"
    )
    many = ContextSpace((ContextVariable("hour", tuple(str(h) for h in range(24))),))
    assert describe_context_space(many) == "hour (0, 1, 2, 3, 4, 5, 6, ... (24 levels)): 24 cells"


def test_the_study_loader_refuses_what_the_experiment_loader_refuses(tmp_path) -> None:
    """One strict YAML loader serves both: unhashable keys are one line, merge keys work."""
    with pytest.raises(StudyFileError, match="a mapping key must be a plain value") as caught:
        load_context_space(write(tmp_path, "? [p, q]\n: 1\n"))
    assert "\n" not in str(caught.value)
    merged = (
        "base: &v {name: day, levels: [weekday, weekend]}\n"
        "contexts:\n  variables:\n    - {<<: *v, name: day2}\n"
    )
    with pytest.raises(StudyFileError, match="unknown"):  # `base` is not a section
        load_context_space(write(tmp_path, merged))
