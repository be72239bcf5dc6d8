"""``gambitts plot``, ``report`` and ``inspect`` on untidy results folders and full disks."""

from __future__ import annotations

import errno
import shutil
import subprocess

import h5py
import pytest
import xarray as xr
from click.testing import CliRunner

from gambitts.cli.main import main

CONFIG = (
    "tiny_block:\n"
    "  description: two prompts, two agents\n"
    "  outcome_model: linear_1d\n"
    "  n_prompts: 2\n"
    "  vary: noise_level\n"
    "  values: [0, 4]\n"
    "  agents: [{kind: StdTS}, {kind: poGAMBITTS, dims: [optimism]}]\n"
)


def _run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _simulate(folder, replicates: int = 2):
    config = folder.parent / f"{folder.name}.yaml"
    config.write_text(CONFIG)
    result = _run(
        "simulate", "--config", config, "--replicates", replicates, "--horizon", 5,
        "--workers", 1, "--no-plot", "--out", folder,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """Return a results folder of one tiny block (2 replicates, 5 rounds)."""
    folder = tmp_path_factory.mktemp("simulated") / "out"
    _simulate(folder)
    return folder


@pytest.fixture
def out(simulated, tmp_path):
    """Return a fresh copy of the tiny results folder."""
    return shutil.copytree(simulated, tmp_path / "out")


def _add_other_files(out) -> None:
    """Put a foreign NetCDF file, a text file and a per-configuration file beside the block."""
    xr.Dataset({"temperature": ("x", [1.0, 2.0])}).to_netcdf(out / "foreign.nc", engine="h5netcdf")
    (out / "notes.nc").write_text("not NetCDF\n")
    shutil.copyfile(next((out / "configs").glob("*.nc")), out / "config.nc")


NOTICES = [
    "skipped config.nc: a per-configuration file of a sweep (OUT/configs/*.nc), not a block's "
    "results (its `regret` has no `agent` or setting dim)",
    "skipped foreign.nc: not a gambitts results file (no `regret` variable)",
    "skipped notes.nc: cannot be read as NetCDF (Unable to synchronously open file "
    "(file signature not found))",
]


def test_plot_draws_the_valid_block_beside_other_nc_files(out):
    _add_other_files(out)
    result = _run("plot", out)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == NOTICES
    assert result.stdout.startswith("tiny_block: ")
    assert (out / "plots" / "tiny_block.png").stat().st_size > 10_000
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["tiny_block.pdf", "tiny_block.png"]


def test_report_and_findings_cover_the_valid_block_beside_other_nc_files(out, tmp_path):
    _add_other_files(out)
    result = _run("report", out, "--findings", tmp_path / "docs" / "results.md")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == NOTICES  # once, not again for the findings page
    assert "## tiny_block" in result.stdout and "| sd_4 | poGAMBITTS |" in result.stdout
    assert "## tiny_block" in (out / "report.md").read_text()
    page = (tmp_path / "docs" / "results.md").read_text()
    assert "from the results of the block `tiny_block` in `out`" in page
    assert page.count("Not checked") == 1  # the paragraph listing every finding's missing block


def test_a_folder_of_only_other_files_is_one_line_error(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.nc").write_text("not NetCDF\n")
    for command in ("plot", "report"):
        result = _run(command, tmp_path / "out")
        assert result.exit_code == 2
        assert result.stderr.splitlines() == [
            NOTICES[2],
            f"Error: no results (*.nc) in {str(tmp_path / 'out')!r} (skipped notes.nc: not "
            f"results of a block); run `gambitts simulate --out {tmp_path / 'out'}` first",
        ]


def test_plot_of_an_unknown_block_names_the_blocks_found(out):
    result = _run("plot", out, "--experiment", "nope")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: no results of nope in {str(out)!r}; blocks found there: tiny_block"
    )


def _damaged_copy(out):
    """Return a copy of the block's file with the bytes of its first `regret` chunk flipped."""
    path = out / "damaged.nc"
    shutil.copyfile(out / "tiny_block.nc", path)
    with h5py.File(path, "r") as f:
        chunk = f["regret"].id.get_chunk_info(0)
    data = bytearray(path.read_bytes())
    for k in range(chunk.byte_offset, chunk.byte_offset + chunk.size):
        data[k] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    "make,message",
    [
        (
            lambda out, db: _add_other_files(out) or out / "foreign.nc",
            "is not a gambitts results file (no `regret` variable); `gambitts inspect` needs a "
            "block's results file, OUT/<block>.nc of `gambitts simulate`",
        ),
        (
            lambda out, db: _add_other_files(out) or out / "notes.nc",
            "as NetCDF (Unable to synchronously open file (file signature not found)); "
            "`gambitts inspect` needs a block's results file",
        ),
        (
            lambda out, db: _damaged_copy(out),
            "is damaged: its `regret` cannot be read (Can't synchronously read data",
        ),
        (
            lambda out, db: db.save(out / "db.nc") or out / "db.nc",
            "is a generator database (see `gambitts promptdb --check",
        ),
    ],
    ids=["foreign", "not-netcdf", "damaged", "generator-database"],
)
def test_inspect_says_what_a_file_is_in_one_line(out, tiny_prompt_db, make, message):
    path = make(out, tiny_prompt_db)
    result = _run("inspect", path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("Error: ") and str(path) in result.stderr
    assert message in result.stderr


def test_inspect_summarises_a_per_configuration_file(out):
    path = next((out / "configs").glob("*.nc"))
    result = _run("inspect", path)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{path}: per-configuration results (one agent at one setting")
    assert "2 replicates, 5 rounds, final cumulative regret " in result.stdout


def test_a_single_replicate_prints_n_a_for_the_interval(tmp_path):
    folder = tmp_path / "one"
    simulated = _simulate(folder, replicates=1)
    assert "over 1 replicate (no interval)" in simulated.stdout
    rows = [line for line in simulated.stdout.splitlines() if line.startswith("sd_")]
    assert len(rows) == 2 and all(line.count("n/a") == 2 for line in rows)
    assert "[" not in "".join(rows)
    reported = _run("report", folder)
    assert reported.stdout.count("| n/a |") == 4


def test_plots_being_a_file_is_one_line_naming_it(out):
    (out / "plots").write_text("in the way")
    result = _run("plot", out)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: cannot write figures to {str(out / 'plots')!r}: it is a file, not a folder; "
        "move or remove it and plot again"
    ]


def _assert_no_figure_written(result, plots) -> None:
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"Error: cannot write {str(plots / 'tiny_block.png')!r}: the disk is full"
    )
    assert line.endswith("free some space or write to another disk")
    assert not plots.exists() or list(plots.iterdir()) == []  # no 0-byte or partial figure


