"""A retained command the floor did not send, outranked: the floor moves a module's seq past it, durably."""

from __future__ import annotations

import pytest

from floorgate.core import commands as cmd
from floorgate.core.errors import CommandRejected
from floorgate.core.floor import Floor
from floorgate.core.instructions import ClearBin, LightBin
from floorgate.core.module_lights import MAX_SEEN_SEQ

pytestmark = pytest.mark.unit

NOW = 1_700_000_000.0


@pytest.fixture
def floor() -> Floor:
    floor = Floor()
    floor.handle(cmd.DefineZone(zone="A"), NOW)
    floor.handle(cmd.UpsertItem(sku="SKU-1"), NOW)
    floor.handle(cmd.UpsertLocation(code="A-01", zone="A", module="M-A-01", sku="SKU-1", on_hand=9), NOW)
    floor.handle(
        cmd.ReceiveOrder(
            order_id="O1", lines=(cmd.NewOrderLine(line_id="L1", sku="SKU-1", qty=2, location="A-01"),)
        ),
        NOW,
    )
    floor.changes.clear()
    return floor


def test_a_lit_module_is_sent_its_light_again_above_the_seq_seen(floor: Floor) -> None:
    floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    lit = floor.lights["M-A-01"]
    color = lit.color
    assert color is not None

    outcome = floor.handle(cmd.SupersedeRetainedCommand(module="M-A-01", seen_seq=999), NOW)

    assert outcome.instructions == [
        LightBin(module="M-A-01", seq=1000, color=color, blink=lit.blink, display="2")
    ]
    assert outcome.events == []
    assert "M-A-01" in floor.changes.lights  # committed with the batch, like any light change
    # The pick goes on under the new seq: a confirm finishes it and clears the module above 1000.
    done = floor.handle(cmd.PressButton(module="M-A-01", button=cmd.Button.CONFIRM, display="2"), NOW)
    assert done.instructions == [ClearBin(module="M-A-01", seq=1001)]


def test_a_module_the_floor_never_lit_is_told_off_above_the_seq_seen(floor: Floor) -> None:
    outcome = floor.handle(cmd.SupersedeRetainedCommand(module="M-A-01", seen_seq=7), NOW)
    assert outcome.instructions == [ClearBin(module="M-A-01", seq=8)]
    assert floor.light_commands() == [ClearBin(module="M-A-01", seq=8)]


def test_a_seq_seen_below_the_floors_still_moves_it_on(floor: Floor) -> None:
    floor.handle(cmd.SupersedeRetainedCommand(module="M-A-01", seen_seq=7), NOW)
    outcome = floor.handle(cmd.SupersedeRetainedCommand(module="M-A-01", seen_seq=3), NOW)
    assert outcome.instructions == [ClearBin(module="M-A-01", seq=9)]


@pytest.mark.parametrize(("module", "seen_seq"), [("", 1), ("M-A-01", -1), ("M-A-01", MAX_SEEN_SEQ + 1)])
def test_a_seq_no_light_may_take_is_refused_before_anything_changes(
    floor: Floor, module: str, seen_seq: int
) -> None:
    with pytest.raises(CommandRejected):
        floor.handle(cmd.SupersedeRetainedCommand(module=module, seen_seq=seen_seq), NOW)
    assert floor.lights == {}
