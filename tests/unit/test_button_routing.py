"""The button router: a press goes to the module's owner, the claim holding the bin, or picking; and every
confirm or short is answered with a newer seq, whoever judged it."""

from __future__ import annotations

import pytest

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.errors import CommandRejected
from floorgate.core.floor import Floor
from floorgate.core.instructions import ClearBin, LightBin
from floorgate.core.model import LineStatus
from tests.support.floor_commands import NOW, of_type, press, receive
from tests.support.floor_commands import make_floor as make_bins
from tests.support.light_takers import TAKER_COLOR, RecordingModuleOwner, RecordingTaker

pytestmark = pytest.mark.unit


@pytest.fixture
def floor() -> Floor:
    return make_bins()


def counts_on(floor: Floor) -> RecordingTaker:
    modules = {code: loc.module for code, loc in floor.locations.items() if loc.module is not None}
    taker = RecordingTaker(floor.board, modules)
    floor.board.register(taker)
    return taker


def test_a_press_on_a_bin_a_claim_holds_goes_to_that_claims_taker_and_not_to_picking(floor: Floor) -> None:
    counts = counts_on(floor)
    receive(floor, "O1", ("L1", "SKU-1", 2, "A-01"))
    counts.ask("A-01", "C1")
    floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)

    outcome = press(floor, "M-A-01", "7")

    assert counts.presses == [("A-01", "C1", cmd.Button.CONFIRM, "7")]
    assert of_type(outcome, ev.PickConfirmed) == of_type(outcome, ev.ExceptionRaised) == []
    assert floor.orders["O1"].lines["L1"].status is LineStatus.OPEN
    assert floor.locations["A-01"].on_hand == 10


def test_a_confirm_a_taker_leaves_unlit_is_answered_with_its_light_under_a_newer_seq(floor: Floor) -> None:
    counts = counts_on(floor)
    counts.ask("A-01", "C1")
    before = floor.lights["M-A-01"].seq

    outcome = press(floor, "M-A-01", "3", cmd.Button.SHORT)

    (answer,) = outcome.instructions
    assert isinstance(answer, LightBin)
    assert (answer.module, answer.color, answer.display) == ("M-A-01", TAKER_COLOR, "C1")
    assert answer.seq > before


def test_plus_and_minus_reach_the_taker_but_are_not_answered(floor: Floor) -> None:
    counts = counts_on(floor)
    counts.ask("A-01", "C1")

    outcome = press(floor, "M-A-01", "4", cmd.Button.PLUS)

    assert counts.presses == [("A-01", "C1", cmd.Button.PLUS, "4")]
    assert outcome.instructions == []


def test_a_press_on_a_module_a_capability_owns_goes_to_it_and_is_answered(floor: Floor) -> None:
    wall = RecordingModuleOwner()
    floor.board.own_modules(["W1-01"], wall)

    outcome = press(floor, "W1-01", "1")

    assert wall.presses == [("W1-01", cmd.Button.CONFIRM)]
    assert of_type(outcome, ev.ExceptionRaised) == []
    assert outcome.instructions == [ClearBin(module="W1-01", seq=1)]


def test_a_module_a_capability_owns_cannot_become_a_bins_module(floor: Floor) -> None:
    floor.board.own_modules(["W1-01"], RecordingModuleOwner())

    with pytest.raises(CommandRejected, match="cubby"):
        floor.handle(cmd.UpsertLocation(code="A-09", zone="A", module="W1-01"), NOW)


def test_a_press_on_a_bin_no_claim_holds_is_still_picking(floor: Floor) -> None:
    counts = counts_on(floor)
    receive(floor, "O1", ("L1", "SKU-1", 2, "A-01"))
    floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    counts.ask("A-02", "C1")

    outcome = press(floor, "M-A-01", "2")

    assert of_type(outcome, ev.PickConfirmed)
    assert counts.presses == []


def test_a_press_is_seen_from_its_module_whoever_judges_it(floor: Floor) -> None:
    wall = RecordingModuleOwner()
    floor.board.own_modules(["W1-01"], wall)
    floor.registry.register("W1-01", "ptl")  # as the capability owning it does: a device of the floor
    floor.handle(cmd.ReportDeviceStatus(device="W1-01", kind="ptl", online=False), NOW)

    outcome = press(floor, "W1-01", "1")

    assert of_type(outcome, ev.DeviceOnline)
    assert floor.devices["W1-01"].online is True
