"""The findings page: every paper claim is checked against results and reported."""

from __future__ import annotations

import errno
import shutil

import numpy as np
import pytest
import xarray as xr

from gambitts.errors import OutputError
from gambitts.files import write_netcdf_atomic
from gambitts.sims.experiments import experiment_names, load_experiment
from gambitts.sims.findings import FINDINGS, FINDINGS_BLOCKS, final_mean, write_findings
from gambitts.sims.sweep import run_sweep


def test_every_finding_is_checked_on_a_small_full_sweep(tmp_path, standin_db):
    specs = [
        load_experiment(name).with_overrides(replicates=2, horizon=12)
        for name in experiment_names()
    ]
    written = run_sweep(specs, standin_db, tmp_path / "results", seed=1, workers=1)
    page = write_findings(tmp_path / "results", tmp_path / "docs" / "results.md").read_text()
    for finding in FINDINGS:
        assert finding.claim in page
    assert "Not checked" not in page
    assert page.count("**Ours: ") == len(FINDINGS)
    assert all(f"## {name}" in page for name in written)


def test_final_mean_reads_one_setting(standin_db):
    from gambitts.sims.runner import run_experiment

    spec = load_experiment("var_decomp_linear").with_overrides(
        replicates=3, horizon=5, values=(0, 4)
    )
    ds = run_experiment(spec, standin_db)
    expected = (
        ds["regret"].sel(noise_level="sd_4", agent="StdTS").values.astype(float).sum(1).mean()
    )
    assert abs(final_mean(ds, "StdTS", "sd_4") - expected) < 1e-9 * expected


def _block(name: str, varies: str, settings: list[str], agents: list[str]) -> xr.Dataset:
    """Return a hand-made block's results: regret 1 per round, 2 replicates, 3 rounds."""
    shape = (len(settings), len(agents), 2, 3)
    return xr.Dataset(
        {"regret": ((varies, "agent", "replicate", "t"), np.ones(shape))},
        coords={varies: settings, "agent": agents, "replicate": [0, 1], "t": [1, 2, 3]},
        attrs={"experiment": name, "varies": varies, "description": f"{name} by hand"},
    )


@pytest.fixture
def partial_results(tmp_path):
    """Return a folder with two of the findings' blocks and a foreign file."""
    folder = tmp_path / "results"
    folder.mkdir()
    agents = ["StdTS", "poGAMBITTS"]
    hedged = _block("hedged_1d_sim", "modelled_dim", ["optimism", "humor"], agents)
    linear = _block("var_decomp_linear", "noise_level", ["sd_1", "sd_4"], agents)
    write_netcdf_atomic(hedged, folder / "hedged_1d_sim.nc")
    write_netcdf_atomic(linear, folder / "var_decomp_linear.nc")
    xr.Dataset({"z": ("x", [1.0])}).to_netcdf(folder / "foreign.nc", engine="h5netcdf")
    return folder


def test_a_folder_with_some_blocks_says_which_and_what_was_not_checked(tmp_path, partial_results):
    notices = []
    page = write_findings(partial_results, tmp_path / "docs" / "results.md", notify=notices.append)
    page = page.read_text()
    assert notices == ["skipped foreign.nc: not a gambitts results file (no `regret` variable)"]
    assert "simulate --all --out results`." not in page  # no claim that every block was run
    assert "from the results of the blocks `hedged_1d_sim`, `var_decomp_linear` in `results`" in (
        page
    )
    missing = [b for b in FINDINGS_BLOCKS if b not in ("hedged_1d_sim", "var_decomp_linear")]
    assert f"`results` has no results of {', '.join(f'`{b}`' for b in missing)} " in page
    for finding in FINDINGS:
        if finding.block in missing:
            assert f"- {finding.claim} (`{finding.block}`)" in page
    assert (
        "Prompt indicators (hedging) buy back robustness at a small cost. Not checked: needs "
        "results of `one_d_sim`." in page
    )
    assert (
        "when stage 2 includes the right dims. Not checked: our `var_decomp_linear` results lack a "
        "setting or agent it compares (not all values found in index 'noise_level')" in page
    )
    assert page.count("**Ours: agrees**") + page.count("**Ours: DISAGREES**") == 1
    assert page.count("## hedged_1d_sim") == 1 and page.count("## var_decomp_linear") == 1


def test_figures_are_copied_beside_the_page_and_a_failed_copy_leaves_no_file(
    tmp_path, partial_results, monkeypatch
):
    (partial_results / "plots").mkdir()
    (partial_results / "plots" / "hedged_1d_sim.png").write_bytes(b"\x89PNG figure")
    docs = tmp_path / "docs"
    page = write_findings(partial_results, docs / "results.md").read_text()
    assert "![hedged_1d_sim](figures/hedged_1d_sim.png)" in page
    assert (docs / "figures" / "hedged_1d_sim.png").read_bytes() == b"\x89PNG figure"

    def copy_half(source, target, **kwargs):
        with open(target, "wb") as handle:
            handle.write(b"\x89P")
        raise OSError(errno.ENOSPC, "No space left on device")

    (docs / "figures" / "hedged_1d_sim.png").unlink()
    (docs / "results.md").write_text("old page")
    monkeypatch.setattr(shutil, "copyfile", copy_half)
    with pytest.raises(OutputError, match=r"cannot write '.*hedged_1d_sim\.png': the disk is full"):
        write_findings(partial_results, docs / "results.md")
    assert list((docs / "figures").iterdir()) == []
    assert (docs / "results.md").read_text() == "old page"
