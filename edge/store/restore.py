"""Loading the floor back: the live state read from the store (on start-up, or after a failed batch) and
the floor rebuilt from it; and one order read back when the floor has retired it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from sys import intern
from typing import Any

from sqlalchemy import JSON, Engine, Table, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from floorgate.core.floor import Floor
from floorgate.core.instructions import Blink
from floorgate.core.model import (
    Device,
    ExceptionStatus,
    FloorException,
    Item,
    ItemScan,
    Light,
    LineStatus,
    Location,
    Order,
    OrderLine,
    OrderStatus,
    Station,
    Zone,
    ZoneRun,
    retirable_statuses,
)
from floorgate.core.packing import PackPhase, PackStationState, packs
from floorgate.edge.store.errors import describe_failure
from floorgate.edge.store.schema import (
    DEVICES,
    EVENTS,
    EXCEPTIONS,
    INBOUND,
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
from floorgate.edge.store.sorting import read_sorting
from floorgate.edge.store.tasks import (
    read_counts,
    read_putaways,
    read_station_modes,
    read_variance_exception_pct,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Loaded:
    """The floor as the store holds it, the last event's seq, and the applied message ids, newest first."""

    floor: Floor
    last_seq: int
    recent_inbound_ids: list[str]
    inbound_next: int = 0  # the ring number the next applied message id gets


def load_floor(engine: Engine, *, remember_inbound: int, retire_before: float | None = None) -> Loaded:
    """Read the live state back (on start-up) and rebuild the floor from it.

    Orders that finished before `retire_before` (wall clock) are left in the store: the floor does
    not need them, and `order()` reads one when asked.
    """
    try:
        return _load(engine, remember_inbound, retire_before)
    except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as err:
        raise describe_failure(engine, err, "reading the floor back") from err


def read_order(engine: Engine, order_id: str) -> Order | None:
    """One order as the store holds it: how the API finds an order the floor has retired."""
    try:
        with engine.connect() as conn:
            found = read_orders(conn, ORDERS.c.order_id == order_id)
    except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as err:
        raise describe_failure(engine, err, f"reading order {order_id!r}") from err
    return found[0] if found else None


def _load(engine: Engine, remember_inbound: int, retire_before: float | None) -> Loaded:
    with engine.connect() as conn:
        zones = [Zone(id=r.id, scan_verify=r.scan_verify, name=r.name) for r in conn.execute(select(ZONES))]
        items = [
            Item(
                sku=r.sku,
                description=r.description,
                gtins=tuple(r.gtins or ()),
                unit_weight_g=r.unit_weight_g,
                weight_tolerance_g=r.weight_tolerance_g,
            )
            for r in conn.execute(select(ITEMS))
        ]
        rows, at = _fast_rows(conn, LOCATIONS)
        code, zone, module, sku, on_hand = (at[n] for n in ("code", "zone", "module", "sku", "on_hand"))
        locations = [
            Location(code=r[code], zone=r[zone], module=r[module], sku=r[sku], on_hand=r[on_hand])
            for r in rows
        ]
        stations = [
            Station(id=r.id, kind=r.kind, zone=r.zone, operator=r.operator)
            for r in conn.execute(select(STATIONS))
        ]
        read_station_modes(conn, stations)
        putaways = read_putaways(conn)
        counts = read_counts(conn)
        variance_exception_pct = read_variance_exception_pct(conn)
        # Orders retired before `retire_before` stay in the store, not in memory.
        orders = read_orders(
            conn,
            _kept_orders(retire_before, packing=packs(stations)),
        )
        lights = _read_lights(conn)
        devices = [
            Device(id=r.id, kind=r.kind, transport=r.transport, online=r.online, last_seen=r.last_seen)
            for r in conn.execute(select(DEVICES))
        ]
        exceptions = [
            FloorException(
                id=r.id,
                kind=r.kind,
                message=r.message,
                raised_at=r.raised_at,
                order_id=r.order_id,
                location=r.location,
                device=r.device,
                detail=r.detail or {},
                count=r._mapping["count"],  # Row.count is the tuple method
                last_at=r.last_at,
                status=ExceptionStatus(r.status),
                resolved_at=r.resolved_at,
                resolved_by=r.resolved_by,
                note=r.note,
            )
            for r in conn.execute(select(EXCEPTIONS))
        ]
        pack_stations = [
            PackStationState(
                station=r.station,
                phase=PackPhase(r.phase),
                order_id=r.order_id,
                expected_g=r.expected_g,
                tolerance_g=r.tolerance_g,
                measured_g=r.measured_g,
                delta_g=r.delta_g,
                problem=r.problem,
                message=r.message,
                await_zero=r.await_zero,
                updated_at=r.updated_at,
            )
            for r in conn.execute(select(PACK_STATIONS))
        ]
        batches, walls = read_sorting(conn)
        last_seq = conn.execute(select(func.max(EVENTS.c.seq))).scalar() or 0
        ring = sorted(((s, i) for s, i in conn.execute(select(INBOUND.c.seq, INBOUND.c.id))), reverse=True)
        # Slots past a ring made smaller since are left behind: their ids are the oldest.
        recent = [i for _, i in ring[:remember_inbound]]
    floor = Floor()
    floor.restore(
        zones=zones,
        items=items,
        locations=locations,
        orders=orders,
        lights=lights,
        devices=devices,
        exceptions=exceptions,
        stations=stations,
        batches=batches,
        walls=walls,
        putaways=putaways,
        counts=counts,
        variance_exception_pct=variance_exception_pct,
    )
    floor.packing.restore(pack_stations)
    return Loaded(
        floor=floor,
        last_seq=int(last_seq),
        recent_inbound_ids=recent,
        inbound_next=ring[0][0] + 1 if ring else 0,
    )


