"""Batches and put walls as the API and the live stream show them (JSON views).

Each view is a dict built by its function, and the `Answer` model beside it documents it for the OpenAPI
document (web/contract.py says why the model never reshapes the view): change both together.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from floorgate.core.model import Batch, BatchStatus, SortState, Wall
from floorgate.web.contract import Answer
from floorgate.web.ports import FloorReads
from floorgate.web.views import LightView, light_view

# A cubby as GET /walls/{id} shows it: free, filling, done (blinking for the packer), or removing (its
# order was cancelled: the cubby blinks until it is emptied).
CUBBY_STATES = {SortState.FILLING: "filling", SortState.DONE: "done", SortState.REMOVING: "removing"}


BATCH_EXAMPLE: dict[str, Any] = {
    "batch_id": "B-7",
    "status": "sorting",
    "wall": "W1",
    "orders": [
        {"order_id": "SO-1", "sort_state": "filling", "cubby": "W1-01", "picked": {"SKU-1": 2}, "put": {}},
        {
            "order_id": "SO-2",
            "sort_state": "done",
            "cubby": "W1-02",
            "picked": {"SKU-1": 1},
            "put": {"SKU-1": 1},
        },
    ],
    "lines": [{"sku": "SKU-1", "location": "A-01-01", "qty": 3, "picked": 3, "status": "picked"}],
    "zones": [{"zone": "A", "operator": "ann", "color": "blue", "done": True}],
}


class BatchOrderView(Answer):
    order_id: str
    sort_state: str = Field(description="waiting | filling | done | sorted | removing | cancelled")
    cubby: str | None = Field(description="its cubby at the wall (null before the batch sorts, or after)")
    picked: dict[str, int] = Field(description="sku -> units the batch picked for it")
    put: dict[str, int] = Field(description="sku -> units confirmed into its cubby")


class BatchLineView(Answer):
    sku: str
    location: str
    qty: int = Field(description="the summed quantity of the batch's orders' lines in this bin")
    picked: int
    status: str = Field(description="open | lit | picked | short")


class BatchZoneView(Answer):
    zone: str
    operator: str | None
    color: str = Field(description="the picker's colour on the modules")
    done: bool


class BatchView(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [BATCH_EXAMPLE]})

    batch_id: str
    status: str = Field(description="open | picking | picked | sorting | sorted")
    wall: str
    orders: list[BatchOrderView] = Field(description="oldest first, as the ERP listed them")
    lines: list[BatchLineView] = Field(description="each bin lit once for the batch")
    zones: list[BatchZoneView] = Field(description="one entry per zone the batch was started in")


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


WALL_EXAMPLE: dict[str, Any] = {
    "id": "W1",
    "batch_id": "B-7",
    "operator": "pat",
    "screen": {
        "scan": "4006381333931",
        "sku": "SKU-1",
        "cubby": "W1-01",
        "qty": 1,
        "message": "",
        "error": False,
    },
    "cubbies": [
        {
            "cubby": "W1-01",
            "state": "filling",
            "order_id": "SO-1",
            "lines_left": [{"sku": "SKU-1", "qty": 2}],
            "light": {
                "color": "blue",
                "blink": "none",
                "display": "1",
                "order_id": "SO-1",
                "line_id": None,
                "seq": 12,
            },
        },
        {"cubby": "W1-02", "state": "free", "order_id": None, "lines_left": [], "light": None},
    ],
}


class WallScreenView(Answer):
    scan: str | None = Field(description="the last code read at the wall")
    sku: str | None
    cubby: str | None = Field(description="the cubby that scan sent the item to")
    qty: int | None = Field(description="the units that cubby shows")
    message: str
    error: bool = Field(description="the last scan was refused: the screen shows it in red")


class CubbyLeftView(Answer):
    sku: str
    qty: int


class CubbyView(Answer):
    cubby: str = Field(description="the cubby's PTL module")
    state: str = Field(description="free | filling | done | removing")
    order_id: str | None
    lines_left: list[CubbyLeftView] = Field(description="units picked for its order and not yet put")
    light: LightView | None


class WallView(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [WALL_EXAMPLE]})

    id: str
    batch_id: str | None = Field(description="the batch sorting at the wall, or null")
    operator: str | None = Field(description="who is signed in at the wall's scanner")
    screen: WallScreenView = Field(description="what the wall's screen shows the sorter")
    cubbies: list[CubbyView] = Field(description="in the order they are handed out")


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
