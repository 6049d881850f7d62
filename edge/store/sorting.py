"""Batches and put walls in the store: the rows a commit writes for what changed, and the read back."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from floorgate.core.floor import Floor
from floorgate.core.model import (
    Batch,
    BatchOrder,
    BatchPick,
    BatchStatus,
    LineStatus,
    SortState,
    Wall,
    ZoneRun,
)
from floorgate.edge.store.records import Batch as CommitBatch
from floorgate.edge.store.schema import BATCH_ORDERS, BATCH_PICKS, BATCHES, WALLS


def add_sorting_rows(floor: Floor, rows: CommitBatch) -> None:
    """Every batch the floor changed, whole (a batch is a few dozen orders), and every changed wall."""
    changed = [floor.batches[k] for k in floor.changes.batches]
    rows.add(BATCHES, (_batch_row(b) for b in changed))
    rows.add(BATCH_ORDERS, (_order_row(b, n, e) for b in changed for n, e in enumerate(b.orders)))
    rows.add(BATCH_PICKS, (_pick_row(b, p) for b in changed for p in b.picks.values()))
    rows.add(WALLS, (_wall_row(floor.walls[k]) for k in floor.changes.walls))


def _batch_row(batch: Batch) -> dict[str, Any]:
    return {
        "batch_id": batch.batch_id,
        "wall": batch.wall,
        "fingerprint": batch.fingerprint,
        "number": batch.number,
        "status": batch.status.value,
        "runs": [asdict(run) for run in batch.runs.values()],
    }


def _order_row(batch: Batch, position: int, entry: BatchOrder) -> dict[str, Any]:
    pending = entry.pending
    return {
        "batch_id": batch.batch_id,
        "order_id": entry.order_id,
        "position": position,
        "state": entry.state.value,
        "cubby": entry.cubby,
        "picked": dict(entry.picked),
        "put": dict(entry.put),
        "pending_sku": pending[0] if pending is not None else None,
        "pending_qty": pending[1] if pending is not None else None,
    }


def _pick_row(batch: Batch, pick: BatchPick) -> dict[str, Any]:
    return {
        "batch_id": batch.batch_id,
        "location": pick.location,
        "sku": pick.sku,
        "qty": pick.qty,
        "picked": pick.picked,
        "status": pick.status.value,
        "ticket": pick.ticket,
    }


def _wall_row(wall: Wall) -> dict[str, Any]:
    return {**asdict(wall), "cubbies": list(wall.cubbies)}


def read_sorting(conn: Connection) -> tuple[list[Batch], list[Wall]]:
    """The batches (oldest first) and walls as the store holds them."""
    entries: dict[str, list[BatchOrder]] = {}
    for r in conn.execute(select(BATCH_ORDERS).order_by(BATCH_ORDERS.c.batch_id, BATCH_ORDERS.c.position)):
        pending = (r.pending_sku, r.pending_qty) if r.pending_sku is not None else None
        entries.setdefault(r.batch_id, []).append(
            BatchOrder(
                order_id=r.order_id,
                state=SortState(r.state),
                cubby=r.cubby,
                picked=dict(r.picked or {}),
                put=dict(r.put or {}),
                pending=pending,
            )
        )
    picks: dict[str, dict[str, BatchPick]] = {}
    for r in conn.execute(select(BATCH_PICKS)):
        picks.setdefault(r.batch_id, {})[r.location] = BatchPick(
            location=r.location,
            sku=r.sku,
            qty=r.qty,
            picked=r.picked,
            status=LineStatus(r.status),
            ticket=r.ticket,
        )
    batches = [
        Batch(
            batch_id=r.batch_id,
            wall=r.wall,
            fingerprint=r.fingerprint,
            number=r.number,
            orders=entries.get(r.batch_id, []),
            status=BatchStatus(r.status),
            runs={run["zone"]: ZoneRun(**run) for run in r.runs or ()},
            picks=picks.get(r.batch_id, {}),
        )
        for r in conn.execute(select(BATCHES).order_by(BATCHES.c.number))
    ]
    walls = [Wall(**{**r._asdict(), "cubbies": tuple(r.cubbies or ())}) for r in conn.execute(select(WALLS))]
    return batches, walls
