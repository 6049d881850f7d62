"""The store's schema: the tables as SQLAlchemy sees them, their creation, and today's additive upgrades.

Upgrades only ever add (a nullable column, the ring of inbound ids) or drop what nothing reads (an index);
every statement is portable, so a PostgreSQL store is upgraded by the same code.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import Engine, MetaData, Table, bindparam, func, inspect, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from floorgate.core.model import FINISHING_ORDER_STATUSES
from floorgate.edge.store.errors import StoreError, StoreFailure, describe_failure, store_location
from floorgate.edge.store.tables import (
    BatchOrderRow,
    BatchPickRow,
    BatchRow,
    DeviceRow,
    EventRow,
    ExceptionRow,
    InboundIdRow,
    ItemRow,
    LightRow,
    LineScanRow,
    LocationRow,
    OrderLineRow,
    OrderRow,
    PackStationRow,
    StationRow,
    WallRow,
    ZoneRow,
)

log = logging.getLogger(__name__)


def sql_table(model: type[SQLModel]) -> Table:
    """The SQLAlchemy table behind a SQLModel table class."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


ZONES = sql_table(ZoneRow)
ITEMS = sql_table(ItemRow)
LOCATIONS = sql_table(LocationRow)
ORDERS = sql_table(OrderRow)
LINES = sql_table(OrderLineRow)
LIGHTS = sql_table(LightRow)
DEVICES = sql_table(DeviceRow)
EXCEPTIONS = sql_table(ExceptionRow)
EVENTS = sql_table(EventRow)
INBOUND = sql_table(InboundIdRow)
# The table of applied message ids in releases before the ring; its recent ids move to INBOUND when opened.
LEGACY_INBOUND = "inbound_messages"
STATIONS = sql_table(StationRow)
LINE_SCANS = sql_table(LineScanRow)
PACK_STATIONS = sql_table(PackStationRow)
BATCHES = sql_table(BatchRow)
BATCH_ORDERS = sql_table(BatchOrderRow)
BATCH_PICKS = sql_table(BatchPickRow)
WALLS = sql_table(WallRow)


# Columns added to existing tables after the first release, with the portable DDL that adds each one to an
# older database, and what fills it in the rows already there (run with `now`). Nullable, no default: an
# old row without a fill reads as "not set".
ADDED_COLUMNS: tuple[tuple[str, str, str, Any], ...] = (
    ("items", "weight_tolerance_g", "ALTER TABLE items ADD COLUMN weight_tolerance_g FLOAT", None),
    (
        "orders",
        "finished_at",
        "ALTER TABLE orders ADD COLUMN finished_at FLOAT",
        # Orders already finished count as finished at the upgrade: they leave memory one retention later.
        update(ORDERS)
        .where(ORDERS.c.status.in_([s.value for s in FINISHING_ORDER_STATUSES]))
        .values(finished_at=bindparam("now")),
    ),
)

# Indexes earlier releases made that no query of the edge uses (the floor lives in memory; the event log
# is read by seq). Each cost every press a page in the write-ahead log: a location's upsert rewrote both of
# its index entries, an event added one to each. Dropped when a store is opened.
DROPPED_INDEXES: tuple[str, ...] = (
    "ix_locations_zone",
    "ix_locations_module",
    "ix_events_type",
    "ix_events_order_id",
)


def create_schema(engine: Engine, *, remember_inbound: int) -> None:
    """Make the tables, and bring a database an earlier release made up to date (additive upgrades only)."""
    dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
    try:
        SQLModel.metadata.create_all(engine)
        _add_missing_columns(engine)
        # create_all makes a missing table with its indexes, not an index added to a table since.
        for table in SQLModel.metadata.sorted_tables:
            for index in table.indexes:
                index.create(engine, checkfirst=True)
        _move_legacy_inbound_ids(engine, remember_inbound)
    except (SQLAlchemyError, dbapi_error) as err:
        raise describe_failure(engine, err, "creating its tables") from err


def _add_missing_columns(engine: Engine) -> None:
    """Bring a database made by an older release up to date: create_all makes missing tables only."""
    with engine.begin() as conn:
        existing = inspect(conn)
        for table, column, ddl, fill in ADDED_COLUMNS:
            if column not in {c["name"] for c in existing.get_columns(table)}:
                log.info("adding a column to the store", extra={"table": table, "column": column})
                conn.exec_driver_sql(ddl)
                if fill is not None:
                    conn.execute(fill, {"now": time.time()})
        for table in ("locations", "events"):
            for index in existing.get_indexes(table):
                if index["name"] in DROPPED_INDEXES:
                    log.info("dropping an unused index", extra={"table": table, "index": index["name"]})
                    conn.exec_driver_sql(f"DROP INDEX {index['name']}")


def _move_legacy_inbound_ids(engine: Engine, remember_inbound: int) -> None:
    """Earlier releases kept every applied id for ever, in a table with two indexes (three WAL pages
    a press, and a store that only grew): its most recent ids move to the ring, and it is dropped."""
    location = store_location(engine)
    with engine.begin() as conn:
        if not inspect(conn).has_table(LEGACY_INBOUND):
            return
        if conn.execute(select(func.count()).select_from(INBOUND)).scalar():
            raise StoreError(
                f"the store at {location} has applied message ids in both {LEGACY_INBOUND} (from an "
                f"earlier release) and {INBOUND.name}; it was changed by hand or by two releases at once",
                cause=StoreFailure.OTHER,
                location=location,
            )
        log.info(
            "moving applied message ids to the ring of recent ones, once: about 1.5 s a million ids",
            extra={"from": LEGACY_INBOUND, "to": INBOUND.name},
        )
        started = time.monotonic()
        legacy = Table(LEGACY_INBOUND, MetaData(), autoload_with=conn)
        newest_first = conn.execute(
            select(legacy.c.id, legacy.c.received_at)
            .order_by(legacy.c.received_at.desc())
            .limit(remember_inbound)
        ).all()
        recent = [(str(i), float(t)) for i, t in reversed(newest_first)]
        size = remember_inbound
        if recent:
            conn.execute(
                INBOUND.insert(),
                [{"slot": n % size, "seq": n, "id": i, "received_at": t} for n, (i, t) in enumerate(recent)],
            )
        conn.exec_driver_sql(f"DROP TABLE {LEGACY_INBOUND}")
        log.info(
            "moved applied message ids to the ring of recent ones; the old table is dropped",
            extra={
                "from": LEGACY_INBOUND,
                "to": INBOUND.name,
                "kept": len(recent),
                "seconds": round(time.monotonic() - started, 2),
            },
        )
