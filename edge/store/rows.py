"""Row mapping for writes: the rows a batch upserts for what the floor changed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from floorgate.core.floor import Floor
from floorgate.core.model import FloorException, Order
from floorgate.core.packing import PackStationState
from floorgate.edge.store.records import Batch
from floorgate.edge.store.schema import (
    DEVICES,
    EXCEPTIONS,
    ITEMS,
    LIGHTS,
    LINE_SCANS,
    LINES,
    LOCATIONS,
    ORDERS,
    PACK_STATIONS,
    STATIONS,
    ZONES,
)
from floorgate.edge.store.sorting import add_sorting_rows
from floorgate.edge.store.tasks import add_task_rows


def batch_rows(floor: Floor) -> Batch:
    """The rows for everything `floor.changes` names, ready to upsert."""
    changes = floor.changes
    batch = Batch()
    batch.add(
        ZONES,
        (
            {"id": z.id, "scan_verify": z.scan_verify, "name": z.name}
            for z in (floor.zones[k] for k in changes.zones)
        ),
    )
    batch.add(
        ITEMS,
        (
            {
                "sku": i.sku,
                "description": i.description,
                "gtins": list(i.gtins),
                "unit_weight_g": i.unit_weight_g,
                "weight_tolerance_g": i.weight_tolerance_g,
            }
            for i in (floor.items[k] for k in changes.items)
        ),
    )
    batch.add(
        LOCATIONS,
        (
            {"code": loc.code, "zone": loc.zone, "module": loc.module, "sku": loc.sku, "on_hand": loc.on_hand}
            for loc in (floor.locations[k] for k in changes.locations)
        ),
    )
    batch.add(ORDERS, (_order_row(floor.orders[k]) for k in changes.orders))
    batch.add(LINES, (_line_row(floor.orders[o], line_id) for o, line_id in changes.lines))
    batch.add(
        LIGHTS,
        (
            {
                "module": light.module,
                "seq": light.seq,
                "color": light.color,
                "blink": light.blink.value,
                "display": light.display,
                "order_id": light.order_id,
                "line_id": light.line_id,
            }
            for light in (floor.lights[k] for k in changes.lights)
        ),
    )
    batch.add(
        DEVICES,
        (
            {
                "id": d.id,
                "kind": d.kind,
                "transport": d.transport,
                "online": d.online,
                "last_seen": d.last_seen,
            }
            for d in (floor.devices[k] for k in changes.devices)
        ),
    )
    batch.add(EXCEPTIONS, (_exception_row(floor.exceptions[k]) for k in changes.exceptions))
    batch.add(
        STATIONS,
        (
            {"id": st.id, "kind": st.kind, "zone": st.zone, "operator": st.operator}
            for st in (floor.stations[k] for k in changes.stations)
        ),
    )
    batch.add(LINE_SCANS, _line_scan_rows(floor, changes.lines))
    batch.add(PACK_STATIONS, (_pack_station_row(floor.packing.state(k)) for k in changes.pack_stations))
    add_sorting_rows(floor, batch)
    add_task_rows(floor, batch)
    return batch


def _pack_station_row(state: PackStationState) -> dict[str, Any]:
    return {
        "station": state.station,
        "phase": state.phase.value,
        "order_id": state.order_id,
        "expected_g": state.expected_g,
        "tolerance_g": state.tolerance_g,
        "measured_g": state.measured_g,
        "delta_g": state.delta_g,
        "problem": state.problem,
        "message": state.message,
        "await_zero": state.await_zero,
        "updated_at": state.updated_at,
    }


def _order_row(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "status": order.status.value,
        "priority": order.priority,
        "tote": order.tote,
        "fingerprint": order.fingerprint,
        "finished_at": order.finished_at,
        "runs": [
            {
                "zone": r.zone,
                "picker": r.picker,
                "operator": r.operator,
                "tote": r.tote,
                "color": r.color,
                "done": r.done,
            }
            for r in order.runs.values()
        ],
    }


def _line_row(order: Order, line_id: str) -> dict[str, Any]:
    line = order.lines[line_id]
    return {
        "order_id": order.order_id,
        "line_id": line.line_id,
        "position": line.position,
        "sku": line.sku,
        "qty": line.qty,
        "location": line.location,
        "picked": line.picked,
        "status": line.status.value,
        "ticket": line.ticket,
    }


def _line_scan_rows(floor: Floor, lines: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    rows = []
    for order_id, line_id in lines:
        scan = floor.orders[order_id].lines[line_id].scan
        if scan is not None:
            rows.append(
                {
                    "order_id": order_id,
                    "line_id": line_id,
                    "gtin": scan.gtin,
                    "lot": scan.lot,
                    "serial": scan.serial,
                    "expiry": scan.expiry,
                    "station": scan.station,
                }
            )
    return rows


def _exception_row(x: FloorException) -> dict[str, Any]:
    return {
        "id": x.id,
        "kind": x.kind,
        "message": x.message,
        "status": x.status.value,
        "raised_at": x.raised_at,
        "last_at": x.last_at,
        "count": x.count,
        "order_id": x.order_id,
        "location": x.location,
        "device": x.device,
        "detail": x.detail,
        "resolved_at": x.resolved_at,
        "resolved_by": x.resolved_by,
        "note": x.note,
    }