def test_plot_on_a_full_disk_leaves_no_partial_figure(out, monkeypatch):
    from matplotlib.figure import Figure

    def savefig(self, fname, **kwargs):
        with open(fname, "wb") as handle:
            handle.write(b"\x89PNG half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", savefig)
    _assert_no_figure_written(_run("plot", out), out / "plots")


@pytest.fixture
def full_disk(tmp_path):
    """Return a folder on a 200 kB tmpfs (mounted for the test, unmounted after it)."""
    mount = tmp_path / "full"
    mount.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as error:
        pytest.skip(f"cannot mount a small tmpfs to fill: {error}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def _fill(folder) -> None:
    """Write a file in ``folder`` until its disk is full."""
    with open(folder / "filler", "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC


def test_plot_and_report_on_a_real_full_disk_leave_no_partial_file(simulated, full_disk):
    shutil.copyfile(simulated / "tiny_block.nc", full_disk / "tiny_block.nc")
    (full_disk / "report.md").write_text("old report")
    _fill(full_disk)
    _assert_no_figure_written(_run("plot", full_disk), full_disk / "plots")
    reported = _run("report", full_disk)
    assert reported.exit_code == 2
    assert reported.stderr.strip() == (
        f"Error: cannot write {str(full_disk / 'report.md')!r}: the disk is full; free some "
        "space or write to another disk"
    )
    assert (full_disk / "report.md").read_text() == "old report"
    assert sorted(p.name for p in full_disk.iterdir()) == [
        "filler", "plots", "report.md", "tiny_block.nc"
    ]  # fmt: skip
