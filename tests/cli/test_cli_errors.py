"""The command's errors: one line and exit code 2 for a user's mistake, a traceback for a bug."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from gambitts.cli.main import main

TINY = """
tiny:
  description: d
  outcome_model: linear_3d
  replicates: 2
  horizon: 5
  agents: [{kind: StdTS}]
"""


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize(
    "args,message",
    [
        (["--seed", "18446744073709551616"], "--seed"),
        (["--seed", "-1"], "--seed"),
        (["--save-posteriors", "7"], r"`save_posteriors` replicates [7] are outside 0..1"),
        (["--save-posteriors", "a"], "must be comma-separated replicate numbers"),
        (["--out", ""], "must name a folder, got ''"),
        (["--replicates", "1000000000", "--horizon", "1000000"], "GiB of memory but"),
        (["--scheduler", "nonsense"], "cannot reach the Dask scheduler 'nonsense'"),
    ],
    ids=[
        "seed-2**64",
        "negative-seed",
        "saved-replicate",
        "saved-text",
        "empty-out",
        "huge",
        "scheduler",
    ],  # fmt: skip
)
def test_bad_options_are_one_line_before_any_work(tmp_path, args, message):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    out = tmp_path / "out"
    options = ["--out", str(out), *args] if "--out" not in args else args
    result = _run("simulate", "--config", str(config), "--workers", "1", *options)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (out / "configs").exists() or not list((out / "configs").iterdir())


def test_a_plots_path_that_is_a_file_is_refused_before_any_work(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    (tmp_path / "plots").write_text("not a folder")
    result = _run("simulate", "--config", str(config), "--workers", "1", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "is a file, not a folder" in result.output
    assert not (tmp_path / "configs").exists()


def test_a_bug_shows_its_traceback_and_debug_shows_any(tmp_path, monkeypatch):
    import gambitts.sims.sweep as sweep

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug in gambitts")

    monkeypatch.setattr(sweep, "run_sweep", broken)
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    result = _run("simulate", "--config", str(config), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1 and isinstance(result.exception, ZeroDivisionError)

    config.write_text(TINY.replace("StdTS", "UCB"))
    plain = _run("simulate", "--config", str(config), "--out", str(tmp_path / "o"))
    assert plain.exit_code == 2 and plain.output.count("\n") == 1
    debug = _run("--debug", "simulate", "--config", str(config), "--out", str(tmp_path / "o"))
    assert debug.exit_code == 1 and "agent 1: `kind` must be one of" in str(debug.exception)


def test_ctrl_c_is_one_line_and_keeps_finished_work(tmp_path, monkeypatch):
    import gambitts.sims.sweep as sweep

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep, "run_sweep", interrupted)
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    result = _run("simulate", "--config", str(config), "--out", str(tmp_path / "o"))
    assert result.exit_code == 130
    assert "interrupted: finished configurations are kept in" in result.output
    assert "Traceback" not in result.output


def test_a_block_named_as_a_path_writes_nothing_outside_out(tmp_path):
    victim = tmp_path / "victim.nc"
    victim.write_text("precious")
    config = tmp_path / "evil.yaml"
    config.write_text(TINY.replace("tiny:", f"'{tmp_path / 'victim'}':"))
    result = _run("simulate", "--config", str(config), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and "is not a plain file name" in result.output
    assert victim.read_text() == "precious"


def test_a_full_disk_is_one_line_naming_the_file(tmp_path):
    """On a real full file system (a small tmpfs, mounted where the machine lets us)."""
    mount = tmp_path / "full"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        config = tmp_path / "tiny.yaml"
        config.write_text(TINY.replace("horizon: 5", "horizon: 3000"))
        result = subprocess.run(
            [sys.executable, "-m", "gambitts.cli", "simulate", "--config", str(config),
             "--workers", "1", "--out", str(mount)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("Error: cannot write") and "disk is full" in last
        assert "Traceback" not in result.stderr
        leftovers = [p.name for p in mount.rglob("*") if p.suffix in (".nc", ".tmp")]
        assert leftovers == []
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_binary_experiment_file_is_one_line(tmp_path):
    config = tmp_path / "binary.yaml"
    config.write_bytes(bytes(range(256)))
    result = _run("simulate", "--config", str(config), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "is not a UTF-8 text file" in result.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["--seed", "1_0"], "must be a whole number from 0 to"),
        (["--save-posteriors", "0_1"], "must be comma-separated replicate numbers"),
        (["--save-posteriors", "\u0661"], "must be comma-separated replicate numbers"),
        (["--save-posteriors", ",,,"], "must be comma-separated replicate numbers"),
        (["--scheduler", ""], "`scheduler` must be a Dask scheduler's address"),
        (["--workers", "0"], "Invalid value for '--workers'"),
    ],
    ids=[
        "seed-underscore",
        "saved-underscore",
        "saved-arabic-digit",
        "saved-empty",
        "empty-scheduler",
        "usage-error",
    ],  # fmt: skip
)
def test_numbers_are_read_as_written_and_every_error_is_one_line(tmp_path, args, message):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    result = CliRunner().invoke(
        main, ["simulate", "--config", str(config), "--out", str(tmp_path / "o"), *args]
    )
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
    assert message in result.output
    assert not (tmp_path / "o").exists()  # refused before the output folder was made


@pytest.mark.parametrize(
    "document,message",
    [
        ("yes:\n  description: d\n", "is read by YAML as a bool, not text"),
        ("0x1F:\n  description: d\n", "is read by YAML as a int, not text"),
        ("? [a, b]\n: 1\n", "a mapping key must be a plain value"),
        (TINY.replace("{kind: StdTS}", "{kind: StdTS, label: 'a/b'}"), "must be printable text"),
        (TINY.replace("{kind: StdTS}", "{kind: StdTS, label: ../x}"), "must be printable text"),
        (
            TINY.replace("replicates: 2", "replicates: 2\n  vary: noise_level\n  values: [1, 1]"),
            "repeat a setting (1 and 1)",
        ),
    ],
    ids=["bool-name", "hex-name", "list-key", "slash-label", "dotdot-label", "repeated-values"],
)
def test_yaml_that_would_be_misread_is_refused(tmp_path, document, message):
    config = tmp_path / "bad.yaml"
    config.write_text(document)
    result = _run("simulate", "--config", str(config), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "o").exists()


def test_yaml_merge_keys_work(tmp_path):
    config = tmp_path / "merge.yaml"
    config.write_text(
        "base: &base\n  description: d\n  outcome_model: linear_3d\n  replicates: 2\n"
        "  horizon: 5\n  agents: [{kind: StdTS}]\nother:\n  <<: *base\n  horizon: 6\n"
    )
    from gambitts.sims.experiments import load_experiment_file

    specs = load_experiment_file(config)
    assert specs["other"].horizon == 6 and specs["other"].replicates == 2


def test_figures_are_named_by_their_file_never_by_its_attributes(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    out = tmp_path / "results"
    assert _run("simulate", "--config", str(config), "--out", str(out), "--no-plot").exit_code == 0
    import xarray as xr

    with xr.open_dataset(out / "tiny.nc", engine="h5netcdf") as ds:
        ds = ds.load()
    for name in ("evil", "twin"):  # two files of one block, one claiming a path as its name
        ds.attrs["experiment"] = str(tmp_path / "escaped")
        ds.to_netcdf(out / f"{name}.nc", engine="h5netcdf")
    result = _run("plot", str(out))
    assert result.exit_code == 0, result.output
    assert not list(tmp_path.glob("escaped*"))
    assert {p.name for p in (out / "plots").iterdir()} == {
        f"{n}.{e}" for n in ("evil", "tiny", "twin") for e in ("png", "pdf")
    }


@pytest.mark.parametrize(
    "args,message",
    [
        (["promptdb", "--out", "db.csv"], "give a file name ending in .nc"),
        (["promptdb", "--out", "db.nc", "--seed", "-5"], "Invalid value for '--seed'"),
        (["report", ".", "--out", "tiny.nc"], "give a file name ending in .md"),
        (["report", ".", "--out", "a.md", "--findings", "a.md"], "name the same file"),
    ],
    ids=["promptdb-csv", "promptdb-seed", "report-over-results", "report-twice"],
)
def test_outputs_are_checked_before_anything_is_written(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = _run(*args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert list(tmp_path.iterdir()) == []


def test_a_missing_database_leaves_no_output_folder(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    out = tmp_path / "new"
    result = _run(
        "simulate", "--config", str(config), "--prompt-db", str(tmp_path / "missing.csv"),
        "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 2 and "missing.csv" in result.output
    assert not out.exists()
