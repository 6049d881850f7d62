"""The store room: SQL persistence of the floor, the event log and inbound ids, one batch per transaction.

Callers import from here. Only the SQLite setup (`engine`, `checkpoint`) knows it is SQLite; everything
else is portable SQLAlchemy, so the same code runs against PostgreSQL (`[store] url =
"postgresql+psycopg://..."`).

- `errors`: StoreError and its causes, told as a person has to fix them
- `engine`: the engine from the store URL, SQLite's pragmas and size budget
- `schema`: the tables and their creation; `migrate`: the schema version, upgraded with Alembic through
  the revisions in `migrations/`, a newer store refused
- `records`: the messages, EventRecord and Batch
- `rows`: the rows a batch upserts for what the floor changed
- `commit`: the unit of work that writes one batch in one transaction
- `checkpoint`: the write-ahead log's checkpoint policy and its bound
- `restore`: the floor loaded back; `queries`: the event log read
- `store`: Store, over all of them, with the start-up checks
- `tables`, `ids`, `retention`: the SQLModel tables, event ids, what leaves the store when
"""

from floorgate.edge.store.checkpoint import CheckpointMode, CheckpointPolicy, WalCheckpoint
from floorgate.edge.store.engine import make_engine
from floorgate.edge.store.errors import (
    BINDING_ERRORS,
    StoreError,
    StoreFailure,
    describe_failure,
    failure_cause,
    size_limit_mb,
    store_location,
)
from floorgate.edge.store.migrate import SchemaState, StoreTooNew, schema_state
from floorgate.edge.store.records import Batch, EventRecord
from floorgate.edge.store.restore import Loaded
from floorgate.edge.store.rows import batch_rows
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
    sql_table,
)
from floorgate.edge.store.store import STARTUP_HEADROOM_BYTES, Store

__all__ = [
    "BINDING_ERRORS",
    "DEVICES",
    "EVENTS",
    "EXCEPTIONS",
    "INBOUND",
    "ITEMS",
    "LIGHTS",
    "LINES",
    "LINE_SCANS",
    "LOCATIONS",
    "ORDERS",
    "PACK_STATIONS",
    "STARTUP_HEADROOM_BYTES",
    "STATIONS",
    "ZONES",
    "Batch",
    "CheckpointMode",
    "CheckpointPolicy",
    "EventRecord",
    "Loaded",
    "SchemaState",
    "Store",
    "StoreError",
    "StoreFailure",
    "StoreTooNew",
    "WalCheckpoint",
    "batch_rows",
    "describe_failure",
    "failure_cause",
    "make_engine",
    "schema_state",
    "size_limit_mb",
    "sql_table",
    "store_location",
]
