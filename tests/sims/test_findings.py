"""The findings page: every paper claim is checked against results and reported."""

from __future__ import annotations

from gambitts.sims.experiments import experiment_names, load_experiment
from gambitts.sims.findings import FINDINGS, final_mean, write_findings
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
