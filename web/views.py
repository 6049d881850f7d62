"""JSON views of floor entities, shared by the REST API and the stream so both say the same thing.

Each view is a dict built by its function, and the `Answer` model beside it documents it for the OpenAPI
document (web/contract.py says why the model never reshapes the view): change both together.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ConfigDict, Field

from floorgate.core.model import Device, FloorException, Light, Location, Order, Station
from floorgate.web.contract import Answer, optional_key
from floorgate.web.ports import FloorReads, LoggedEvent, PackState

Timestamp = str  # ISO 8601 in UTC with milliseconds, e.g. "2026-03-02T08:15:42.117Z"


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class OrderLineView(Answer):
    line_id: str
    sku: str
    location: str | None
    qty: int
    picked: int
    status: str = Field(description="open | lit | picked | short")


class ZoneRunView(Answer):
    zone: str
    picker: str = Field(
        description='who picks it in this zone: the operator, or "order:<order_id>" without one'
    )
    operator: str | None
    color: str = Field(description="the picker's colour on the modules")
    done: bool


ORDER_EXAMPLE: dict[str, Any] = {
    "order_id": "SO-1001",
    "status": "picking",
    "priority": 0,
    "tote": "T-17",
    "lines": [
        {
            "line_id": "1",
            "sku": "SKU-1",
            "location": "A-01-01",
            "qty": 3,
            "picked": 0,
            "status": "lit",
        }
    ],
    "zones": [{"zone": "A", "picker": "sue", "operator": "sue", "color": "green", "done": False}],
    "finished_at": None,
}


class OrderView(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [ORDER_EXAMPLE]})

    order_id: str
    status: str = Field(description="open | picking | picked | packed | cancelled")
    priority: int
    tote: str | None
    lines: list[OrderLineView]
    zones: list[ZoneRunView] = Field(description="one entry per zone the order was started in")
    finished_at: Timestamp | None = Field(description="when it was last picked, packed or cancelled")


def order_view(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "status": order.status.value,
        "priority": order.priority,
        "tote": order.tote,
        "lines": [
            {
                "line_id": line.line_id,
                "sku": line.sku,
                "location": line.location,
                "qty": line.qty,
                "picked": line.picked,
                "status": line.status.value,
            }
            for line in order.lines.values()
        ],
        "zones": [
            {
                "zone": run.zone,
                "picker": run.picker,
                "operator": run.operator,
                "color": run.color,
                "done": run.done,
            }
            for run in order.runs.values()
        ],
        "finished_at": iso(order.finished_at),
    }


class LightView(Answer):
    color: str
    blink: str = Field(description="none | slow | fast")
    display: str
    order_id: str | None
    line_id: str | None
    seq: int


def light_view(light: Light | None) -> dict[str, Any] | None:
    if light is None or light.color is None:
        return None
    return {
        "color": light.color,
        "blink": light.blink.value,
        "display": light.display,
        "order_id": light.order_id,
        "line_id": light.line_id,
        "seq": light.seq,
    }


class LocationView(Answer):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "A-01-01",
                    "zone": "A",
                    "module": "A-01-01",
                    "sku": "SKU-1",
                    "on_hand": 40,
                    "light": {
                        "color": "green",
                        "blink": "none",
                        "display": "3",
                        "order_id": "SO-1001",
                        "line_id": "1",
                        "seq": 17,
                    },
                    "online": True,
                }
            ]
        }
    )

    code: str
    zone: str
    module: str | None
    sku: str | None
    on_hand: int | None
    light: LightView | None = Field(description="what its module shows; null while it is dark")
    online: bool | None = Field(description="its module's last known state; null when unknown")


def location_view(floor: FloorReads, location: Location) -> dict[str, Any]:
    module = location.module
    device = floor.device(module) if module else None
    return {
        "code": location.code,
        "zone": location.zone,
        "module": module,
        "sku": location.sku,
        "on_hand": location.on_hand,
        "light": light_view(floor.light(module)) if module else None,
        "online": device.online if device else None,
    }


class ExceptionView(Answer):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "kind": "inventory_short",
                    "message": "bin A-01-01 (SKU-1) was short: 1 of 3 picked for order SO-1001",
                    "status": "open",
                    "order_id": "SO-1001",
                    "location": "A-01-01",
                    "device": None,
                    "detail": {"sku": "SKU-1", "requested": 3, "picked": 1},
                    "count": 1,
                    "raised_at": "2026-03-02T08:15:42.117Z",
                    "last_at": None,
                    "resolved_at": None,
                    "resolved_by": None,
                    "note": None,
                }
            ]
        }
    )

    id: int
    kind: str
    message: str
    status: str = Field(description="open | resolved")
    order_id: str | None
    location: str | None
    device: str | None
    detail: dict[str, Any]
    count: int = Field(description="how many reports it folds (repeats of an open one are counted here)")
    raised_at: Timestamp | None
    last_at: Timestamp | None
    resolved_at: Timestamp | None
    resolved_by: str | None
    note: str | None


def exception_view(exception: FloorException) -> dict[str, Any]:
    return {
        "id": exception.id,
        "kind": exception.kind,
        "message": exception.message,
        "status": exception.status.value,
        "order_id": exception.order_id,
        "location": exception.location,
        "device": exception.device,
        "detail": exception.detail,
        "count": exception.count,
        "raised_at": iso(exception.raised_at),
        "last_at": iso(exception.last_at),
        "resolved_at": iso(exception.resolved_at),
        "resolved_by": exception.resolved_by,
        "note": exception.note,
    }


class EventView(Answer):
    seq: int
    id: str = Field(description="stable: the same id as the webhook delivery's webhook-id")
    type: str = Field(description="e.g. pick.confirmed (the catalogue: docs/webhooks.md)")
    timestamp: Timestamp | None
    order_id: str | None
    data: dict[str, Any] = Field(description="as the webhook's `data`")


def event_view(record: LoggedEvent) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "id": record.id,
        "type": record.type,
        "timestamp": iso(record.occurred_at),
        "order_id": record.order_id,
        "data": record.data,
    }


class DeviceView(Answer):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "A-01-01",
                    "kind": "ptl",
                    "transport": "mqtt",
                    "online": True,
                    "last_seen": "2026-03-02T08:15:42.117Z",
                    "seconds_since_seen": 1.25,
                    "location": "A-01-01",
                    "awaiting_ack": {"seq": 18, "attempts": 1, "age_s": 0.4},
                }
            ]
        }
    )

    id: str
    kind: str = Field(description="ptl | scanner | scale")
    transport: str = Field(description="mqtt | serial | hid")
    online: bool | None
    last_seen: Timestamp | None
    seconds_since_seen: float | None
    location: str | None = Field(description="a PTL module's location")
    awaiting_ack: dict[str, Any] | None = Field(
        description="a PTL module's command not yet acknowledged: its seq, attempts and age_s"
    )


def device_view(
    floor: FloorReads, device: Device, *, awaiting_ack: Mapping[str, Any] | None, now: float
) -> dict[str, Any]:
    return {
        "id": device.id,
        "kind": device.kind,
        "transport": device.transport,
        "online": device.online,
        "last_seen": iso(device.last_seen),
        "seconds_since_seen": round(now - device.last_seen, 3) if device.last_seen else None,
        "location": floor.location_of_module(device.id) if device.kind == "ptl" else None,
        "awaiting_ack": dict(awaiting_ack) if awaiting_ack is not None else None,
    }


class ScaleReading(Answer):
    device: str | None
    grams: float | None
    stable: bool
    condition: str


# A pack station's weigh-verify state: absent from a zone station's view.
PACK_ONLY = "pack stations only"


PACK_STATION_EXAMPLE: dict[str, Any] = {
    "id": "PACK-1",
    "kind": "pack",
    "zone": None,
    "tolerance_g": 15.0,
    "tolerance_pct": 2.0,
    "tare_g": 120.0,
    "state": "rejected",
    "order_id": "SO-1001",
    "expected_g": 1620.0,
    "tolerance_applied_g": 32.4,
    "measured_g": 1702.5,
    "delta_g": 82.5,
    "verdict": "rejected",
    "problem": None,
    "message": "order SO-1001 rejected: 1702.5 g is +82.5 g from 1620 g (tolerance 32.4 g); "
    "fix the carton and weigh it again",
    "scale": {"device": "SCALE-1", "grams": 1702.5, "stable": True, "condition": "ok"},
    "updated_at": "2026-03-02T08:15:42.117Z",
    "overridable": True,
}


class StationView(Answer):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": "START-A", "kind": "zone", "zone": "A", "mode": "pick"}, PACK_STATION_EXAMPLE]
        }
    )

    id: str
    kind: str = Field(description="zone | pack")
    zone: str | None
    mode: str = optional_key("zone stations only: pick | putaway (an item scan there puts stock away)")
    tolerance_g: float = optional_key(PACK_ONLY)
    tolerance_pct: float = optional_key(PACK_ONLY)
    tare_g: float = optional_key(PACK_ONLY)
    state: str = optional_key(f"{PACK_ONLY}: idle | weighing | verified | rejected | overridden | blocked")
    order_id: str | None = Field(default=None, description=PACK_ONLY)
    expected_g: float | None = Field(default=None, description=PACK_ONLY)
    tolerance_applied_g: float | None = Field(default=None, description=PACK_ONLY)
    measured_g: float | None = Field(default=None, description=PACK_ONLY)
    delta_g: float | None = Field(default=None, description=PACK_ONLY)
    verdict: str | None = Field(default=None, description=f"{PACK_ONLY}: verified | rejected | overridden")
    problem: str | None = Field(default=None, description=PACK_ONLY)
    message: str = optional_key(PACK_ONLY)
    scale: ScaleReading = optional_key(PACK_ONLY)
    updated_at: Timestamp | None = Field(default=None, description=PACK_ONLY)
    overridable: bool = optional_key(f"{PACK_ONLY}: whether a supervisor may accept its current order")


def station_view(station: Station, state: PackState | None) -> dict[str, Any]:
    """A station as packers and supervisors see it; a pack station adds its weigh-verify state.

    The same shape as GET /api/v1/stations (web/routes/stations.py), plus `overridable`: whether a
    supervisor may accept the station's current order (a rejected weight, or no unit weight to check).
    """
    view: dict[str, Any] = {"id": station.id, "kind": station.kind, "zone": station.zone}
    if station.kind != "pack":
        return {**view, "mode": station.mode}
    phase = state.phase if state else "idle"
    view.update(
        {
            "tolerance_g": station.tolerance_g,
            "tolerance_pct": station.tolerance_pct,
            "tare_g": station.tare_g,
            "state": phase,
            "order_id": state.order_id if state else None,
            "expected_g": state.expected_g if state else None,
            "tolerance_applied_g": state.tolerance_g if state else None,
            "measured_g": state.measured_g if state else None,
            "delta_g": state.delta_g if state else None,
            "verdict": state.verdict if state else None,
            "problem": state.problem if state else None,
            "message": state.message if state else "scan an order",
            "scale": {
                "device": state.scale if state else None,
                "grams": state.grams if state else None,
                "stable": state.stable if state else False,
                "condition": state.condition if state else "ok",
            },
            "updated_at": iso(state.updated_at) if state else None,
            "overridable": state is not None
            and state.order_id is not None
            and (phase == "rejected" or (phase == "blocked" and state.problem == "pack_missing_unit_weight")),
        }
    )
    return view


def station_views(floor: FloorReads, *, kind: str | None = None) -> list[dict[str, Any]]:
    """Every station (or those of one kind) by id, each with its weigh-verify state."""
    return [
        station_view(station, floor.pack_state(station.id))
        for station in sorted(floor.stations(), key=lambda s: s.id)
        if kind in (None, station.kind)
    ]


def pack_station_views(floor: FloorReads) -> list[dict[str, Any]]:
    return station_views(floor, kind="pack")
