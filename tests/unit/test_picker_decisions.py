"""Unit tests of what a simulated picker presses at a module: plan_presses, a pure function."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from floorgate.core.commands import Button
from floorgate.firmware_sim.pickers import PickKind, PickPlan, plan_presses

pytestmark = pytest.mark.unit


def shown_after(shown: int, presses: tuple[Button, ...]) -> int:
    """What the module displays after the presses: plus/minus step it, never below zero."""
    for button in presses:
        if button is Button.PLUS:
            shown += 1
        elif button is Button.MINUS:
            shown = max(0, shown - 1)
    return shown


def test_a_careful_picker_just_confirms_what_is_shown() -> None:
    plan = plan_presses(3, 3, random.Random(1))

    assert plan == PickPlan(presses=(Button.CONFIRM,), kind=PickKind.PICK)


def test_a_short_takes_one_to_all_away_and_presses_short() -> None:
    seen_missing = set()
    for seed in range(200):
        plan = plan_presses(3, 3, random.Random(seed), short_rate=1.0)
        assert plan.kind is PickKind.SHORT
        assert plan.presses[-1] is Button.SHORT
        assert set(plan.presses[:-1]) == {Button.MINUS}
        seen_missing.add(len(plan.presses) - 1)

    assert seen_missing == {1, 2, 3}  # down to 0 is allowed: the bin was empty


def test_an_over_pick_presses_plus_once_then_confirms() -> None:
    plan = plan_presses(2, 2, random.Random(7), mistake_rate=1.0)

    assert plan == PickPlan(presses=(Button.PLUS, Button.CONFIRM), kind=PickKind.OVER_PICK)


def test_short_wins_over_a_mistake_when_both_are_certain() -> None:
    plan = plan_presses(2, 2, random.Random(7), short_rate=1.0, mistake_rate=1.0)

    assert plan.kind is PickKind.SHORT


def test_nothing_requested_cannot_be_short() -> None:
    plan = plan_presses(0, 0, random.Random(3), short_rate=1.0)

    assert plan == PickPlan(presses=(Button.CONFIRM,), kind=PickKind.PICK)


@pytest.mark.parametrize(
    ("shown", "requested", "presses"),
    [
        (4, 3, (Button.MINUS, Button.CONFIRM)),
        (1, 3, (Button.PLUS, Button.PLUS, Button.CONFIRM)),
        (3, 3, (Button.CONFIRM,)),
    ],
)
def test_fixing_an_error_brings_the_display_back_to_the_request(
    shown: int, requested: int, presses: tuple[Button, ...]
) -> None:
    plan = plan_presses(shown, requested, random.Random(0))

    assert plan == PickPlan(presses=presses, kind=PickKind.PICK)


def test_rates_of_zero_draw_no_randomness() -> None:
    rng = random.Random(42)
    before = rng.getstate()

    plan_presses(5, 5, rng)

    assert rng.getstate() == before


@given(
    shown=st.integers(min_value=0, max_value=50),
    requested=st.integers(min_value=0, max_value=50),
    short_rate=st.floats(min_value=0.0, max_value=1.0),
    mistake_rate=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_the_display_ends_where_the_plan_kind_says(
    shown: int, requested: int, short_rate: float, mistake_rate: float, seed: int
) -> None:
    plan = plan_presses(
        shown, requested, random.Random(seed), short_rate=short_rate, mistake_rate=mistake_rate
    )

    final = shown_after(shown, plan.presses)
    assert plan.presses[-1] in (Button.CONFIRM, Button.SHORT)
    assert Button.CONFIRM not in plan.presses[:-1]
    assert Button.SHORT not in plan.presses[:-1]
    if plan.kind is PickKind.PICK:
        assert final == requested
    elif plan.kind is PickKind.SHORT:
        assert 0 <= final < requested
    else:
        assert final == requested + 1
