"""A simulated module's unanswered presses: kept until a newer seq answers them, due again every interval."""

from __future__ import annotations

import pytest

from floorgate.core.commands import Button
from floorgate.devices.ptl.codec import ModuleEvent, encode_event
from floorgate.firmware_sim.ptl_presses import PressOutbox
from tests.support.set_clock import SetClock

pytestmark = pytest.mark.unit


def event(n: int) -> ModuleEvent:
    return ModuleEvent(id=f"A-01-{n}", button=Button.CONFIRM, display="3")


def test_a_press_is_due_at_once_then_every_interval_with_the_same_payload() -> None:
    clock = SetClock(100.0)
    outbox = PressOutbox(2.0, clock=clock)
    held = outbox.hold("A-01", event(1), shown_seq=4)
    assert held.payload == encode_event(event(1))
    assert outbox.take_due(clock()) == [held]
    assert outbox.take_due(clock()) == []
    assert outbox.next_due() == 102.0
    clock.now = 102.0
    assert outbox.take_due(clock()) == [held]


def test_only_a_newer_seq_than_the_one_shown_answers_a_press() -> None:
    outbox = PressOutbox(1.0, clock=SetClock(0.0))
    outbox.hold("A-01", event(1), shown_seq=4)
    outbox.hold("A-01", event(2), shown_seq=5)
    assert outbox.answered("A-01", 4) == 0  # the seq it showed: the edge has not answered yet
    assert outbox.answered("A-01", 5) == 1
    assert [p.event for p in outbox.held("A-01")] == [event(2)]
    assert outbox.answered("A-01", 9) == 1
    assert len(outbox) == 0


def test_a_press_on_a_module_that_never_showed_anything_is_answered_by_any_seq() -> None:
    outbox = PressOutbox(1.0, clock=SetClock(0.0))
    outbox.hold("A-01", event(1), shown_seq=None)
    assert outbox.answered("A-01", 0) == 1


def test_a_power_cut_forgets_and_a_reconnect_hurries() -> None:
    clock = SetClock(0.0)
    outbox = PressOutbox(5.0, clock=clock)
    outbox.hold("A-01", event(1), shown_seq=1)
    outbox.hold("A-02", event(2), shown_seq=1)
    outbox.take_due(clock())
    outbox.forget(["A-01"])
    outbox.hurry(["A-02"])
    assert [p.module for p in outbox.take_due(clock())] == ["A-02"]


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        PressOutbox(0)
