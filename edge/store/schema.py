"""The store's schema: the tables as SQLAlchemy sees them, and their creation and upgrade.

The tables are `tables.py`'s SQLModel classes; a store gets them through the Alembic revisions in
`migrations/` (see `migrate`), which run the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import Engine, Table
from sqlmodel import SQLModel

from floorgate.edge.store.migrate import upgrade_schema
from floorgate.edge.store.tables import (
    BatchOrderRow,
    BatchPickRow,
    BatchRow,
    CountBinRow,
    CountPolicyRow,
    CycleCountRow,
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
    PutawayRow,
    StationModeRow,
    StationRow,
    WallRow,
    ZoneRow,
)


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
STATIONS = sql_table(StationRow)
LINE_SCANS = sql_table(LineScanRow)
PACK_STATIONS = sql_table(PackStationRow)
# Putaway and cycle counts (edge/store/tasks.py), made by revision 0002.
STATION_MODES = sql_table(StationModeRow)
PUTAWAYS = sql_table(PutawayRow)
COUNTS = sql_table(CycleCountRow)
COUNT_BINS = sql_table(CountBinRow)
COUNT_POLICY = sql_table(CountPolicyRow)
# Batches and put walls (edge/store/sorting.py), made by revision 0003.
BATCHES = sql_table(BatchRow)
BATCH_ORDERS = sql_table(BatchOrderRow)
BATCH_PICKS = sql_table(BatchPickRow)
WALLS = sql_table(WallRow)


def create_schema(engine: Engine, *, remember_inbound: int) -> None:
    """Bring the store to this code's schema: created when empty, upgraded by its Alembic revisions when
    older (see `migrate`), refused when newer. Costs one query when the store is at head already."""
    upgrade_schema(engine, remember_inbound=remember_inbound)
