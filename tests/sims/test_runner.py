"""The simulator: chunk-invariant replicates, the results Dataset and file, and the science."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from gambitts import __version__
from gambitts.files import write_netcdf_atomic
from gambitts.sims.experiments import load_experiment
from gambitts.sims.generator_samples import generator_draws, generator_means
from gambitts.sims.results import final_regret_summary, format_summary
from gambitts.sims.runner import replicate_seeds, run_experiment
from gambitts.sims.worlds.outcomes import load_outcome_model
from gambitts.sims.worlds.world import select_prompts


@pytest.fixture(scope="module")
def short_spec():
    return load_experiment("var_decomp_linear").with_overrides(
        replicates=12, horizon=40, values=(0, 4)
    )


def test_a_replicates_trajectory_does_not_depend_on_the_batch(standin_db, short_spec):
    whole = run_experiment(short_spec, standin_db, seed=3)
    parts = xr.concat(
        [
            run_experiment(short_spec, standin_db, seed=3, replicates=range(0, 5)),
            run_experiment(short_spec, standin_db, seed=3, replicates=range(5, 12)),
        ],
        dim="replicate",
        data_vars="minimal",
        coords="minimal",
        compat="override",
    )
    for name in ("action", "regret", "reward", "optimal_action", "context_cell"):
        np.testing.assert_array_equal(whole[name].values, parts[name].values, err_msg=name)
    other_seed = run_experiment(short_spec, standin_db, seed=4)
    assert not np.array_equal(whole["action"].values, other_seed["action"].values)


def test_results_dataset_explains_itself(standin_db, short_spec, tmp_path):
    ds = run_experiment(short_spec, standin_db, seed=7)
    assert dict(ds["regret"].sizes) == {"noise_level": 2, "agent": 4, "replicate": 12, "t": 40}
    assert list(ds["agent"].values) == ["StdTS", "poGAMBITTS", "ens-poGAMBITTS", "foGAMBITTS"]
    assert list(ds["noise_level"].values) == ["sd_0", "sd_4"]
    assert ds["optimal_action"].dims == ("noise_level", "replicate", "t")
    assert ds["context_cell"].dims == ("replicate", "t")
    assert ds.attrs["varies"] == "noise_level"
    assert ds.attrs["seed"] == 7 and ds.attrs["gambitts_version"] == __version__
    config = json.loads(ds.attrs["config"])
    assert (
        config["replicates"] == 12
        and config["horizon"] == 40
        and config["outcome_model"] == "linear_3d"
    )
    # Regret is the expected-reward gap of the played arm in the round's context.
    expected = ds["expected_reward"].sel(noise_level="sd_0")
    gap = expected.max("arm") - expected
    cell = ds["context_cell"].values
    played = ds["action"].sel(noise_level="sd_0", agent="StdTS").values
    np.testing.assert_allclose(
        ds["regret"].sel(noise_level="sd_0", agent="StdTS").values,
        gap.values[cell, played],
        rtol=1e-6,
    )
    path = write_netcdf_atomic(ds, tmp_path / "run.nc")
    with xr.open_dataset(path, engine="h5netcdf") as loaded:
        xr.testing.assert_identical(loaded.load(), ds)
    assert [p.name for p in tmp_path.iterdir()] == ["run.nc"]


def test_an_interrupted_write_leaves_no_file(standin_db, short_spec, tmp_path):
    ds = run_experiment(short_spec.with_overrides(replicates=2, horizon=3), standin_db)
    ds.attrs = dict(ds.attrs)
    ds.attrs["unwritable"] = {"a": 1}  # NetCDF cannot store a dict: the write fails midway
    with pytest.raises(TypeError):
        write_netcdf_atomic(ds, tmp_path / "run.nc")
    assert list(tmp_path.iterdir()) == []


def test_summary_table_reports_mean_and_interval(standin_db, short_spec):
    ds = run_experiment(short_spec, standin_db, seed=1)
    rows = final_regret_summary(ds)
    assert len(rows) == 8  # 2 noise levels x 4 agents
    final = ds["regret"].sel(noise_level="sd_0", agent="poGAMBITTS").sum("t").values.astype(float)
    row = next(r for r in rows if r.setting == "sd_0" and r.agent == "poGAMBITTS")
    assert row.mean == pytest.approx(final.mean(), rel=1e-6)
    half = 1.96 * final.std(ddof=1) / np.sqrt(len(final))
    assert (row.low, row.high) == pytest.approx(
        (final.mean() - half, final.mean() + half), rel=1e-6
    )
    text = format_summary(ds)
    assert "poGAMBITTS" in text and f"{row.mean:.1f} [{row.low:.1f}, {row.high:.1f}]" in text


def test_generator_means_use_a_fresh_subset_per_replicate(standin_db):
    outcome = load_outcome_model("linear_3d")
    arms = select_prompts(standin_db, outcome, 5)
    dims = standin_db.dim_index(["optimism", "formality"])
    seeds = replicate_seeds(0, range(300), 1, 15)
    exact = standin_db.cell_means()[arms][..., dims].transpose(1, 0, 2)
    np.testing.assert_allclose(generator_means(standin_db, arms, dims, None, seeds[:2])[1], exact)
    subset = generator_means(standin_db, arms, dims, 15, seeds)
    assert not np.allclose(subset[0], subset[1])
    # Averaged over 300 replicates, subset means are unbiased: within 5 standard errors.
    rows = standin_db.z[arms][..., dims]
    within_sd = np.nanstd(rows, axis=2).transpose(1, 0, 2)
    standard_error = within_sd / np.sqrt(15 * 300)
    assert np.all(np.abs(subset.mean(axis=0) - exact) < 5 * standard_error + 1e-12)


def test_gambitts_beats_standard_thompson_sampling_at_low_noise(standin_db):
    """On linear_3d at sd_0 with 5 prompts: po << StdTS and fo < StdTS (the paper); ens too."""
    spec = load_experiment("var_decomp_linear").with_overrides(replicates=40, values=(0,))
    ds = run_experiment(spec, standin_db, seed=2025)
    rows = {r.agent: r for r in final_regret_summary(ds)}
    # Non-overlapping 95% intervals of the mean: a margin well beyond Monte Carlo error.
    assert rows["poGAMBITTS"].high < 0.5 * rows["StdTS"].low
    assert rows["foGAMBITTS"].high < rows["StdTS"].low
    assert rows["ens-poGAMBITTS"].high < rows["StdTS"].low


def test_generator_draws_resample_cells_with_fewer_rows_than_asked(tiny_prompt_db):
    arms, dims = np.array([0, 2]), tiny_prompt_db.dim_index(["optimism"])
    draws = generator_draws(tiny_prompt_db, arms, dims, 10, replicate_seeds(0, range(2), 1, 10))
    assert draws.shape == (2, 12, 2, 10, 1) and np.all(np.isfinite(draws))
    for cell in range(12):  # every draw is one of the cell's own rows
        rows = tiny_prompt_db.z[2, cell, : tiny_prompt_db.n_draws[2, cell], dims[0]]
        assert np.all(np.isin(draws[:, cell, 1, :, 0], rows.astype(np.float32)))
