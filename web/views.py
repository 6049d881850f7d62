"""JSON views of floor entities, shared by the REST API and the stream so both say the same thing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from floorgate.core.model import Device, FloorException, Light, Location, Order, Station
from floorgate.web.ports import FloorReads, LoggedEvent, PackState


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


def event_view(record: LoggedEvent) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "id": record.id,
        "type": record.type,
        "timestamp": iso(record.occurred_at),
        "order_id": record.order_id,
        "data": record.data,
    }


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


def station_view(station: Station, state: PackState | None) -> dict[str, Any]:
    """A station as packers and supervisors see it; a pack station adds its weigh-verify state.

    The same shape as GET /api/v1/stations (web/routes/stations.py), plus `overridable`: whether a
    supervisor may accept the station's current order (a rejected weight, or no unit weight to check).
    """
    view: dict[str, Any] = {"id": station.id, "kind": station.kind, "zone": station.zone}
    if station.kind != "pack":
        return view
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
