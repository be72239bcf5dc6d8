"""Grid blocks: two axes crossed, with results on both dims, down to reports and ``inspect``.

A grid's combination runs the configuration a one-axis block with the other axis fixed would
run, so its cells equal that block's bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from gambitts.agents.registry import agent_spec
from gambitts.cli.main import main
from gambitts.sims.block_results import experiment_fit_diagnostics
from gambitts.sims.experiments import (
    ExperimentError,
    ExperimentSpec,
    experiment_from_dict,
    experiments_from_yaml,
)
from gambitts.sims.findings import FINDINGS, check_finding, write_findings
from gambitts.sims.plots import plot_experiment, regret_figure
from gambitts.sims.report import block_table, write_report
from gambitts.sims.results import (
    block_problem,
    final_regret_summary,
    format_fit_diagnostics,
    format_summary,
    setting_dim,
    setting_dims,
)
from gambitts.sims.sweep import run_sweep

AGENTS = """\
  replicates: 3
  horizon: 12
  agents:
    - {kind: StdTS}
    - {kind: poGAMBITTS, dims: [optimism, formality, severity], draws_per_cell: 15}
"""
GRID = f"""
crossed:
  description: noise levels x prompts
  outcome_model: linear_3d
  grid:
    noise_level: [0, 2]
    n_prompts: [5, 3]
{AGENTS}"""
ONE_AXIS = "".join(
    f"""
