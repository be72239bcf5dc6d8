"""Experiment definitions: the shipped block, and one-line errors for bad definitions."""

from __future__ import annotations

import pytest

from gambitts.agents import FoGAMBITTS, PoGAMBITTS, StdTS
from gambitts.sims.experiments import (
    AgentSpec,
    ExperimentError,
    experiment_from_dict,
    experiment_names,
    load_experiment,
)

VALID = {
    "description": "d",
    "outcome_model": "linear_3d",
    "n_prompts": 5,
    "noise_levels": [0],
    "horizon": 10,
    "replicates": 2,
    "agents": [{"kind": "StdTS"}],
}


def test_var_decomp_linear_has_the_papers_defaults():
    spec = load_experiment("var_decomp_linear")
    assert "var_decomp_linear" in experiment_names()
    assert (spec.replicates, spec.horizon, spec.n_prompts, spec.noise_levels) == (
        250,
        1000,
        5,
        (0, 1, 2, 3, 4),
    )
    assert [a.kind for a in spec.agents] == ["StdTS", "poGAMBITTS", "foGAMBITTS"]
    po = spec.agents[1]
    assert po.dims == ("optimism", "formality", "severity") and po.draws_per_cell == 500
    assert po.noise == "known"


def test_agent_specs_build_the_right_agents():
    assert isinstance(AgentSpec("StdTS").build(5), StdTS)
    contextual = AgentSpec("StdTS:Contextual").build(5)
    assert contextual.contextual and contextual.name == "StdTS:Contextual"
    po = AgentSpec(
        "poGAMBITTS", dims=("optimism",), context_features=True, prompt_indicators=True
    ).build(5)
    assert isinstance(po, PoGAMBITTS) and po.n_features == 1 + 4 + 4 + 1
    fo = AgentSpec(
        "foGAMBITTS", label="fo (unknown noise)", dims=("a", "b"), noise="unknown"
    ).build(3)
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
        ({"noise_levels": [5]}, "`noise_levels` must be a non-empty list of levels 0..4"),
        ({"agents": []}, "must list at least one agent"),
        ({"agents": [{"kind": "UCB"}]}, "agent `kind` must be one of"),
        ({"agents": [{"kind": "poGAMBITTS"}]}, "`dims` must name at least one style dimension"),
        (
            {"agents": [{"kind": "StdTS", "dims": ["optimism"]}]},
            "apply only to poGAMBITTS and foGAMBITTS",
        ),
        ({"agents": [{"kind": "StdTS"}, {"kind": "StdTS"}]}, "agent labels must be unique"),
        (
            {"agents": [{"kind": "StdTS", "colour": "red"}]},
            r"agent 1: unknown key\(s\) \['colour'\]",
        ),
    ],
    ids=lambda x: str(x)[:30],
)
def test_bad_definitions_are_rejected_with_the_key_named(change, message):
    with pytest.raises(ExperimentError, match=message):
        experiment_from_dict("mine", {**VALID, **change})


def test_missing_keys_are_listed():
    with pytest.raises(ExperimentError, match=r"missing key\(s\) \['horizon'\]"):
        experiment_from_dict("mine", {k: v for k, v in VALID.items() if k != "horizon"})


def test_overrides_ignore_none_and_validate():
    spec = load_experiment("var_decomp_linear")
    assert spec.with_overrides(replicates=None, horizon=20).horizon == 20
    with pytest.raises(ExperimentError, match="`replicates` must be a positive integer"):
        spec.with_overrides(replicates=-1)
