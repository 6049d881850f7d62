"""JSON views of putaways and cycle counts, shared by their routes (and the dashboard that shows them)."""

from __future__ import annotations

from typing import Any

from floorgate.core.model import CountBinStatus, CountStatus, CycleCount, Putaway, PutawayStatus
from floorgate.web.ports import FloorReads
from floorgate.web.views import iso

# What a new dashboard is shown besides the work still open: the latest finished putaways and counts.
FINISHED_PUTAWAYS_SHOWN = 20
FINISHED_COUNTS_SHOWN = 5


def putaway_view(putaway: Putaway) -> dict[str, Any]:
    return {
        "task_id": putaway.task_id,
        "sku": putaway.sku,
        "qty": putaway.qty,
        "location": putaway.location,
        "status": putaway.status.value,
        "put": putaway.put,
        "station": putaway.station,
        "operator": putaway.operator,
        "created_at": iso(putaway.created_at),
        "finished_at": iso(putaway.finished_at),
    }


def count_view(count: CycleCount) -> dict[str, Any]:
    """A count with each bin: a blind count shows no record until the bin is counted."""
    bins = list(count.bins.values())
    counted = [b for b in bins if b.status is CountBinStatus.COUNTED]
    return {
        "count_id": count.count_id,
        "status": count.status.value,
        "zone": count.zone,
        "blind": count.blind,
        "variance_exception_pct": count.variance_exception_pct,
        "started_at": iso(count.started_at),
        "finished_at": iso(count.finished_at),
        "by": count.by,
        "bins_counted": len(counted),
        "bins_with_variance": sum(1 for b in bins if b.adjusted),
        "net_adjustment": sum(b.adjusted for b in bins),
        "bins": [
            {
                "location": b.location,
                "sku": b.sku,
                "status": b.status.value,
                "expected": b.expected,
                "counted": b.counted,
                "variance": b.variance,
                "adjusted": b.adjusted,
                "recounts": b.recounts,
                "counted_at": iso(b.counted_at),
            }
            for b in bins
        ],
    }


def live_putaway_views(floor: FloorReads) -> list[dict[str, Any]]:
    """The putaways a dashboard starts from: every one waiting, and the latest put or cancelled."""
    open_: list[Putaway] = []
    finished: list[Putaway] = []
    for putaway in floor.putaways():
        waiting = putaway.status in (PutawayStatus.QUEUED, PutawayStatus.LIT)
        (open_ if waiting else finished).append(putaway)
    finished.sort(key=lambda p: p.finished_at or 0.0)
    shown = open_ + finished[-FINISHED_PUTAWAYS_SHOWN:]
    return [putaway_view(p) for p in shown]


def live_count_views(floor: FloorReads) -> list[dict[str, Any]]:
    """The counts a dashboard starts from: every one counting, and the latest completed or cancelled."""
    open_: list[CycleCount] = []
    finished: list[CycleCount] = []
    for count in floor.counts():
        (open_ if count.status is CountStatus.COUNTING else finished).append(count)
    finished.sort(key=lambda c: c.finished_at or 0.0)
    shown = open_ + finished[-FINISHED_COUNTS_SHOWN:]
    return [count_view(c) for c in shown]