noise_{n}_prompts:
  description: noise levels at {n} prompts
  outcome_model: linear_3d
  n_prompts: {n}
  vary: noise_level
  values: [0, 2]
{AGENTS}"""
    for n in (5, 3)
)
VALID = {
    "description": "d",
    "outcome_model": "linear_3d",
    "grid": {"noise_level": [0, 1], "n_prompts": [4, 8]},
    "agents": [{"kind": "StdTS"}],
}
SEED = 11


@pytest.mark.parametrize(
    "change,message",
    [
        ({"vary": "noise_level"}, r"give either `grid` \(two axes\) or `vary` and `values`"),
        ({"values": [0, 1]}, r"give either `grid` \(two axes\) or `vary` and `values`"),
        ({"grid": {"noise_level": [0, 1]}}, "`grid` must cross exactly 2 axes, got 1"),
        (
            {"grid": {"noise_level": [0], "n_prompts": [4], "draws_per_cell": [15]}},
            "`grid` must cross exactly 2 axes, got 3",
        ),
        ({"grid": {"noise_level": [0], "weather": [1]}}, "`grid` axis 'weather' is none of"),
        (
            {"grid": {"modelled_dim": ["optimism"], "n_dims": [3]}},
            "`grid` cannot cross 'modelled_dim' with 'n_dims' "
            r"\(both set the style dimensions the agents model\)",
        ),
        (
            {"grid": {"noise_level": [0, 1, 0], "n_prompts": [4]}},
            "the values of 'noise_level' repeat a setting \\(0 and 0\\)",
        ),
        (
            {"grid": {"noise_level": [7], "n_prompts": [4]}},
            r"noise levels must be 0..4 \(sd_0 .. sd_4\), got 7",
        ),
        (
            {"grid": {"noise_level": [0], "n_prompts": [0]}},
            "`n_prompts` must be a positive integer, got 0",
        ),
        (
            {"grid": {"noise_level": [0], "n_dims": [4]}},
            r"`n_dims` must be one of \[3, 5, 10, 15, 20\]",
        ),
        (
            {"grid": {"noise_level": [], "n_prompts": [4]}},
            "`grid` values of 'noise_level' must be a non-empty list, got \\[\\]",
        ),
        (
            {"grid": {"noise_level": 1, "n_prompts": [4]}},
            "`grid` values of 'noise_level' must be a non-empty list, got 1",
        ),
        ({"grid": ["noise_level", "n_prompts"]}, "`grid` must map two axes"),
        ({"grids": {}}, r"unknown key\(s\) \['grids'\]"),
    ],
    ids=lambda x: str(x)[:40],
)
def test_bad_grids_are_refused_in_one_line(change, message):
    with pytest.raises(ExperimentError, match=message) as raised:
        experiment_from_dict("mine", {**VALID, **change})
    assert "\n" not in str(raised.value)


def test_a_grid_may_not_name_an_axis_twice():
    with pytest.raises(ExperimentError, match="`grid` names 'noise_level' twice"):
        ExperimentSpec(
            "mine", "d", "linear_3d", (agent_spec("StdTS"),),
            grid=(("noise_level", (0,)), ("noise_level", (1,))),
        )  # fmt: skip


def test_a_grid_resolves_every_combination_first_axis_slowest():
    spec = experiments_from_yaml(GRID)["crossed"]
    settings = spec.settings()
    assert [s.label for s in settings] == ["sd_0,5", "sd_0,3", "sd_2,5", "sd_2,3"]
    assert settings[3].axes == {"noise_level": 2, "n_prompts": 3}
    assert settings[3].coords == {"noise_level": "sd_2", "n_prompts": "3"}
    assert spec.setting_dims == ["noise_level", "n_prompts"]
    # Each combination runs exactly the configurations of a one-axis block at that value.
    one_axis = experiments_from_yaml(ONE_AXIS)
    for setting in settings:
        block = one_axis[f"noise_{setting.axes['n_prompts']}_prompts"]
        cell = next(s for s in block.settings() if s.value == setting.axes["noise_level"])
        assert setting.configs == cell.configs
    assert spec.to_dict()["grid"] == {"noise_level": [0, 2], "n_prompts": [5, 3]}
    assert "grid" not in one_axis["noise_5_prompts"].to_dict()  # one-axis attrs as before


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory, standin_db):
    """Return the grid's results folder and the one-axis blocks' files, from separate sweeps."""
    root = tmp_path_factory.mktemp("grid")
    grid = run_sweep(
        list(experiments_from_yaml(GRID).values()), standin_db, root / "grid",
        seed=SEED, workers=1, save_posteriors=[0],
    )["crossed"]  # fmt: skip
    one_axis = run_sweep(
        list(experiments_from_yaml(ONE_AXIS).values()), standin_db, root / "one_axis",
        seed=SEED, workers=1,
    )  # fmt: skip
    return grid, one_axis


def _load(path) -> xr.Dataset:
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def test_a_grid_file_has_both_dims_and_the_one_axis_cells_bit_for_bit(grid_run):
    grid_path, one_axis = grid_run
    ds = _load(grid_path)
    assert ds["regret"].dims == ("noise_level", "n_prompts", "agent", "replicate", "t")
    assert list(ds["noise_level"].values) == ["sd_0", "sd_2"]
    assert list(ds["n_prompts"].values) == ["5", "3"]
    assert ds.attrs["varies"] == "noise_level,n_prompts"
    assert setting_dims(ds) == ["noise_level", "n_prompts"]
    assert block_problem(ds) is None
    with pytest.raises(ValueError, match="use `setting_dims`"):
        setting_dim(ds)
    for name in ("noise_sd", "optimal_action", "expected_reward", "arm_prompt"):
        assert ds[name].dims[:2] == ("noise_level", "n_prompts"), name
    assert ds.sizes["arm"] == 5
    # Three prompts: the last two arms are filled, as one-axis blocks fill them.
    three = ds.sel(n_prompts="3")
    assert (three["arm_prompt"].isel(arm=slice(3, None)) == "").all()
    assert np.isnan(three["expected_reward"].isel(arm=slice(3, None))).all()
    assert len(set(ds["noise_sd"].sel(noise_level="sd_2").values)) == 1
    for n in ("5", "3"):
        block = _load(one_axis[f"noise_{n}_prompts"])
        assert setting_dims(block) == ["noise_level"]
        cell = ds.sel(n_prompts=n).isel(arm=slice(0, int(n)))
        for name in ("regret", "action", "reward", "optimal_action", "context_cell"):
            assert cell[name].dtype == block[name].dtype, name
            np.testing.assert_array_equal(cell[name].values, block[name].values, err_msg=name)
        for name in ("expected_reward", "arm_prompt", "noise_sd"):
            np.testing.assert_array_equal(cell[name].values, block[name].values, err_msg=name)


def test_summaries_have_one_row_per_combination(grid_run):
    grid_path, one_axis = grid_run
    ds = _load(grid_path)
    rows = final_regret_summary(ds)
    assert [r.setting for r in rows[::2]] == [
        "noise_level=sd_0, n_prompts=5",
        "noise_level=sd_0, n_prompts=3",
        "noise_level=sd_2, n_prompts=5",
        "noise_level=sd_2, n_prompts=3",
    ]
    assert rows[-1].coords == (("noise_level", "sd_2"), ("n_prompts", "3"))
    block = _load(one_axis["noise_3_prompts"])
    expected = {(r.setting, r.agent): r.mean for r in final_regret_summary(block)}
    assert rows[-1].mean == expected["sd_2", rows[-1].agent]
    text = format_summary(ds)
    assert "crossed: final cumulative regret at T=12" in text
    lines = text.splitlines()
    assert lines[1].split() == ["setting", "StdTS", "poGAMBITTS"]
    assert lines[3].startswith("noise_level=sd_0, n_prompts=5  ")
    assert len(lines) == 3 + 4


def test_a_grid_figure_has_rows_for_the_first_axis_and_columns_for_the_second(grid_run, tmp_path):
    grid_path, _ = grid_run
    ds = _load(grid_path)
    figure = regret_figure(ds)
    assert figure.axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 2)
    axes = np.array(figure.axes).reshape(2, 2)
    assert axes[1, 0].get_title() == "noise_level = sd_2 (sd 12.64)\nn_prompts = 5"
    assert axes[0, 1].get_title() == "noise_level = sd_0 (sd 0.71)\nn_prompts = 3"
    assert all(len(ax.lines) == 2 for ax in axes.flat)
    paths = plot_experiment(ds, tmp_path)
    assert [p.name for p in paths] == ["crossed.png", "crossed.pdf"]
    assert paths[0].stat().st_size > 10_000


def test_a_grid_report_has_a_column_per_axis(grid_run, tmp_path):
    grid_path, _ = grid_run
    table = block_table(_load(grid_path)).splitlines()
    assert table[0].startswith("| noise_level | n_prompts | agent | final cumulative regret |")
    assert table[1] == "|---|---|---|---:|---:|---:|"
    assert table[-1].startswith("| sd_2 | 3 | poGAMBITTS | ")
    assert table[-2].startswith("| sd_2 | 3 | StdTS | ") and table[-2].endswith(" | 1.00 |")
    text, path = write_report(grid_path.parent)
    assert path.name == "report.md" and "## crossed" in text and table[-1] in text


def test_findings_leave_a_grid_block_alone(grid_run, tmp_path):
    grid_path, _ = grid_run
    ds = _load(grid_path)
    # A grid block is not a paper block, even under a paper block's name.
    finding = next(f for f in FINDINGS if f.block == "var_decomp_linear")
    line = check_finding(finding, {"var_decomp_linear": ds})
    assert "Not checked: needs results of `var_decomp_linear`" in line
    page = write_findings(grid_path.parent, tmp_path / "results.md").read_text()
    assert "## crossed" in page and "| noise_level | n_prompts | agent |" in page


def test_inspect_reads_a_grid_file_with_its_posteriors(grid_run):
    grid_path, _ = grid_run
    result = CliRunner().invoke(main, ["inspect", str(grid_path)])
    assert result.exit_code == 0, result.output
    assert "noise_level=sd_2, n_prompts=3" in result.output
    assert "/posteriors/sd_2/3/poGAMBITTS/replicate_0" in result.output
    assert "/posteriors/sd_0/5/poGAMBITTS/replicate_0" in result.output
    tree = xr.open_datatree(grid_path, engine="h5netcdf")
    posterior = tree["posteriors/sd_2/3/poGAMBITTS/replicate_0"].to_dataset()
    assert posterior.sizes["chain"] == 1 and "beta" in posterior


def _fits(wall_time: float) -> xr.Dataset:
    """Return a configuration's fit-diagnostics variables: 2 refits x 3 replicates."""
    shape = (2, 3)
    return xr.Dataset(
        {
            "fit_rhat_max": (("refit", "replicate", "variable"), np.full((*shape, 1), 1.01)),
            "fit_ess_bulk_min": (("refit", "replicate", "variable"), np.full((*shape, 1), 400.0)),
            "fit_ess_tail_min": (("refit", "replicate", "variable"), np.full((*shape, 1), 300.0)),
            "fit_divergences": (("refit", "replicate"), np.zeros(shape, dtype=np.int64)),
            "fit_wall_time": (("refit", "replicate"), np.full(shape, wall_time)),
        },
        coords={"refit": [0, 1], "refit_round": ("refit", [6, 12]), "replicate": [0, 1, 2],
                "variable": ["beta"]},
    )  # fmt: skip


