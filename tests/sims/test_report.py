"""Reports and figures of a results folder: what counts as a block, tables, safe writes."""

from __future__ import annotations

import errno
import re

import h5py
import numpy as np
import pytest
import xarray as xr

from gambitts.errors import InputError, OutputError
from gambitts.files import write_netcdf_atomic
from gambitts.sims.experiments import load_experiment
from gambitts.sims.plots import plot_experiment
from gambitts.sims.report import block_table, results_files, write_report
from gambitts.sims.results import format_summary
from gambitts.sims.runner import run_experiment


def make_block(regret: np.ndarray, name: str = "tiny") -> xr.Dataset:
    """Return a block's results with ``regret`` of shape (setting, agent, replicate, t)."""
    n_settings, n_agents, n_replicates, horizon = regret.shape
    return xr.Dataset(
        {"regret": (("noise_level", "agent", "replicate", "t"), regret)},
        coords={
            "noise_level": [f"sd_{i}" for i in range(n_settings)],
            "agent": ["StdTS", "poGAMBITTS"][:n_agents],
            "replicate": np.arange(n_replicates),
            "t": np.arange(1, horizon + 1),
        },
        attrs={"experiment": name, "varies": "noise_level", "description": "made by hand"},
    )


@pytest.fixture(scope="module")
def real_block(standin_db) -> xr.Dataset:
    """Return a small block made by the simulator."""
    spec = load_experiment("var_decomp_linear").with_overrides(
        replicates=2, horizon=5, values=(0, 4)
    )
    return run_experiment(spec, standin_db, seed=2)


def _damage_regret(path) -> None:
    """Flip the bytes of the first stored chunk of ``regret`` (the file still opens)."""
    with h5py.File(path, "r") as f:
        chunk = f["regret"].id.get_chunk_info(0)
    data = bytearray(path.read_bytes())
    for k in range(chunk.byte_offset, chunk.byte_offset + chunk.size):
        data[k] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.fixture
def mixed_folder(tmp_path, real_block, tiny_prompt_db):
    """Return a folder with one block's results beside every kind of other ``.nc`` file."""
    folder = tmp_path / "results"
    folder.mkdir()
    write_netcdf_atomic(real_block, folder / "var_decomp_linear.nc")
    xr.Dataset({"temperature": ("x", [1.0, 2.0])}).to_netcdf(
        folder / "foreign.nc", engine="h5netcdf"
    )
    tiny_prompt_db.save(folder / "database.nc")
    configuration = real_block.isel(noise_level=0, agent=0, drop=True)[["regret", "reward"]]
    write_netcdf_atomic(configuration.drop_attrs(), folder / "0123abcd.nc")
    (folder / "notes.nc").write_text("not NetCDF at all\n")
    (folder / "truncated.nc").write_bytes((folder / "var_decomp_linear.nc").read_bytes()[:2000])
    write_netcdf_atomic(real_block, folder / "damaged.nc")
    _damage_regret(folder / "damaged.nc")
    return folder


def test_only_block_files_are_results_and_every_other_file_is_named_with_why(mixed_folder):
    notices = []
    files = results_files(mixed_folder, notify=notices.append)
    assert [f.name for f in files] == ["var_decomp_linear.nc"]
    assert notices == [
        "skipped 0123abcd.nc: a per-configuration file of a sweep (OUT/configs/*.nc), not a "
        "block's results (its `regret` has no `agent` or setting dim)",
        "skipped damaged.nc: damaged: its `regret` cannot be read (Can't synchronously read "
        "data (filter returned failure during read))",
        "skipped database.nc: not a gambitts results file (no `regret` variable)",
        "skipped foreign.nc: not a gambitts results file (no `regret` variable)",
        "skipped notes.nc: cannot be read as NetCDF (Unable to synchronously open file "
        "(file signature not found))",
        "skipped truncated.nc: cannot be read as NetCDF (Unable to synchronously open file "
        "(truncated file: eof = 2000, sblock->base_addr = 0, stored_eof = "
        + notices[-1].split("stored_eof = ")[-1],
    ]


def test_a_report_is_written_for_the_valid_block_beside_other_files(mixed_folder):
    notices = []
    text, path = write_report(mixed_folder, notify=notices.append)
    assert path == mixed_folder / "report.md" and path.read_text() == text
    assert text.count("\n## ") == 1 and "## var_decomp_linear" in text
    assert len(notices) == 6


