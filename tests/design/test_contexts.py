"""Context spaces: cells, labels, features and arrival, for the paper's space and any other."""

from __future__ import annotations

import numpy as np
import pytest

from gambitts.design.contexts import (
    PAPER_CONTEXTS,
    ContextSpace,
    ContextSpaceError,
    ContextVariable,
)

SLEEP = ContextSpace(
    (
        ContextVariable("time_of_day", ("morning", "evening")),
        ContextVariable("day", ("weekday", "weekend")),
        ContextVariable("sleep", ("short", "ok", "long"), values=(5, 7, 9)),
    )
)


def test_the_papers_space_has_its_twelve_cells_in_order():
    assert PAPER_CONTEXTS.n_cells == 12
    assert PAPER_CONTEXTS.cell_labels[:5] == ("home/1", "home/2", "home/3", "home/4", "work/1")
    assert PAPER_CONTEXTS.cell_index({"curr_loc": "work", "prev_steps": 3}) == 6
    assert PAPER_CONTEXTS.cell_index({"curr_loc": "other", "prev_steps": "4"}) == 11
    assert PAPER_CONTEXTS.feature_names == (
        "prev_steps", "curr_loc[home]", "curr_loc[work]", "curr_loc[other]",
    )  # fmt: skip
    features = PAPER_CONTEXTS.features()
    np.testing.assert_array_equal(features[6], [3.0, 0.0, 1.0, 0.0])


def test_any_space_gives_product_cells_and_features():
    assert SLEEP.n_cells == 12
    assert SLEEP.cell_labels[0] == "morning/weekday/short"
    assert SLEEP.cell_labels[-1] == "evening/weekend/long"
    assert SLEEP.feature_names == (
        "sleep", "time_of_day[morning]", "time_of_day[evening]", "day[weekday]", "day[weekend]",
    )  # fmt: skip
    cell = SLEEP.cell_index({"time_of_day": "evening", "day": "weekday", "sleep": "long"})
    np.testing.assert_array_equal(SLEEP.features()[cell], [9.0, 0.0, 1.0, 1.0, 0.0])
    assert SLEEP.cell_level_labels("day")[:4] == ("weekday", "weekday", "weekday", "weekend")


def test_explicit_cells_and_probabilities():
    space = ContextSpace(SLEEP.variables, cells=[["morning", "weekday", "ok"],
                                                  ["evening", "weekend", "long"]],
                         probabilities=[0.25, 0.75])  # fmt: skip
    assert space.n_cells == 2 and space.cell_labels == (
        "morning/weekday/ok", "evening/weekend/long",
    )  # fmt: skip
    draws = space.draw_cells(np.random.default_rng(0), 20_000)
    share = (draws == 1).mean()
    assert abs(share - 0.75) < 4 * np.sqrt(0.75 * 0.25 / 20_000)
    with pytest.raises(ContextSpaceError, match=r"'sleep': 'ok'} \(row 1\) is not one of"):
        space.cell_index({"time_of_day": "morning", "day": "weekend", "sleep": "ok"})


def test_uniform_arrival_draws_as_the_paper_did():
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(PAPER_CONTEXTS.draw_cells(rng_a, 50), rng_b.integers(0, 12, 50))


def test_round_trip_through_plain_data_and_json():
    space = ContextSpace(SLEEP.variables, probabilities=[1 / 12] * 12)
    assert ContextSpace.from_json(space.to_json()) == space
    assert ContextSpace.from_dict(SLEEP.to_dict()) == SLEEP


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: ContextVariable("time of day", ("a",)), "plain identifier"),
        (lambda: ContextVariable("x", "ab"), "`levels` must be a list"),
        (lambda: ContextVariable("x", ("a", "a")), "distinct and not empty"),
        (lambda: ContextVariable("x", (1.5,)), "levels must be non-empty labels"),
        (lambda: ContextVariable("x", ("a", "b"), values=(1,)), "`values` must be 2 finite"),
        (lambda: ContextSpace(()), "at least one ContextVariable"),
        (lambda: ContextSpace((SLEEP.variables[0], SLEEP.variables[0])), "must be distinct"),
        (lambda: ContextSpace(SLEEP.variables, probabilities=[0.5] * 12), "summing to 1"),
        (
            lambda: ContextSpace(SLEEP.variables, cells=[["morning", "weekday"]]),
            "one level of each",
        ),
        (
            lambda: ContextSpace.from_dict({"variables": [{"name": "x"}]}),
            "needs `name` and `levels`",
        ),
        (lambda: ContextSpace.from_dict({"vars": []}), r"unknown key\(s\) \['vars'\]"),
        (
            lambda: SLEEP.cell_index({"time_of_day": "noon", "day": "weekday", "sleep": "ok"}),
            "has no level 'noon'",
        ),
        (lambda: SLEEP.cell_index({"time_of_day": "morning"}), r"missing \['day', 'sleep'\]"),
    ],
    ids=lambda x: "" if callable(x) else x[:25],
)
def test_bad_spaces_and_contexts_are_one_line_errors(build, message):
    with pytest.raises(ContextSpaceError, match=message) as caught:
        build()
    assert "\n" not in str(caught.value)