def test_fit_diagnostics_of_a_grid_carry_both_dims():
    spec = experiments_from_yaml(GRID)["crossed"]
    results = {}
    for index, setting in enumerate(spec.settings()):
        std, po = setting.configs
        results[std] = xr.Dataset()
        results[po] = _fits(wall_time=index + 1.0)
    diagnostics = experiment_fit_diagnostics(spec, results)
    assert diagnostics["wall_time"].dims == ("noise_level", "n_prompts", "agent", "refit",
                                             "replicate")  # fmt: skip
    assert list(diagnostics["n_prompts"].values) == ["5", "3"]
    assert float(diagnostics["wall_time"].sel(noise_level="sd_2", n_prompts="5").sum()) == 18.0
    assert np.isnan(diagnostics["wall_time"].sel(agent="StdTS")).all()
    text = format_fit_diagnostics(diagnostics).splitlines()
    assert text[0] == "noise_level sd_0, n_prompts 5, poGAMBITTS: 0 divergent transitions, " + (
        "6.0 s of fitting"
    )
    assert text[-2].startswith("noise_level sd_2, n_prompts 3, poGAMBITTS:")
    assert text[-1].split() == ["beta", "R-hat", "1.010,", "bulk", "ESS", "400,", "tail", "ESS",
                                "300"]  # fmt: skip


def test_the_command_refuses_a_bad_grid_in_one_line(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(GRID.replace("n_prompts: [5, 3]", "n_prompts: [5, 3]\n  vary: n_prompts"))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["simulate", "--config", str(config), "--out", str(out)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "give either `grid` (two axes) or `vary` and `values` (one), not both" in result.output
    assert not out.exists()
