"""User code named in experiment files: importing it, fingerprinting it, and its failures.

A custom agent's results are cached under a key holding :func:`source_fingerprint` of its
builders, so the fingerprint must change with every local file a builder runs (its own and the
modules it imports, found without running them) and with nothing else.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

from gambitts.agents.custom import BuilderError, CustomPoGAMBITTS
from gambitts.errors import InputError
from gambitts.user_code import UserCodeError, import_function, source_fingerprint

LINEAR = "gambitts.models.pymc_models:build_outcome_model"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make a user's project the working directory: a builder in ``models/``, its imports.

    ``models/builder.py`` imports ``priors.py`` beside it, which imports ``scales.py``
    (transitively local); it also imports the package ``shared/`` of the working directory,
    gambitts and numpy. ``notes.py`` and ``models/unused.py`` are imported by nothing.
    """
    (tmp_path / "models").mkdir()
    (tmp_path / "shared").mkdir()
    files = {
        "models/builder.py": (
            "import numpy as np\n"
            "from gambitts.models.pymc_models import build_outcome_model\n"
            "from priors import PRIOR\n"
            "import shared.tools\n\n"
            "def build(features, rewards):\n"
            "    return build_outcome_model(features, rewards, prior=PRIOR)\n"
        ),
        "models/priors.py": "from scales import SCALE\nPRIOR = None\n",
        "models/scales.py": "SCALE = 1.0\n",
        "models/unused.py": "X = 1\n",
        "shared/__init__.py": "",
        "shared/tools.py": "from . import helpers\n",
        "shared/helpers.py": "def helper():\n    return 1\n",
        "notes.py": "X = 1\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "edited",
    [
        "models/builder.py",
        "models/priors.py",
        "models/scales.py",
        "shared/__init__.py",
        "shared/tools.py",
        "shared/helpers.py",
    ],
    ids=["builder", "beside", "transitive", "package-init", "package-module", "relative-import"],
)
def test_editing_a_locally_imported_module_changes_the_fingerprint(project, edited):
    before = source_fingerprint("models/builder.py:build")
    with (project / edited).open("a") as handle:
        handle.write("# edited\n")
    assert source_fingerprint("models/builder.py:build") != before


def test_editing_a_file_the_builder_does_not_import_keeps_the_fingerprint(project):
    before = source_fingerprint("models/builder.py:build")
    # Stray files named as the installed packages it imports: the installed ones are imported.
    for name in ("notes.py", "models/unused.py", "numpy.py", "models/numpy.py", "gambitts.py"):
        (project / name).write_text("X = 2\n")
    (project / "models" / "new.py").write_text("Y = 1\n")
    assert source_fingerprint("models/builder.py:build") == before
    # The fingerprint is the same whatever the reference's spelling of the file.
    assert source_fingerprint(f"{project / 'models' / 'builder.py'}:build") == before


def test_fingerprinting_does_not_run_the_code(project):
    (project / "models" / "scales.py").write_text("raise SystemExit('ran')\n")
    (project / "shared" / "__init__.py").write_text("open('ran.txt', 'w').close()\n")
    assert len(source_fingerprint("models/builder.py:build")) == 16
    assert not (project / "ran.txt").exists()
    assert "priors" not in sys.modules


def test_a_module_reference_into_a_local_package_does_not_run_the_package(project, monkeypatch):
    monkeypatch.syspath_prepend(str(project))
    (project / "shared" / "__init__.py").write_text("raise RuntimeError('ran')\n")
    before = source_fingerprint("shared.tools:helper")
    assert len(before) == 16
    (project / "shared" / "helpers.py").write_text("def helper():\n    return 2\n")
    assert source_fingerprint("shared.tools:helper") != before


