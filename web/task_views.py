"""JSON views of putaways and cycle counts, shared by their routes (and the dashboard that shows them).

Each view is a dict built by its function, and the `Answer` model beside it documents it for the OpenAPI
document (web/contract.py says why the model never reshapes the view): change both together.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from floorgate.core.model import CountBinStatus, CountStatus, CycleCount, Putaway, PutawayStatus
from floorgate.web.contract import Answer
from floorgate.web.ports import FloorReads
from floorgate.web.views import Timestamp, iso

PUTAWAY_EXAMPLE: dict[str, Any] = {
    "task_id": "PA-7",
    "sku": "SKU-100",
    "qty": 12,
    "location": "A-01-01",
    "status": "put",
    "put": 12,
    "station": "PUT-A",
    "operator": "sam",
    "created_at": "2026-11-24T11:41:01.000Z",
    "finished_at": "2026-11-24T11:41:20.000Z",
}


class PutawayView(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [PUTAWAY_EXAMPLE]})

    task_id: str
    sku: str
    qty: int = Field(description="what the bin asks for")
    location: str
    status: str = Field(description="queued | lit | put | cancelled")
    put: int | None = Field(description="what the stocker confirmed was put (null until put)")
    station: str | None = Field(description="the putaway station it was scanned at; null from the API")
    operator: str | None = Field(description="who was signed in at that station")
    created_at: Timestamp
    finished_at: Timestamp | None = Field(description="when it was put or cancelled")


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


class CountBinView(Answer):
    location: str
    sku: str | None
    status: str = Field(description="queued | lit | counted | cancelled")
    expected: int | None = Field(
        description="the record when the bin was first counted (null before, or without a record)"
    )
    counted: int | None = Field(description="what its latest count found")
    variance: int | None = Field(description="that count's difference from the record it replaced")
    adjusted: int = Field(description="the sum of every change the count made to the bin's record")
    recounts: int
    counted_at: Timestamp | None


COUNT_EXAMPLE: dict[str, Any] = {
    "count_id": "CC-12",
    "status": "counting",
    "zone": "A",
    "blind": True,
    "variance_exception_pct": 5.0,
    "started_at": "2026-11-24T11:42:00.000Z",
    "finished_at": None,
    "by": "supervisor",
    "bins_counted": 1,
    "bins_with_variance": 1,
    "net_adjustment": -3,
    "bins": [
        {
            "location": "A-01-01",
            "sku": "SKU-100",
            "status": "counted",
            "expected": 40,
            "counted": 37,
            "variance": -3,
            "adjusted": -3,
            "recounts": 0,
            "counted_at": "2026-11-24T11:42:30.000Z",
        },
        {
            "location": "A-01-02",
            "sku": None,
            "status": "lit",
            "expected": None,
            "counted": None,
            "variance": None,
            "adjusted": 0,
            "recounts": 0,
            "counted_at": None,
        },
    ],
}


class CountView(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [COUNT_EXAMPLE]})

    count_id: str
    status: str = Field(description="counting | completed | cancelled")
    zone: str | None = Field(description="the zone counted; null for a count of named locations")
    blind: bool = Field(description="a blind count shows 0 on each bin, never the record")
    variance_exception_pct: float
    started_at: Timestamp
    finished_at: Timestamp | None
    by: str | None = Field(description="who started it: the token's name, else its role")
    bins_counted: int
    bins_with_variance: int
    net_adjustment: int
    bins: list[CountBinView]


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
