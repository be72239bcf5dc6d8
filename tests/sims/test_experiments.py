"""Experiment definitions: the shipped block, and one-line errors for bad definitions."""

from __future__ import annotations

import pytest

from gambitts.agents import FoGAMBITTS, PoGAMBITTS, StdTS
from gambitts.agents.registry import agent_spec
from gambitts.design.contexts import PAPER_CONTEXTS
from gambitts.sims.experiments import (
    ExperimentError,
    experiment_from_dict,
    experiment_names,
    load_experiment,
    load_experiment_file,
)

VALID = {
    "description": "d",
    "outcome_model": "linear_3d",
    "n_prompts": 5,
    "vary": "noise_level",
    "values": [0],
    "horizon": 10,
    "replicates": 2,
    "agents": [{"kind": "StdTS"}],
}


def test_all_nine_blocks_ship_and_resolve():
    assert experiment_names() == [
        "one_d_sim",
        "scale_arms",
        "var_decomp_linear",
        "var_decomp_nonlinear",
        "db_access_sim",
        "scale_dimensions",
        "scale_fogambitt_arms",
        "hedged_1d_sim",
        "covariates",
        "ensemble_presets",
    ]
    for name in experiment_names():
        assert load_experiment(name).settings(), name


def test_settings_resolve_what_a_block_varies():
    one_d = {s.label: s for s in load_experiment("one_d_sim").settings()}
    po = one_d["severity"].configs[0]
    assert po.agent.kind == "poGAMBITTS" and po.agent.dims == ("severity",)
    assert one_d["severity"].configs[1].agent.dims == ("severity",)  # ens-poGAMBITTS
    assert one_d["severity"].configs[3].agent.modelled_dims == ()  # StdTS models no dims
    dims = {s.label: s for s in load_experiment("scale_dimensions").settings()}
    ten = dims["10"].configs[0]
    assert ten.outcome_dims == ten.agent.dims and len(ten.agent.dims) == 10
    assert ten.outcome_model == "linear_full"
    draws = {s.label: s for s in load_experiment("db_access_sim").settings()}
    assert draws["15"].configs[0].agent.draws_per_cell == 15
    assert draws["all"].configs[0].agent.draws_per_cell is None
    # StdTS does not depend on generator access: one configuration serves all five settings.
    assert draws["15"].configs[1].agent.draws_per_cell == 15  # ens-poGAMBITTS
    assert len({setting.configs[2] for setting in draws.values()}) == 1
    arms = load_experiment("scale_arms").settings()
    assert [s.configs[0].n_prompts for s in arms] == [3, 5, 15, 30, 40]
    long = load_experiment("scale_fogambitt_arms")
    assert long.horizon == 10_000 and long.n_prompts == 40
    assert [s.label for s in long.settings()] == ["sd_0", "sd_2", "sd_4"]


def test_var_decomp_linear_has_the_papers_defaults():
    spec = load_experiment("var_decomp_linear")
    assert (spec.replicates, spec.horizon, spec.n_prompts, spec.values) == (
        250,
        1000,
        5,
        (0, 1, 2, 3, 4),
    )
    assert [a.kind for a in spec.agents] == ["StdTS", "poGAMBITTS", "ens-poGAMBITTS", "foGAMBITTS"]
    po = spec.agents[1]
    assert po.dims == ("optimism", "formality", "severity") and po.draws_per_cell == 500
    assert po.noise == "known"


def test_agent_specs_build_the_right_agents():
    assert isinstance(agent_spec("StdTS").build(5, PAPER_CONTEXTS), StdTS)
    contextual = agent_spec("StdTS:Contextual").build(5, PAPER_CONTEXTS)
    assert contextual.contextual and contextual.name == "StdTS:Contextual"
    po = agent_spec(
        "poGAMBITTS", dims=("optimism",), context_features=True, prompt_indicators=True
    ).build(5, PAPER_CONTEXTS)
    assert isinstance(po, PoGAMBITTS) and po.n_features == 1 + 4 + 4 + 1
    fo = agent_spec(
        "foGAMBITTS", label="fo (unknown noise)", dims=("a", "b"), noise="unknown"
    ).build(3, PAPER_CONTEXTS)
    assert (
        isinstance(fo, FoGAMBITTS)
        and fo.prior.noise == "unknown"
        and fo.name == "fo (unknown noise)"
    )