def test_a_folder_without_blocks_is_one_line_naming_what_was_skipped(tmp_path):
    xr.Dataset({"temperature": ("x", [1.0])}).to_netcdf(tmp_path / "foreign.nc", engine="h5netcdf")
    with pytest.raises(InputError, match=r"^no results \(\*\.nc\) in .*\(skipped foreign\.nc: "):
        results_files(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        results_files(tmp_path / "missing")


def test_a_block_without_the_setting_dim_or_experiment_is_not_a_block(tmp_path):
    block = make_block(np.ones((1, 2, 2, 3)))
    write_netcdf_atomic(block.drop_attrs(), tmp_path / "no_attrs.nc")
    write_netcdf_atomic(block.isel(noise_level=0), tmp_path / "no_setting.nc")
    write_netcdf_atomic(block, tmp_path / "good.nc")
    notices = []
    assert [f.name for f in results_files(tmp_path, notify=notices.append)] == ["good.nc"]
    assert notices == [
        "skipped no_attrs.nc: not a gambitts results file (`regret` has dims ('noise_level', "
        "'agent', 'replicate', 't'), not ('setting', 'agent', 'replicate', 't'))",
        "skipped no_setting.nc: not a gambitts results file (`regret` has dims ('agent', "
        "'replicate', 't'), not ('noise_level', 'agent', 'replicate', 't'))",
    ]


def test_a_single_replicate_has_no_interval():
    block = make_block(np.arange(2 * 2 * 1 * 3, dtype=float).reshape(2, 2, 1, 3))
    table = block_table(block)
    assert "| sd_0 | StdTS | 3.0 | n/a | 1.00 |" in table
    assert not re.search(r"\[\d+\.\d, \d+\.\d\]", table)
    text = format_summary(block)
    assert "over 1 replicate (no interval)" in text
    assert text.splitlines()[3].split() == ["sd_0", "3.0", "n/a", "12.0", "n/a"]
    two = format_summary(make_block(np.ones((2, 2, 2, 3))))
    assert "3.0 [3.0, 3.0]" in two and "n/a" not in two


def test_summary_columns_stay_apart_and_aligned_for_wide_numbers():
    regret = np.ones((2, 2, 3, 2))
    regret[0, :] = [[123456789.0, 0.0], [1.0, 2.0], [98765.0, 4.5]]  # both agents at sd_0
    text = format_summary(make_block(regret))
    header, rule, *rows = text.splitlines()[1:]
    final = np.array([123456789.0, 3.0, 98769.5])
    half = 1.96 * final.std(ddof=1) / np.sqrt(3)
    wide = f"{final.mean():.1f} [{final.mean() - half:.1f}, {final.mean() + half:.1f}]"
    cells = [
        ["noise_level", "StdTS", "poGAMBITTS"],
        ["sd_0", wide, wide],
        ["sd_1", *["2.0 [2.0, 2.0]"] * 2],
    ]
    for line, expected in zip((header, *rows), cells, strict=True):
        assert re.split(r"\s{2,}", line) == expected
    # right-aligned columns: every row's cells end where the header's agent names end
    ends = [header.index("StdTS") + len("StdTS"), len(header)]
    for row, expected in zip(rows, cells[1:], strict=True):
        assert [row.index(expected[1]) + len(expected[1]), len(row)] == ends
    assert len(rule) == len(header)


def _full_disk(monkeypatch, *, partial: bytes = b"\x89PNG partial") -> None:
    """Make every savefig write ``partial`` bytes and then fail as a full disk does."""
    from matplotlib.figure import Figure

    def savefig(self, fname, **kwargs):
        with open(fname, "wb") as handle:
            handle.write(partial)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", savefig)


def test_a_failed_figure_write_leaves_no_partial_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    block = make_block(np.ones((1, 2, 2, 3)))
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "tiny.pdf").write_bytes(b"old figure")
    _full_disk(monkeypatch)
    with pytest.raises(OutputError, match=r"cannot write '.*tiny\.png': the disk is full"):
        plot_experiment(block, plots)
    assert sorted(p.name for p in plots.iterdir()) == ["tiny.pdf"]
    assert (plots / "tiny.pdf").read_bytes() == b"old figure"


def test_figures_are_saved_in_both_formats(tmp_path):
    written = plot_experiment(make_block(np.ones((2, 2, 2, 3))), tmp_path / "plots")
    assert [p.name for p in written] == ["tiny.png", "tiny.pdf"]
    assert written[0].read_bytes().startswith(b"\x89PNG") and written[0].stat().st_size > 5000
    assert written[1].read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["tiny.pdf", "tiny.png"]


def test_plots_being_a_file_is_one_line_naming_it(tmp_path):
    (tmp_path / "plots").write_text("in the way")
    with pytest.raises(OutputError, match=r"^cannot write figures to '.*plots': it is a file"):
        plot_experiment(make_block(np.ones((1, 2, 2, 3))), tmp_path / "plots")


def test_a_failed_report_write_keeps_the_old_report(tmp_path, monkeypatch):
    import pathlib

    write_netcdf_atomic(make_block(np.ones((1, 2, 2, 3))), tmp_path / "tiny.nc")
    (tmp_path / "report.md").write_text("old report")
    original = pathlib.Path.write_text

    def write_text(self, text, *args, **kwargs):
        original(self, text[:10], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "write_text", write_text)
    with pytest.raises(OutputError, match=r"cannot write '.*report\.md': the disk is full"):
        write_report(tmp_path)
    monkeypatch.undo()
    assert (tmp_path / "report.md").read_text() == "old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md", "tiny.nc"]
