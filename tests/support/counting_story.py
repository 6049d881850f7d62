"""Putaway and cycle counting told through the floor's own rules: every event of both, as docs/webhooks.md
shows them (tests/unit/test_counting_catalogue.py checks that the examples there are these bodies)."""

from __future__ import annotations

from typing import Any

from floorgate.core import commands as cmd
from floorgate.core.floor import Floor

# The event types of putaway and cycle counts, in the order the story first records them.
COUNTING_EVENTS = (
    "putaway.received",
    "putaway.confirmed",
    "putaway.cancelled",
    "count.started",
    "count.recorded",
    "count.completed",
    "count.recount_requested",
    "count.cancelled",
)
T0 = 1_795_520_460.0  # 2026-11-24T11:41:00Z


def counting_story() -> dict[str, dict[str, Any]]:
    """The first payload of each event type the story records, by type; `inventory.adjusted` and
    `exception.raised` by `inventory.adjusted/{reason}` and `exception.raised/{kind}`."""
    floor = Floor()
    seen: dict[str, dict[str, Any]] = {}

    def run(command: cmd.Command, at: float) -> None:
        for event in floor.handle(command, T0 + at).events:
            payload = event.payload()
            key = event.TYPE
            if key == "inventory.adjusted":
                key = f"{key}/{payload['reason']}"
            elif key == "exception.raised":
                key = f"{key}/{payload['kind']}"
            seen.setdefault(key, payload)

    run(cmd.DefineZone(zone="A"), 0)
    run(cmd.UpsertItem(sku="SKU-100", gtins=("4006381333931",)), 0)
    run(cmd.UpsertLocation(code="A-01-01", zone="A", module="A-01-01", sku="SKU-100", on_hand=28), 0)
    run(cmd.UpsertLocation(code="A-01-02", zone="A", module="A-01-02", sku="SKU-200", on_hand=40), 0)
    putaway = cmd.StationMode.PUTAWAY
    run(cmd.DefineStation(station="PUT-A", kind=cmd.StationKind.ZONE, zone="A", mode=putaway), 0)
    run(cmd.RecordScan(station="PUT-A", data="OP:sam"), 0)
    run(cmd.RecordScan(station="PUT-A", data="]C101040063813339313012"), 1)  # a case of 12
    run(cmd.PressButton(module="A-01-01", button=cmd.Button.CONFIRM, display="12"), 20)
    run(cmd.ReceivePutaway(task_id="PA-7", sku="SKU-200", qty=6), 30)
    run(cmd.CancelPutaway(task_id="PA-7"), 31)
    run(cmd.StartCount(count_id="CC-12", zone="A", blind=True, by="supervisor"), 60)
    run(cmd.PressButton(module="A-01-01", button=cmd.Button.CONFIRM, display="37"), 90)
    run(cmd.PressButton(module="A-01-02", button=cmd.Button.CONFIRM, display="40"), 95)
    run(cmd.RecountBins(count_id="CC-12", by="supervisor"), 120)
    run(cmd.StartCount(count_id="CC-13", locations=("A-01-02",), blind=False, by="erp"), 130)
    run(cmd.CancelCount(count_id="CC-13", by="erp"), 140)
    return seen
