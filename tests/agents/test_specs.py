"""Agent specs: one validated class per kind, priors and hyper-parameters from plain data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gambitts.agents import EnsPoGAMBITTS, FoGAMBITTS, PoGAMBITTS, StdTS
from gambitts.agents.registry import AGENT_SPECS, agent_from_dict, agent_spec
from gambitts.design.contexts import PAPER_CONTEXTS
from gambitts.errors import ExperimentError


def test_the_registry_names_each_kind_once_with_its_own_spec_class():
    assert list(AGENT_SPECS) == [
        "StdTS",
        "StdTS:Contextual",
        "poGAMBITTS",
        "foGAMBITTS",
        "ens-poGAMBITTS",
        "custom-poGAMBITTS",
        "custom-foGAMBITTS",
    ]
    assert len(set(AGENT_SPECS.values())) == len(AGENT_SPECS)
    assert all(spec.kind == kind for kind, spec in AGENT_SPECS.items())


def test_priors_and_hyper_parameters_written_as_mappings_reach_the_agents():
    stdts = agent_spec("StdTS", prior={"mean": 7, "count": 2}).build(4, PAPER_CONTEXTS)
    assert isinstance(stdts, StdTS) and (stdts.prior.mean, stdts.prior.count) == (7.0, 2.0)
    po = agent_spec(
        "poGAMBITTS", dims=["optimism"], noise="unknown", prior={"coef_precision": 4}
    ).build(4, PAPER_CONTEXTS)
    assert isinstance(po, PoGAMBITTS)
    assert (po.prior.coef_precision, po.prior.noise) == (4.0, "unknown")
    fo = agent_spec("foGAMBITTS", dims=["a", "b"], treatment_prior={"kappa": 0.5, "dof": 3}).build(
        4, PAPER_CONTEXTS
    )
    assert isinstance(fo, FoGAMBITTS) and (fo.treatment_prior.kappa, fo.treatment_prior.dof) == (
        0.5,
        3.0,
    )
    ens = agent_spec(
        "ens-poGAMBITTS", dims=["a"], ensemble={"learning_rate": 0.01, "adam_betas": [0.8, 0.9]}
    ).build(4, PAPER_CONTEXTS)
    assert isinstance(ens, EnsPoGAMBITTS)
    assert (ens.config.learning_rate, ens.config.adam_betas) == (0.01, (0.8, 0.9))


def test_a_prior_changes_the_posterior_the_agent_starts_from():
    wide = agent_spec("poGAMBITTS", dims=["a"]).build(3, PAPER_CONTEXTS)
    tight = agent_spec("poGAMBITTS", dims=["a"], prior={"intercept_mean": 10}).build(
        3, PAPER_CONTEXTS
    )
    means = np.zeros((1, PAPER_CONTEXTS.n_cells, 3, 1))
    wide.reset(1, generator_means=means)
    tight.reset(1, generator_means=means)
    assert wide.stage2_.mean_[0, -1] == 77.0 and tight.stage2_.mean_[0, -1] == 10.0


def test_a_spec_round_trips_through_plain_data():
    for spec in [
        agent_spec("StdTS:Contextual", label="ctx", prior={"scale": 3}),
        agent_spec("poGAMBITTS", dims=["a", "b"], draws_per_cell=8, prior={"coef_mean": 1}),
        agent_spec("ens-poGAMBITTS", dims=["a"], ensemble={"n_members": 4}),
        agent_spec("foGAMBITTS", dims=["a"], noise="unknown", treatment_prior={"scale": 2}),
    ]:
        assert agent_from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    "entry,message",
    [
        ({"kind": "StdTS", "noise": "unknown"}, r"StdTS has no setting\(s\) \['noise'\]"),
        (
            {"kind": "poGAMBITTS", "dims": ["a"], "draws_per_cell": 2.5},
            "`draws_per_cell` must be a whole number, got 2.5",
        ),
        (
            {"kind": "poGAMBITTS", "dims": ["a"], "draws_per_cell": 0},
            "`draws_per_cell` must be a positive whole number",
        ),
        (
            {"kind": "poGAMBITTS", "dims": ["a"], "draws_per_cell": True},
            "`draws_per_cell` must be a whole number, got True",
        ),
        (
            {"kind": "poGAMBITTS", "dims": ["a"], "prior": {"precision": 1}},
            r"`prior` has unknown key\(s\) \['precision'\]; valid keys are \['coef_mean'",
        ),
        (
            {"kind": "poGAMBITTS", "dims": ["a"], "prior": {"coef_precision": -1}},
            "`prior`: `coef_precision` must be positive, got -1.0",
        ),
        (
            {"kind": "poGAMBITTS", "dims": ["a"], "prior": {"coef_precision": "1"}},
            "`prior.coef_precision` must be a finite number, got '1'",
        ),
        (
            {"kind": "poGAMBITTS", "dims": ["a"], "prior": {"noise": "unknown"}},
            "set `noise: unknown` on the agent, not inside `prior`",
        ),
        (
            {"kind": "poGAMBITTS", "dims": ["a"], "prior": 1.0},
            r"`prior` must be a mapping of \['coef_mean'",
        ),
        (
            {"kind": "foGAMBITTS", "dims": ["a"], "noise": "maybe"},
            r"`noise` must be one of \['known', 'unknown'\], got 'maybe'",
        ),
        (
            {
                "kind": "ens-poGAMBITTS",
                "dims": ["a"],
                "preset": "paper",
                "ensemble": {"n_members": 2},
            },
            "`preset: paper` fixes the ensemble's hyper-parameters",
        ),
        (
            {"kind": "ens-poGAMBITTS", "dims": ["a"], "ensemble": {"adam_betas": [0.9]}},
            "`ensemble.adam_betas` must be a list of 2 values",
        ),
        (
            {"kind": "StdTS", "prior": {"mean": float("nan")}},
            "`prior.mean` must be a finite number, got nan",
        ),
    ],
    ids=lambda x: str(x)[:40],
)
def test_inapplicable_or_mistyped_settings_are_refused_with_one_line(entry, message):
    with pytest.raises(ExperimentError, match=message) as error:
        agent_from_dict(entry)
    assert "\n" not in str(error.value)


def test_with_setting_changes_one_field_or_one_field_of_a_prior_and_checks_it():
    spec = agent_spec("poGAMBITTS", dims=["a"])
    assert spec.has_setting("prior.coef_precision") and not spec.has_setting("prior.nothing")
    assert not spec.has_setting("ensemble.learning_rate")
    changed = spec.with_setting("prior.coef_precision", 0.5)
    assert changed.prior.coef_precision == 0.5 and changed.prior.intercept_mean == 77.0
    assert dataclasses.replace(changed, prior=spec.prior) == spec
    assert spec.with_setting("draws_per_cell", 3).draws_per_cell == 3
    with pytest.raises(ExperimentError, match="`prior.coef_precision` must be a finite number"):
        spec.with_setting("prior.coef_precision", "high")
    with pytest.raises(ExperimentError, match="has no setting 'preset'"):
        spec.with_setting("preset", "paper")
