"""Putaways, cycle counts and station modes in the store: the rows a batch writes, and reading them back.

Each task keeps its place in its bin's queue (the light board's ticket) with it, so the board's claims
are rebuilt from these rows after a restart (core/light_board.py `rebuild` asks each taker).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from floorgate.core.floor import Floor
from floorgate.core.model import (
    CountBin,
    CountBinStatus,
    CountStatus,
    CycleCount,
    Putaway,
    PutawayStatus,
    Station,
)
from floorgate.edge.store.records import Batch
from floorgate.edge.store.schema import COUNT_BINS, COUNT_POLICY, COUNTS, PUTAWAYS, STATION_MODES

POLICY_ID = "site"


def add_task_rows(floor: Floor, batch: Batch) -> None:
    """The rows for the putaways, counts, count bins, station modes and count policy the floor changed."""
    state = floor.state
    changes = state.changes
    batch.add(
        STATION_MODES,
        ({"station": k, "mode": state.stations[k].mode} for k in changes.stations if k in state.stations),
    )
    batch.add(PUTAWAYS, (_putaway_row(state.putaways[k]) for k in changes.putaways))
    batch.add(COUNTS, (_count_row(state.counts[k]) for k in changes.counts))
    positions: dict[str, dict[str, int]] = {}
    rows = []
    for count_id, code in changes.count_bins:
        count = state.counts[count_id]
        if count_id not in positions:
            positions[count_id] = {location: n for n, location in enumerate(count.bins)}
        rows.append(_bin_row(count_id, positions[count_id][code], count.bins[code]))
    batch.add(COUNT_BINS, rows)
    if changes.count_policy:
        batch.add(COUNT_POLICY, [{"id": POLICY_ID, "variance_exception_pct": state.variance_exception_pct}])


def _putaway_row(task: Putaway) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "sku": task.sku,
        "qty": task.qty,
        "location": task.location,
        "fingerprint": task.fingerprint,
        "status": task.status.value,
        "ticket": task.ticket,
        "put": task.put,
        "station": task.station,
        "operator": task.operator,
        "created_at": task.created_at,
        "finished_at": task.finished_at,
    }


def _count_row(count: CycleCount) -> dict[str, Any]:
    return {
        "count_id": count.count_id,
        "blind": count.blind,
        "zone": count.zone,
        "fingerprint": count.fingerprint,
        "status": count.status.value,
        "started_at": count.started_at,
        "finished_at": count.finished_at,
        "variance_exception_pct": count.variance_exception_pct,
        "started_by": count.by,
    }


def _bin_row(count_id: str, position: int, entry: CountBin) -> dict[str, Any]:
    return {
        "count_id": count_id,
        "location": entry.location,
        "position": position,
        "status": entry.status.value,
        "ticket": entry.ticket,
        "sku": entry.sku,
        "expected": entry.expected,
        "counted": entry.counted,
        "variance": entry.variance,
        "adjusted": entry.adjusted,
        "recounts": entry.recounts,
        "counted_at": entry.counted_at,
    }


def read_station_modes(conn: Connection, stations: list[Station]) -> None:
    """Give each station read back the mode the store holds for it."""
    modes = {r.station: r.mode for r in conn.execute(select(STATION_MODES))}
    for station in stations:
        station.mode = modes.get(station.id, station.mode)


def read_putaways(conn: Connection) -> list[Putaway]:
    return [
        Putaway(
            task_id=r.task_id,
            sku=r.sku,
            qty=r.qty,
            location=r.location,
            fingerprint=r.fingerprint,
            created_at=r.created_at,
            status=PutawayStatus(r.status),
            ticket=r.ticket,
            put=r.put,
            station=r.station,
            operator=r.operator,
            finished_at=r.finished_at,
        )
        for r in conn.execute(select(PUTAWAYS))
    ]


def read_counts(conn: Connection) -> list[CycleCount]:
    bins: dict[str, dict[str, CountBin]] = {}
    for r in conn.execute(select(COUNT_BINS).order_by(COUNT_BINS.c.count_id, COUNT_BINS.c.position)):
        bins.setdefault(r.count_id, {})[r.location] = CountBin(
            location=r.location,
            status=CountBinStatus(r.status),
            ticket=r.ticket,
            sku=r.sku,
            expected=r.expected,
            counted=r.counted,
            variance=r.variance,
            adjusted=r.adjusted,
            recounts=r.recounts,
            counted_at=r.counted_at,
        )
    return [
        CycleCount(
            count_id=r.count_id,
            blind=r.blind,
            zone=r.zone,
            bins=bins.get(r.count_id, {}),
            fingerprint=r.fingerprint,
            started_at=r.started_at,
            variance_exception_pct=r.variance_exception_pct,
            status=CountStatus(r.status),
            finished_at=r.finished_at,
            by=r.started_by,
        )
        for r in conn.execute(select(COUNTS))
    ]


def read_variance_exception_pct(conn: Connection) -> float | None:
    """The count policy the floor last took, or None when it never took one (the default holds)."""
    value = conn.execute(
        select(COUNT_POLICY.c.variance_exception_pct).where(COUNT_POLICY.c.id == POLICY_ID)
    ).scalar()
    return None if value is None else float(value)
