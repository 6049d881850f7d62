"""One batch told through the floor's own rules, from its arrival to its last order sorted: every event of
batch picking and the put wall, as docs/webhooks.md shows them (tests/unit/test_webhook_catalogue.py checks
that the examples there are these bodies)."""

from __future__ import annotations

from typing import Any

from floorgate.core import commands as cmd
from floorgate.core.floor import Outcome
from tests.support.batch_floor import GTINS, batch_floor, batch_of_three, scan_at_wall, start
from tests.support.floor_commands import NOW, press

# The event types of batch picking and the put wall, in the order the story first records them.
SORTING_EVENTS = (
    "batch.received",
    "batch.started",
    "batch.pick_rejected",
    "batch.picked",
    "batch.sort_started",
    "put.confirmed",
    "put.rejected",
    "order.sorted",
    "order.sort_cancelled",
    "batch.sorted",
)


def sorting_story() -> dict[str, dict[str, Any]]:
    """The first payload of each event type the story records, by type."""
    floor = batch_floor()
    seen: dict[str, dict[str, Any]] = {}

    def note(outcome: Outcome) -> None:
        for event in outcome.events:
            seen.setdefault(event.TYPE, event.payload())

    def confirm(module: str, display: str | None) -> None:
        note(press(floor, module, display))

    note(batch_of_three(floor))
    note(start(floor))
    confirm("M-A-01", "7")  # more than the bin asks for
    note(press(floor, "M-A-01", "5", cmd.Button.SHORT))
    confirm("M-A-02", "3")
    for _ in range(2):
        note(scan_at_wall(floor, GTINS["SKU-1"]))
    confirm("W1-01", "2")
    note(scan_at_wall(floor, GTINS["SKU-4"]))  # no order of the batch needs it
    note(scan_at_wall(floor, GTINS["SKU-2"]))
    confirm("W1-01", "1")
    confirm("W1-01", "done")
    note(scan_at_wall(floor, "SKU-1"))  # the SKU as text: O2's cubby
    confirm("W1-02", "1")
    note(scan_at_wall(floor, GTINS["SKU-1"]))
    confirm("W1-03", None)
    note(floor.handle(cmd.CancelOrder(order_id="O3"), NOW))
    confirm("W1-03", "out")
    confirm("W1-02", "done")
    return seen