@pytest.mark.parametrize(
    "change,message",
    [
        ({"n_prompt": 5}, r"unknown key\(s\) \['n_prompt'\]"),
        ({"horizon": 0}, "`horizon` must be a positive integer, got 0"),
        ({"replicates": "many"}, "`replicates` must be a positive integer, got 'many'"),
        ({"values": [5]}, r"noise levels must be 0..4 \(sd_0 .. sd_4\), got 5"),
        ({"vary": "weather"}, "`vary` 'weather' is none of .* no setting of this block's agents"),
        ({"vary": "n_dims", "values": [4]}, r"`n_dims` must be one of \[3, 5, 10, 15, 20\]"),
        ({"vary": None}, "`values` needs `vary`"),
        ({"values": []}, "`values` must list at least one value"),
        ({"agents": []}, "must list at least one agent"),
        ({"agents": [{"kind": "UCB"}]}, "agent 1: `kind` must be one of"),
        ({"agents": [{"kind": "poGAMBITTS"}]}, "`dims` must name at least one style dimension"),
        (
            {"agents": [{"kind": "StdTS", "dims": ["optimism"]}]},
            r"StdTS has no setting\(s\) \['dims'\]; its settings are \['label', 'prior'\]",
        ),
        ({"agents": [{"kind": "StdTS"}, {"kind": "StdTS"}]}, "agent labels must be unique"),
        (
            {"agents": [{"kind": "StdTS", "colour": "red"}]},
            r"agent 1: StdTS has no setting\(s\) \['colour'\]",
        ),
        # Values of the wrong type are refused, never misread.
        (
            {"agents": [{"kind": "poGAMBITTS", "dims": ["optimism"], "context_features": "no"}]},
            "`context_features` must be true or false, got 'no'",
        ),
        (
            {"agents": [{"kind": "poGAMBITTS", "dims": "optimism"}]},
            r"agent 1 \(poGAMBITTS\): `dims` must be a list of names, e.g. .*, got 'optimism'",
        ),
        (
            {"agents": [{"kind": "poGAMBITTS", "dims": ["optimism"], "draws_per_cell": 2.5}]},
            "`draws_per_cell` must be a whole number, got 2.5",
        ),
        ({"agents": [{"kind": "StdTS", "label": 5}]}, "`label` must be a string, got 5"),
        ({"agents": [{"kind": "StdTS", "label": ""}]}, "`label` must not be empty"),
        ({"agents": [{"kind": 5}]}, "`kind` must be one of .*, got 5"),
        (
            {"agents": [{"kind": "poGAMBITTS", "dims": ["optimism", "optimism"]}]},
            r"`dims` must not repeat a value, got \['optimism', 'optimism'\]",
        ),
        (
            {"agents": [{"kind": "StdTS", "noise": "unknown"}]},
            r"StdTS has no setting\(s\) \['noise'\]",
        ),
        ({"description": 5}, "`description` must be a string, got 5"),
        ({"outcome_model": "linear_9d"}, "unknown `outcome_model` 'linear_9d'; choose one of"),
        ({"vary": ["noise_level"]}, "`vary` must name what varies, got"),
    ],
    ids=lambda x: str(x)[:30],
)
def test_bad_definitions_are_rejected_with_the_key_named(change, message):
    with pytest.raises(ExperimentError, match=message):
        experiment_from_dict("mine", {**VALID, **change})


def test_missing_keys_are_listed_and_paper_defaults_fill_the_rest():
    with pytest.raises(ExperimentError, match=r"missing key\(s\) \['outcome_model'\]"):
        experiment_from_dict("mine", {k: v for k, v in VALID.items() if k != "outcome_model"})
    minimal = experiment_from_dict(
        "mine", {"description": "d", "outcome_model": "linear_3d", "agents": [{"kind": "StdTS"}]}
    )
    assert (minimal.replicates, minimal.horizon, minimal.n_prompts, minimal.noise_level) == (
        250,
        1000,
        5,
        0,
    )
    assert [s.label for s in minimal.settings()] == ["default"]


def test_user_files_are_read_and_validated(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "mine:\n  description: d\n  outcome_model: linear_1d\n  agents: [{kind: StdTS}]\n"
    )
    assert list(load_experiment_file(path)) == ["mine"]
    path.write_text("mine: [1, 2\n")
    with pytest.raises(ExperimentError, match="is not valid YAML"):
        load_experiment_file(path)
    path.write_text(
        "mine:\n  description: d\n  outcome_model: linear_1d\n  outcome_model: linear_3d\n"
        "  agents: [{kind: StdTS}]\n"
    )
    with pytest.raises(ExperimentError, match=r"duplicate key 'outcome_model' \(also on line 3\)"):
        load_experiment_file(path)
    path.write_text("- just a list\n")
    with pytest.raises(ExperimentError, match="must map experiment names to definitions"):
        load_experiment_file(path)
    with pytest.raises(ExperimentError, match="cannot read experiment file"):
        load_experiment_file(tmp_path / "missing.yaml")


def test_overrides_ignore_none_and_validate():
    spec = load_experiment("var_decomp_linear")
    assert spec.with_overrides(replicates=None, horizon=20).horizon == 20
    with pytest.raises(ExperimentError, match="`replicates` must be a positive integer"):
        spec.with_overrides(replicates=-1)
