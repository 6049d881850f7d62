"""A pick of more than a bin's recorded on-hand: the record was wrong, and the facts say so."""

from __future__ import annotations

import pytest

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.floor import Floor, Outcome
from floorgate.core.model import LineStatus

pytestmark = pytest.mark.unit

NOW = 1_700_000_000.0


def floor_with_bin(on_hand: int | None, qty: int) -> Floor:
    """Zone A, bin A-01 (module M-A-01, SKU-1) with `on_hand`, and order O1 wanting `qty` of it, lit."""
    floor = Floor()
    floor.handle(cmd.DefineZone(zone="A"), NOW)
    floor.handle(
        cmd.UpsertLocation(code="A-01", zone="A", module="M-A-01", sku="SKU-1", on_hand=on_hand), NOW
    )
    floor.handle(cmd.ReportDeviceStatus(device="M-A-01", kind="ptl", online=True), NOW)
    floor.handle(
        cmd.ReceiveOrder(order_id="O1", lines=(cmd.NewOrderLine(line_id="L1", sku="SKU-1", qty=qty),)), NOW
    )
    floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)
    return floor


def press(floor: Floor, display: str, button: cmd.Button = cmd.Button.CONFIRM) -> Outcome:
    return floor.handle(cmd.PressButton(module="M-A-01", button=button, display=display), NOW)


def test_picking_more_than_the_recorded_on_hand_corrects_the_record_and_raises_a_discrepancy() -> None:
    floor = floor_with_bin(on_hand=2, qty=3)

    outcome = press(floor, "3")

    assert [type(e) for e in outcome.events] == [
        ev.InventoryAdjusted,
        ev.PickConfirmed,
        ev.ExceptionRaised,
        ev.OrderZoneCompleted,
        ev.OrderPicked,
    ]
    adjusted, confirmed, raised = outcome.events[:3]
    # The record rises to what the pick proves was there, then the pick takes it: each event's on-hand
    # is the record after it.
    assert adjusted == ev.InventoryAdjusted(
        location="A-01", sku="SKU-1", on_hand=3, previous=2, reason="found_at_pick"
    )
    assert isinstance(confirmed, ev.PickConfirmed)
    assert (confirmed.picked, confirmed.on_hand) == (3, 0)
    assert isinstance(raised, ev.ExceptionRaised)
    assert (raised.kind, raised.location, raised.order) == ("inventory_discrepancy", "A-01", "O1")
    assert raised.detail == {"sku": "SKU-1", "expected": 2, "picked": 3}
    assert "A-01" in raised.message
    assert "SKU-1" in raised.message
    assert floor.locations["A-01"].on_hand == 0
    assert floor.orders["O1"].lines["L1"].status is LineStatus.PICKED


def test_a_short_that_still_finds_more_than_recorded_is_both_a_short_and_a_discrepancy() -> None:
    floor = floor_with_bin(on_hand=1, qty=5)

    outcome = press(floor, "2", cmd.Button.SHORT)

    adjusted = [e for e in outcome.events if isinstance(e, ev.InventoryAdjusted)]
    assert [(a.previous, a.on_hand) for a in adjusted] == [(1, 2)]
    (short,) = [e for e in outcome.events if isinstance(e, ev.PickShorted)]
    assert (short.picked, short.short, short.on_hand) == (2, 3, 0)
    kinds = [e.kind for e in outcome.events if isinstance(e, ev.ExceptionRaised)]
    assert kinds == ["inventory_short", "inventory_discrepancy"]


@pytest.mark.parametrize(("on_hand", "shown"), [(3, "3"), (None, "3")])
def test_a_pick_the_record_covers_or_a_bin_without_a_count_is_no_discrepancy(
    on_hand: int | None, shown: str
) -> None:
    floor = floor_with_bin(on_hand=on_hand, qty=3)

    outcome = press(floor, shown)

    assert not [e for e in outcome.events if isinstance(e, ev.InventoryAdjusted)]
    assert not [e for e in outcome.events if isinstance(e, ev.ExceptionRaised)]
    assert floor.locations["A-01"].on_hand == (0 if on_hand is not None else None)
