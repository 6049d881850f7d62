"""A repeated exception is counted on the open one, whose message and detail stay one occurrence's."""

from __future__ import annotations

import pytest

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.floor import Floor
from floorgate.web.views import exception_view

pytestmark = pytest.mark.unit

NOW = 1_700_000_000.0


def short_at_a01(floor: Floor, order_id: str, qty: int, shown: str, now: float) -> list[ev.Event]:
    floor.handle(
        cmd.ReceiveOrder(order_id=order_id, lines=(cmd.NewOrderLine(line_id="L1", sku="SKU-1", qty=qty),)),
        now,
    )
    floor.handle(cmd.StartOrder(order_id=order_id, zone="A", operator="ann"), now)
    pressed = floor.handle(cmd.PressButton(module="M-A-01", button=cmd.Button.SHORT, display=shown), now)
    return pressed.events


def test_a_coalesced_exception_keeps_the_message_and_detail_of_the_occurrence_that_raised_it() -> None:
    floor = Floor()
    floor.handle(cmd.DefineZone(zone="A"), NOW)
    floor.handle(cmd.UpsertLocation(code="A-01", zone="A", module="M-A-01", sku="SKU-1", on_hand=50), NOW)

    first = short_at_a01(floor, "O1", qty=5, shown="3", now=NOW)
    again = short_at_a01(floor, "O2", qty=4, shown="1", now=NOW + 60)

    (raised,) = [e for e in first if isinstance(e, ev.ExceptionRaised)]
    assert not [e for e in again if isinstance(e, ev.ExceptionRaised)]  # counted, not raised again
    (exception,) = floor.exceptions.values()
    assert (exception.count, exception.last_at) == (2, NOW + 60)
    # The webhook and the event log carry the raising occurrence; the REST view and the stream (both
    # exception_view) must describe that same occurrence, message and detail alike.
    view = exception_view(exception)
    payload = raised.payload()
    assert (view["message"], view["detail"], view["order_id"]) == (
        payload["message"],
        payload["detail"],
        payload["order"],
    )
    assert "O1" in view["message"]
    assert "3 of 5" in view["message"]
    assert view["detail"] == {"sku": "SKU-1", "requested": 5, "picked": 3}