def test_a_builder_without_local_imports_keeps_the_hash_of_its_file(tmp_path, monkeypatch):
    # Results cached before imports were followed keep their keys.
    monkeypatch.chdir(tmp_path)
    file = tmp_path / "alone.py"
    file.write_text("import numpy\nimport gambitts.models\n\ndef build(f, r):\n    return None\n")
    assert (
        source_fingerprint("alone.py:build") == hashlib.sha256(file.read_bytes()).hexdigest()[:16]
    )


def test_installed_modules_are_fingerprinted_by_their_own_file(project):
    import gambitts.models.pymc_models as pymc_models

    expected = hashlib.sha256(Path(pymc_models.__file__).read_bytes()).hexdigest()[:16]
    assert source_fingerprint(LINEAR) == expected  # its gambitts imports are left out
    numpy_linalg = source_fingerprint("numpy.linalg:inv")
    assert len(numpy_linalg) == 16
    (project / "numpy.py").write_text("# a stray file with an installed package's name\n")
    assert source_fingerprint("numpy.linalg:inv") == numpy_linalg
    assert source_fingerprint("no_such_package.module:f") == ""
    assert source_fingerprint("missing.py:f") == ""


def test_a_builder_file_imports_its_neighbours(project, monkeypatch):
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(project))])
    build = import_function("models/builder.py:build")
    assert build.__name__ == "build"
    assert str(project / "models") in sys.path and str(project) in sys.path
    assert sys.path.index(str(project / "models")) > 0  # appended: installed packages win


@pytest.mark.parametrize(
    "source,message",
    [
        ("import sys\nsys.exit(3)\n", "called sys.exit(3); a builder's module must not exit"),
        ("raise SystemExit\n", "called sys.exit(); a builder's module must not exit"),
        ("def build(\n", "failed: SyntaxError"),
        ("raise ValueError('line one\\nline two')\n", "failed: ValueError: line one"),
    ],
    ids=["exit-3", "exit", "syntax", "two-lines"],
)
def test_a_builder_file_that_exits_or_fails_when_imported_is_one_line(tmp_path, source, message):
    file = tmp_path / f"exits_{len(source)}.py"
    file.write_text(source)
    with pytest.raises(UserCodeError) as error:
        import_function(f"{file}:build", "agent 'x': `builder`")
    assert message in str(error.value)
    assert str(error.value).startswith(f"agent 'x': `builder`: importing {str(file)!r}")
    assert "\n" not in str(error.value)


def test_a_module_that_exits_when_imported_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "exiting_module_for_test.py").write_text("import sys\nsys.exit(4)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UserCodeError, match=r"importing module .* called sys\.exit\(4\)"):
        import_function("exiting_module_for_test:build")


def test_keyboard_interrupt_while_importing_is_not_caught(tmp_path):
    file = tmp_path / "interrupted.py"
    file.write_text("raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        import_function(f"{file}:build")


@pytest.mark.parametrize(
    "body,message",
    [
        ("return None", "returned None (a missing `return model`?); builders must return"),
        ("return {'model': 1}", "returned an object of type dict; builders must return"),
        ("sys.exit(3)", "called sys.exit(3) (models.py, line 5); builders must return"),
        ("return 1 / len(rewards)", "raised ZeroDivisionError: division by zero (models.py, line"),
    ],
    ids=["none", "dict", "exit", "raises"],
)
def test_a_builder_file_failing_at_build_time_is_named_by_its_reference(
    tmp_path, monkeypatch, body, message
):
    monkeypatch.chdir(tmp_path)
    file = tmp_path / "models.py"
    file.write_text(f"import sys\n\n\ndef build(features, rewards):\n    {body}\n")
    builder = import_function("models.py:build")
    agent = CustomPoGAMBITTS(2, 1, 2, builder=builder, method="laplace", n_mc_draws=None)
    with pytest.raises(BuilderError) as error:
        agent.reset(2, generator_means=np.zeros((2, 2, 1)))
    assert str(error.value).startswith("builder 'models.py:build' ")
    assert message in str(error.value)
    assert isinstance(error.value, InputError) and "\n" not in str(error.value)
