"""JSON views of floor entities, shared by the REST API and the stream so both say the same thing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.floor import Floor
from core.model import FloorException, Light, Order
from edge.store import EventRecord


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
            {"zone": run.zone, "operator": run.operator, "color": run.color, "done": run.done}
            for run in order.runs.values()
        ],
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


def location_view(floor: Floor, code: str) -> dict[str, Any]:
    location = floor.locations[code]
    module = location.module
    device = floor.devices.get(module) if module else None
    return {
        "code": location.code,
        "zone": location.zone,
        "module": module,
        "sku": location.sku,
        "on_hand": location.on_hand,
        "light": light_view(floor.lights.get(module)) if module else None,
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


def event_view(record: EventRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "id": record.id,
        "type": record.type,
        "timestamp": iso(record.occurred_at),
        "order_id": record.order_id,
        "data": record.data,
    }
