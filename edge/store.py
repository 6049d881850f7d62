"""The store: SQL persistence of the floor, the event log and inbound ids, written one batch per transaction.

Only the SQLite engine setup below knows it is SQLite; everything else is portable SQLAlchemy so the same
code runs against PostgreSQL (`[store] url = "postgresql+psycopg://..."`).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Engine, Table, bindparam, create_engine, delete, event, func, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from core.floor import Floor
from core.instructions import Blink
from core.model import (
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
)
from core.packing import PackPhase, PackStationState
from edge.tables import (
    DeviceRow,
    EventRow,
    ExceptionRow,
    InboundMessageRow,
    ItemRow,
    LightRow,
    LineScanRow,
    LocationRow,
    OrderLineRow,
    OrderRow,
    PackStationRow,
    StationRow,
    ZoneRow,
)

log = logging.getLogger(__name__)


def _table(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


ZONES = _table(ZoneRow)
ITEMS = _table(ItemRow)
LOCATIONS = _table(LocationRow)
ORDERS = _table(OrderRow)
LINES = _table(OrderLineRow)
LIGHTS = _table(LightRow)
DEVICES = _table(DeviceRow)
EXCEPTIONS = _table(ExceptionRow)
EVENTS = _table(EventRow)
INBOUND = _table(InboundMessageRow)
STATIONS = _table(StationRow)
LINE_SCANS = _table(LineScanRow)
PACK_STATIONS = _table(PackStationRow)


# Columns added to existing tables after the first release, with the portable DDL that adds each one to an
# older database. Nullable, no default: old rows read as "not set".
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("items", "weight_tolerance_g", "ALTER TABLE items ADD COLUMN weight_tolerance_g FLOAT"),
)


class StoreError(Exception):
    """The store could not do what was asked (disk full, read-only, database gone)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class EventRecord:
    """An event as logged: the envelope every consumer (API, webhooks, dashboard) sees."""

    seq: int
    id: str
    type: str
    occurred_at: float
    order_id: str | None
    data: dict[str, Any]

    def row(self) -> dict[str, Any]:
        """The event's row in the event log table."""
        return {
            "seq": self.seq,
            "id": self.id,
            "type": self.type,
            "occurred_at": self.occurred_at,
            "order_id": self.order_id,
            "data": self.data,
        }


