"""Batches and put walls as the API and the live stream show them (JSON views)."""

from __future__ import annotations

from typing import Any

from floorgate.core.model import Batch, BatchStatus, SortState, Wall
from floorgate.web.ports import FloorReads
from floorgate.web.views import light_view

# A cubby as GET /walls/{id} shows it: free, filling, done (blinking for the packer), or removing (its
# order was cancelled: the cubby blinks until it is emptied).
CUBBY_STATES = {SortState.FILLING: "filling", SortState.DONE: "done", SortState.REMOVING: "removing"}


def batch_view(batch: Batch) -> dict[str, Any]:
    return {
        "batch_id": batch.batch_id,
        "status": batch.status.value,
        "wall": batch.wall,
        "orders": [
            {
                "order_id": entry.order_id,
                "sort_state": entry.state.value,
                "cubby": entry.cubby,
                "picked": dict(entry.picked),
                "put": dict(entry.put),
            }
            for entry in batch.orders
        ],
        "lines": [
            {
                "sku": pick.sku,
                "location": pick.location,
                "qty": pick.qty,
                "picked": pick.picked,
                "status": pick.status.value,
            }
            for pick in batch.picks.values()
        ],
        "zones": [
            {"zone": run.zone, "operator": run.operator, "color": run.color, "done": run.done}
            for run in batch.runs.values()
        ],
    }


def wall_view(floor: FloorReads, wall: Wall) -> dict[str, Any]:
    """A wall as the sorter's screen and the supervisor see it: each cubby's order, lines left and state."""
    sorting = next(
        (b for b in floor.batches() if b.wall == wall.id and b.status is BatchStatus.SORTING), None
    )
    held = {
        entry.cubby: entry
        for entry in (sorting.orders if sorting is not None else ())
        if entry.cubby is not None and entry.state in CUBBY_STATES
    }
    cubbies = []
    for module in wall.cubbies:
        entry = held.get(module)
        left = {} if entry is None else {s: n - entry.put.get(s, 0) for s, n in entry.picked.items()}
        cubbies.append(
            {
                "cubby": module,
                "state": CUBBY_STATES[entry.state] if entry is not None else "free",
                "order_id": entry.order_id if entry is not None else None,
                "lines_left": [{"sku": s, "qty": n} for s, n in sorted(left.items()) if n > 0],
                "light": light_view(floor.light(module)),
            }
        )
    station = floor.station(wall.id)
    return {
        "id": wall.id,
        "batch_id": sorting.batch_id if sorting is not None else None,
        "operator": station.operator if station is not None else None,
        "screen": {
            "scan": wall.scan,
            "sku": wall.sku,
            "cubby": wall.cubby,
            "qty": wall.qty,
            "message": wall.message,
            "error": wall.error,
        },
        "cubbies": cubbies,
    }


def wall_views(floor: FloorReads) -> list[dict[str, Any]]:
    return [wall_view(floor, wall) for wall in sorted(floor.walls(), key=lambda w: w.id)]