def load_lights(engine: Engine) -> list[Light]:
    """Every module's light as the store holds it, read alone: what a restart sends before the rest of the
    floor is read back."""
    try:
        with engine.connect() as conn:
            return _read_lights(conn)
    except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as err:
        raise describe_failure(engine, err, "reading the lights back") from err


def _read_lights(conn: Connection) -> list[Light]:
    rows, at = _fast_rows(conn, LIGHTS)
    module, seq, color, blink, display, o_id, l_id = (
        at[n] for n in ("module", "seq", "color", "blink", "display", "order_id", "line_id")
    )
    blinks = {b.value: b for b in Blink}
    return [
        Light(
            module=r[module],
            seq=r[seq],
            color=r[color],
            blink=blinks[r[blink]],
            display=r[display],
            order_id=r[o_id],
            line_id=r[l_id],
        )
        for r in rows
    ]


def read_orders(conn: Connection, where: Any) -> list[Order]:
    """The orders matching `where` (all of them for None), with their lines and item scans."""
    held = None if where is None else select(ORDERS.c.order_id).where(where)
    lines_by_order: dict[str, dict[str, OrderLine]] = {}
    rows, at = _fast_rows(
        conn,
        LINES,
        order_by=(LINES.c.order_id, LINES.c.position),
        where=None if held is None else LINES.c.order_id.in_(held),
    )
    o_id, l_id, l_sku, qty, loc, picked, status, ticket, position = (
        at[n]
        for n in ("order_id", "line_id", "sku", "qty", "location", "picked", "status", "ticket", "position")
    )
    line_status = {s.value: s for s in LineStatus}  # an enum call per row costs more than the row
    for r in rows:
        line_id = intern(r[l_id])
        lines_by_order.setdefault(r[o_id], {})[line_id] = OrderLine(
            line_id=line_id,
            sku=intern(r[l_sku]),
            qty=r[qty],
            location=None if r[loc] is None else intern(r[loc]),
            picked=r[picked],
            status=line_status[r[status]],
            ticket=r[ticket],
            position=r[position],
        )
    scans = select(LINE_SCANS) if held is None else select(LINE_SCANS).where(LINE_SCANS.c.order_id.in_(held))
    for r in conn.execute(scans):
        scanned = lines_by_order.get(r.order_id, {}).get(r.line_id)
        if scanned is not None:
            scanned.scan = ItemScan(
                gtin=r.gtin, lot=r.lot, serial=r.serial, expiry=r.expiry, station=r.station
            )
    rows, at = _fast_rows(conn, ORDERS, where=where)
    o_id, fingerprint, priority, tote, status, runs, finished_at = (
        at[n] for n in ("order_id", "fingerprint", "priority", "tote", "status", "runs", "finished_at")
    )
    order_status = {s.value: s for s in OrderStatus}
    return [
        Order(
            order_id=r[o_id],
            lines=lines_by_order.get(r[o_id], {}),
            fingerprint=r[fingerprint],
            priority=r[priority],
            tote=r[tote],
            status=order_status[r[status]],
            runs={run["zone"]: ZoneRun(**run) for run in r[runs] or ()},
            finished_at=r[finished_at],
        )
        for r in rows
    ]


def _fast_rows(
    conn: Connection, table: Table, *, order_by: Sequence[Any] = (), where: Any = None
) -> tuple[list[Any], dict[str, int]]:
    """All rows of a big table as plain tuples straight from the driver, with each column's position.

    Start-up reads every location, line and order; SQLAlchemy's per-row processing made 100k
    locations take seconds. The SELECT is still SQLAlchemy's, for this dialect; JSON columns are
    decoded here as the JSON type would.
    """
    columns = list(table.columns)
    json_positions = [i for i, c in enumerate(columns) if isinstance(c.type, JSON)]
    query = select(table).order_by(*order_by)
    if where is not None:
        query = query.where(where)
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    args = [params[n] for n in compiled.positiontup or ()] if compiled.positional else params
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        cursor.execute(str(compiled), args)
        rows: list[Any] = list(cursor.fetchall())
    finally:
        cursor.close()
    if json_positions:
        decoded = []
        for row in rows:
            values = list(row)
            for i in json_positions:
                if isinstance(values[i], str | bytes):
                    values[i] = json.loads(values[i])
            decoded.append(values)
        rows = decoded
    return rows, {c.name: i for i, c in enumerate(columns)}


def _kept_orders(retire_before: float | None, *, packing: bool) -> Any:
    """The orders a start-up holds in memory: all but those retired before `retire_before`."""
    if retire_before is None:
        return None
    retired = [s.value for s in retirable_statuses(packing=packing)]
    return or_(
        ORDERS.c.finished_at.is_(None),
        ORDERS.c.finished_at >= retire_before,
        ORDERS.c.status.not_in(retired),
    )