@dataclass(kw_only=True, slots=True)
class Batch:
    """Everything one transaction writes: rows to upsert per table, events, and inbound ids."""

    upserts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    events: list[EventRecord] = field(default_factory=list)
    inbound_ids: list[tuple[str, float]] = field(default_factory=list)

    def add(self, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        batch_rows = list(rows)
        if batch_rows:
            self.upserts.setdefault(table.name, []).extend(batch_rows)


@dataclass(frozen=True, kw_only=True, slots=True)
class Loaded:
    floor: Floor
    last_seq: int
    recent_inbound_ids: list[str]


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed batch survives a power cut, so nothing shown on the floor can be taken back.
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def make_engine(url: str, *, synchronous: str = "FULL") -> Engine:
    if synchronous.upper() not in {"FULL", "NORMAL", "EXTRA"}:
        raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        _configure_sqlite(engine, synchronous.upper())
        return engine
    return create_engine(url, pool_pre_ping=True)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A statement compiled once for the engine's dialect, run through the driver with plain rows.

    Building an upsert with SQLAlchemy for every batch cost about 3 ms (column proxies, cache keys);
    the same SQL, generated once by SQLAlchemy for this dialect and executed with exec_driver_sql,
    costs a few hundred microseconds, so the fsync is what a commit pays for.
    """

    sql: str
    names: tuple[str, ...]
    json_columns: frozenset[str]
    positional: bool

    def params(self, rows: Iterable[dict[str, Any]]) -> list[Any]:
        json_columns = self.json_columns

        def value(row: dict[str, Any], name: str) -> Any:
            raw = row.get(name)
            return json.dumps(raw) if name in json_columns and raw is not None else raw

        if self.positional:
            return [tuple(value(row, n) for n in self.names) for row in rows]
        return [{n: value(row, n) for n in self.names} for row in rows]


def _prepare(engine: Engine, statement: Any, table: Table) -> _Prepared:
    compiled = statement.compile(dialect=engine.dialect)
    positional = bool(compiled.positional)
    names = tuple(compiled.positiontup) if positional and compiled.positiontup else tuple(compiled.params)
    json_columns = frozenset(c.name for c in table.columns if isinstance(c.type, JSON))
    return _Prepared(sql=str(compiled), names=names, json_columns=json_columns, positional=positional)


class Store:
    """Owns the engine. `commit` runs in a worker thread; the writer never calls it concurrently."""

    def __init__(self, engine: Engine, *, remember_inbound: int = 200_000) -> None:
        self.engine = engine
        self.remember_inbound = remember_inbound
        if engine.dialect.name not in {"sqlite", "postgresql"}:
            raise StoreError(f"unsupported database {engine.dialect.name!r}: use SQLite or PostgreSQL")
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._prepared: dict[str, _Prepared] = {}
        self._raw: Any = None
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error

    def _statement(self, table: Table) -> _Prepared:
        """The upsert for a state table, or the plain insert for the append-only ones."""
        prepared = self._prepared.get(table.name)
        if prepared is None:
            values: dict[str, Any] = {c.name: bindparam(c.name) for c in table.columns}
            if table.name in {EVENTS.name, INBOUND.name}:
                statement: Any = table.insert().values(values)
            else:
                keys = [c.name for c in table.primary_key.columns]
                insert = self._insert(table).values(values)
                updates = {c.name: insert.excluded[c.name] for c in table.columns if c.name not in keys}
                statement = insert.on_conflict_do_update(index_elements=keys, set_=updates)
            prepared = self._prepared[table.name] = _prepare(self.engine, statement, table)
        return prepared

    def create_schema(self) -> None:
        SQLModel.metadata.create_all(self.engine)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Bring a database made by an older release up to date: create_all makes missing tables only."""
        with self.engine.begin() as conn:
            existing = inspect(conn)
            for table, column, ddl in ADDED_COLUMNS:
                if column not in {c["name"] for c in existing.get_columns(table)}:
                    log.info("adding a column to the store", extra={"table": table, "column": column})
                    conn.exec_driver_sql(ddl)

    def close(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            raw.close()
        self.engine.dispose()

    # -- writing -----------------------------------------------------------------------------------

    def commit(self, batch: Batch) -> None:
        """Write one batch in one transaction, or nothing at all."""
        work: list[tuple[Table, Sequence[dict[str, Any]]]] = [
            (SQLModel.metadata.tables[name], rows) for name, rows in batch.upserts.items()
        ]
        if batch.events:
            work.append((EVENTS, [e.row() for e in batch.events]))
        if batch.inbound_ids:
            work.append((INBOUND, [{"id": i, "received_at": t} for i, t in batch.inbound_ids]))
        try:
            # The writer's own DB-API connection, kept open: the commit is the hot path, and going
            # through SQLAlchemy's Connection for each batch cost more than the SQL itself.
            raw = self._write_connection()
            cursor = raw.cursor()
            try:
                for table, rows in work:
                    prepared = self._statement(table)
                    cursor.executemany(prepared.sql, prepared.params(rows))
                raw.commit()
            except BaseException:
                self._drop_write_connection(rollback=True)
                raise
            finally:
                cursor.close()
        except (SQLAlchemyError, self._dbapi_error) as err:
            raise StoreError(
                f"commit of {len(batch.events)} events failed: {err.__class__.__name__}: {err}"
            ) from err

    def _write_connection(self) -> Any:
        if self._raw is None:
            self._raw = self.engine.raw_connection()
        return self._raw

    def _drop_write_connection(self, *, rollback: bool) -> None:
        raw, self._raw = self._raw, None
        if raw is None:
            return
        with contextlib.suppress(Exception):  # the connection may be what failed; it is dropped either way
            if rollback:
                raw.rollback()
            raw.invalidate()

    def forget_inbound_before(self, cutoff: float) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(delete(INBOUND).where(INBOUND.c.received_at < cutoff))
            return int(result.rowcount or 0)

    # -- reading -----------------------------------------------------------------------------------

    def load(self) -> Loaded:
        """Read the whole live state back (on start-up) and rebuild the floor from it."""
        with self.engine.connect() as conn:
            zones = [
                Zone(id=r.id, scan_verify=r.scan_verify, name=r.name) for r in conn.execute(select(ZONES))
            ]
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
            rows, at = self._fast_rows(conn, LOCATIONS)
            code, zone, module, sku, on_hand = (at[n] for n in ("code", "zone", "module", "sku", "on_hand"))
            locations = [
                Location(code=r[code], zone=r[zone], module=r[module], sku=r[sku], on_hand=r[on_hand])
                for r in rows
            ]
            lines_by_order: dict[str, dict[str, OrderLine]] = {}
            rows, at = self._fast_rows(conn, LINES, order_by=(LINES.c.order_id, LINES.c.position))
            o_id, l_id, l_sku, qty, loc, picked, status, ticket = (
                at[n] for n in ("order_id", "line_id", "sku", "qty", "location", "picked", "status", "ticket")
            )
            line_status = {s.value: s for s in LineStatus}  # an enum call per row costs more than the row
            for r in rows:
                lines_by_order.setdefault(r[o_id], {})[r[l_id]] = OrderLine(
                    line_id=r[l_id],
                    sku=r[l_sku],
                    qty=r[qty],
                    location=r[loc],
                    picked=r[picked],
                    status=line_status[r[status]],
                    ticket=r[ticket],
                )
            for r in conn.execute(select(LINE_SCANS)):
                scanned = lines_by_order.get(r.order_id, {}).get(r.line_id)
                if scanned is not None:
                    scanned.scan = ItemScan(
                        gtin=r.gtin, lot=r.lot, serial=r.serial, expiry=r.expiry, station=r.station
                    )
            stations = [
                Station(id=r.id, kind=r.kind, zone=r.zone, operator=r.operator)
                for r in conn.execute(select(STATIONS))
            ]
            rows, at = self._fast_rows(conn, ORDERS)
            o_id, fingerprint, priority, tote, status, runs = (
                at[n] for n in ("order_id", "fingerprint", "priority", "tote", "status", "runs")
            )
            order_status = {s.value: s for s in OrderStatus}
            orders = [
                Order(
                    order_id=r[o_id],
                    lines=lines_by_order.get(r[o_id], {}),
                    fingerprint=r[fingerprint],
                    priority=r[priority],
                    tote=r[tote],
                    status=order_status[r[status]],
                    runs={run["zone"]: ZoneRun(**run) for run in r[runs] or ()},
                )
                for r in rows
            ]
            rows, at = self._fast_rows(conn, LIGHTS)
            module, seq, color, blink, display, o_id, l_id = (
                at[n] for n in ("module", "seq", "color", "blink", "display", "order_id", "line_id")
            )
            blinks = {b.value: b for b in Blink}
            lights = [
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
            last_seq = conn.execute(select(func.max(EVENTS.c.seq))).scalar() or 0
            recent = [
                r.id
                for r in conn.execute(
                    select(INBOUND.c.id).order_by(INBOUND.c.received_at.desc()).limit(self.remember_inbound)
                )
            ]
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
        )
        floor.packing.restore(pack_stations)
        return Loaded(floor=floor, last_seq=int(last_seq), recent_inbound_ids=recent)

    def _fast_rows(
        self, conn: Connection, table: Table, *, order_by: Sequence[Any] = ()
    ) -> tuple[list[Any], dict[str, int]]:
        """All rows of a big table as plain tuples straight from the driver, with each column's position.

        Start-up reads every location, line and order; SQLAlchemy's per-row processing made 100k
        locations take seconds. The SELECT is still SQLAlchemy's, for this dialect; JSON columns are
        decoded here as the JSON type would.
        """
        columns = list(table.columns)
        json_positions = [i for i, c in enumerate(columns) if isinstance(c.type, JSON)]
        sql = str(select(table).order_by(*order_by).compile(dialect=self.engine.dialect))
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        cursor = dbapi.cursor()
        try:
            cursor.execute(sql)
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

    def events_after(
        self, after: int, limit: int, *, types: Sequence[str] | None = None
    ) -> list[EventRecord]:
        query = select(EVENTS).where(EVENTS.c.seq > after).order_by(EVENTS.c.seq).limit(limit)
        if types:
            query = query.where(EVENTS.c.type.in_(list(types)))
        with self.engine.connect() as conn:
            return [
                EventRecord(
                    seq=r.seq,
                    id=r.id,
                    type=r.type,
                    occurred_at=r.occurred_at,
                    order_id=r.order_id,
                    data=r.data,
                )
                for r in conn.execute(query)
            ]

    def last_seq(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(EVENTS.c.seq))).scalar() or 0)


# -- rows from the floor's entities ----------------------------------------------------------------


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
        "position": list(order.lines).index(line_id),
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
