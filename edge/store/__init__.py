"""The store: SQL persistence of the floor, the event log and inbound ids, written one batch per transaction.

Only the SQLite engine setup below knows it is SQLite; everything else is portable SQLAlchemy so the same
code runs against PostgreSQL (`[store] url = "postgresql+psycopg://..."`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Engine,
    MetaData,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlmodel import SQLModel

from floorgate.core.floor import Floor
from floorgate.core.instructions import Blink
from floorgate.core.model import (
    FINISHING_ORDER_STATUSES,
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
    RetiredOrder,
    Station,
    Zone,
    ZoneRun,
    retirable_statuses,
)
from floorgate.core.packing import PackPhase, PackStationState, packs
from floorgate.edge.store.tables import (
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
INBOUND = _table(InboundIdRow)
# The table of applied message ids in releases before the ring; its recent ids move to INBOUND when opened.
LEGACY_INBOUND = "inbound_messages"
STATIONS = _table(StationRow)
LINE_SCANS = _table(LineScanRow)
PACK_STATIONS = _table(PackStationRow)


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


class StoreFailure(StrEnum):
    """Why the store cannot do what was asked, as a person has to fix it."""

    FULL = "full"  # no space on the disk, or the store reached [store] max_size_mb
    READ_ONLY = "read_only"  # the file system (or the database server) refuses writes
    IO_ERROR = "io_error"  # the disk failed a read or write
    UNAVAILABLE = "unavailable"  # the database cannot be opened or reached
    # What a batch holds is refused by the store itself (a constraint, a value it cannot take): trying the
    # same batch again cannot help, so the writer sets the command that made it aside instead of waiting.
    UNSTORABLE = "unstorable"
    OTHER = "other"


class StoreError(Exception):
    """The store could not do what was asked; `cause` says why and `location` which store (no secrets)."""

    def __init__(
        self, message: str, *, cause: StoreFailure = StoreFailure.OTHER, location: str | None = None
    ) -> None:
        super().__init__(message)
        self.cause = cause
        self.location = location


# Start-up refuses a store with less room than this (on its disk, or below [store] max_size_mb): the
# edge would otherwise start, take work, and stop committing moments later.
STARTUP_HEADROOM_BYTES = 1024 * 1024
_MAX_SIZE_OPTION = "floorgate_max_size_mb"

# SQLite primary result codes (the start of `sqlite_errorname`, e.g. SQLITE_IOERR_WRITE) by cause.
_SQLITE_CAUSES: dict[str, StoreFailure] = {
    "SQLITE_FULL": StoreFailure.FULL,
    "SQLITE_READONLY": StoreFailure.READ_ONLY,
    "SQLITE_PERM": StoreFailure.READ_ONLY,
    "SQLITE_IOERR": StoreFailure.IO_ERROR,
    "SQLITE_CANTOPEN": StoreFailure.UNAVAILABLE,
    "SQLITE_NOTADB": StoreFailure.UNAVAILABLE,
    "SQLITE_CORRUPT": StoreFailure.IO_ERROR,
    "SQLITE_CONSTRAINT": StoreFailure.UNSTORABLE,
    "SQLITE_TOOBIG": StoreFailure.UNSTORABLE,
    "SQLITE_MISMATCH": StoreFailure.UNSTORABLE,
    "SQLITE_RANGE": StoreFailure.UNSTORABLE,
}
# PostgreSQL SQLSTATEs by cause: disk_full, read_only_sql_transaction, io_error, connection failures.
_SQLSTATE_CAUSES: dict[str, StoreFailure] = {
    "53100": StoreFailure.FULL,
    "25006": StoreFailure.READ_ONLY,
    "58030": StoreFailure.IO_ERROR,
    "08000": StoreFailure.UNAVAILABLE,
    "08001": StoreFailure.UNAVAILABLE,
    "08003": StoreFailure.UNAVAILABLE,
    "08006": StoreFailure.UNAVAILABLE,
    "57P01": StoreFailure.UNAVAILABLE,
}
# ...and by SQLSTATE class: 22 data exception (a value out of range, a NUL in text), 23 integrity.
_SQLSTATE_CLASS_CAUSES: dict[str, StoreFailure] = {
    "22": StoreFailure.UNSTORABLE,
    "23": StoreFailure.UNSTORABLE,
}
# For errors that carry no code (a driver's message, an error made by hand): the words SQLite uses.
_MESSAGE_CAUSES: tuple[tuple[str, StoreFailure], ...] = (
    ("database or disk is full", StoreFailure.FULL),
    ("no space left on device", StoreFailure.FULL),
    ("readonly database", StoreFailure.READ_ONLY),
    ("read-only file system", StoreFailure.READ_ONLY),
    ("disk i/o error", StoreFailure.IO_ERROR),
    ("unable to open database file", StoreFailure.UNAVAILABLE),
    # psycopg, when the server is gone or cannot be reached (no SQLSTATE: no server answered)
    ("connection refused", StoreFailure.UNAVAILABLE),
    ("server closed the connection", StoreFailure.UNAVAILABLE),
    ("the connection is lost", StoreFailure.UNAVAILABLE),
    ("the connection is closed", StoreFailure.UNAVAILABLE),
    ("connection failed", StoreFailure.UNAVAILABLE),
    ("could not connect", StoreFailure.UNAVAILABLE),
    ("error binding parameter", StoreFailure.UNSTORABLE),  # sqlite3: a value of a type it cannot take
)
# What the driver raises while binding a batch's values, before the database sees them: an integer past
# 64 bits (OverflowError), text UTF-8 cannot encode (UnicodeEncodeError), a NUL in PostgreSQL text.
# `Store.commit` catches them too. And the DB-API's own classes for a refused value, whatever the
# driver: psycopg raises DataError for a NUL in text without a SQLSTATE (it never reaches the server).
_REFUSED_VALUE_ERRORS = frozenset({"DataError", "IntegrityError"})
BINDING_ERRORS: tuple[type[Exception], ...] = (OverflowError, ValueError, TypeError)
_WRITE_CAUSES = frozenset({StoreFailure.FULL, StoreFailure.READ_ONLY, StoreFailure.IO_ERROR})
_ERRNO_CAUSES: dict[int, StoreFailure] = {
    errno.ENOSPC: StoreFailure.FULL,
    errno.EDQUOT: StoreFailure.FULL,
    errno.EROFS: StoreFailure.READ_ONLY,
    errno.EACCES: StoreFailure.READ_ONLY,
    errno.EPERM: StoreFailure.READ_ONLY,
    errno.EIO: StoreFailure.IO_ERROR,
}


def failure_cause(err: BaseException) -> StoreFailure:
    """The cause of a database or file error: by SQLite result code, SQLSTATE, errno, then message."""
    orig = err.orig if isinstance(err, DBAPIError) and err.orig is not None else err
    name = getattr(orig, "sqlite_errorname", None)
    if isinstance(name, str):
        primary = "_".join(name.split("_")[:2])
        if primary in _SQLITE_CAUSES:
            return _SQLITE_CAUSES[primary]
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate in _SQLSTATE_CAUSES:
        return _SQLSTATE_CAUSES[sqlstate]
    if isinstance(sqlstate, str) and sqlstate[:2] in _SQLSTATE_CLASS_CAUSES:
        return _SQLSTATE_CLASS_CAUSES[sqlstate[:2]]
    if isinstance(orig, BINDING_ERRORS) or any(
        c.__name__ in _REFUSED_VALUE_ERRORS for c in type(orig).__mro__
    ):
        return StoreFailure.UNSTORABLE
    if isinstance(orig, OSError) and orig.errno in _ERRNO_CAUSES:
        return _ERRNO_CAUSES[orig.errno]
    text = str(orig).lower()
    for words, cause in _MESSAGE_CAUSES:
        if words in text:
            return cause
    return StoreFailure.OTHER


def _driver_message(err: BaseException) -> str:
    """The database's own words, without the SQL and parameters SQLAlchemy appends (they may hold secrets)."""
    orig = err.orig if isinstance(err, DBAPIError) and err.orig is not None else err
    if isinstance(orig, OSError) and orig.strerror:
        return orig.strerror
    lines = str(orig).strip().splitlines()
    return lines[0][:200] if lines else type(orig).__name__


def _probe_directory(directory: Path) -> OSError | None:
    """Write, sync and remove a small file where the store lives: what the file system says to a write."""
    probe = directory / f".floorgate-write-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as err:
        return err
    try:
        os.write(fd, bytes(4096))
        os.fsync(fd)
    except OSError as err:
        return err
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            probe.unlink()
    return None


def _free_bytes(directory: Path) -> int | None:
    try:
        stats = os.statvfs(directory)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def _sync_file(path: Path) -> None:
    """Write the file's dirty pages to the disk (any descriptor of a file syncs all of its pages)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def store_location(engine: Engine) -> str:
    """Which store, for messages: the SQLite file, or the database URL without its password."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return (url.database or ":memory:").removeprefix("file:")
    return url.render_as_string(hide_password=True)


def _sqlite_directory(engine: Engine) -> Path | None:
    location = store_location(engine)
    if engine.url.get_backend_name() != "sqlite" or location.startswith(":"):
        return None
    return Path(location).parent


def size_limit_mb(engine: Engine) -> int | None:
    """The `[store] max_size_mb` the engine was made with, if any."""
    value = engine.get_execution_options().get(_MAX_SIZE_OPTION)
    return value if isinstance(value, int) else None


def describe_failure(engine: Engine, err: BaseException, doing: str) -> StoreError:
    """A StoreError that names the store, the cause and what to do about it, from a database/file error.

    Runs only when something failed. For SQLite it asks the file system what it says to a write, so a
    "disk I/O error" from a disk the kernel switched to read-only is reported as read-only, and a
    "database or disk is full" is told apart from reaching `[store] max_size_mb`.
    """
    location = store_location(engine)
    cause = failure_cause(err)
    detail = _driver_message(err)
    directory = _sqlite_directory(engine)
    probed = err if isinstance(err, OSError) else None
    if probed is None and cause in _WRITE_CAUSES and directory is not None and directory.is_dir():
        probed = _probe_directory(directory)
        if probed is not None and probed.errno in _ERRNO_CAUSES:
            cause = _ERRNO_CAUSES[probed.errno]
            detail = f"{detail}; the file system says: {probed.strerror}"
    # SQLite says "full" both for a full disk and for max_page_count; a disk that takes a write is the limit.
    limit = size_limit_mb(engine) if probed is None else None
    message = _failure_message(cause, location, detail, doing, err, limit_reached=limit)
    return StoreError(message, cause=cause, location=location)


def _failure_message(
    cause: StoreFailure,
    location: str,
    detail: str,
    doing: str,
    err: BaseException,
    *,
    limit_reached: int | None,
) -> str:
    if cause is StoreFailure.FULL and limit_reached is not None:
        return (
            f"the store at {location} is full: it reached [store] max_size_mb = {limit_reached} ({detail}); "
            "raise the limit in the site file and restart the edge"
        )
    if cause is StoreFailure.FULL:
        return (
            f"the store at {location} is full: no space left on the disk that holds it ({detail}); "
            "free space on that disk"
        )
    if cause is StoreFailure.READ_ONLY:
        return (
            f"the store at {location} is read-only ({detail}); make it writable again "
            "(remount its disk read-write, or give the edge's user write permission)"
        )
    if cause is StoreFailure.IO_ERROR:
        return (
            f"the store at {location} cannot be written: the disk reported an I/O error ({detail}); "
            "check the disk (the kernel log names the fault)"
        )
    if cause is StoreFailure.UNAVAILABLE:
        return f"the store at {location} cannot be opened or reached ({detail})"
    if cause is StoreFailure.UNSTORABLE:
        return f"the store at {location} refused a value while {doing}: {type(err).__name__}: {detail}"
    return f"the store at {location} failed while {doing}: {type(err).__name__}: {detail}"


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
    inbound_first: int | None = None  # the ring number of the first id, once the store has given them

    def add(self, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        batch_rows = list(rows)
        if batch_rows:
            self.upserts.setdefault(table.name, []).extend(batch_rows)

    @property
    def row_count(self) -> int:
        return sum(map(len, self.upserts.values())) + len(self.events) + len(self.inbound_ids)


@dataclass(frozen=True, kw_only=True, slots=True)
class WalCheckpoint:
    """What one checkpoint found: pages in the write-ahead log, and how many of them are now copied."""

    log_pages: int
    copied_pages: int

    @property
    def complete(self) -> bool:
        return self.copied_pages >= self.log_pages


@dataclass(frozen=True, kw_only=True, slots=True)
class Loaded:
    floor: Floor
    last_seq: int
    recent_inbound_ids: list[str]


def _configure_sqlite(engine: Engine, synchronous: str, max_size_mb: int | None) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed batch survives a power cut, so nothing shown on the floor can be taken back.
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        if max_size_mb is not None:
            # Per connection, not stored in the file. Past it SQLite answers SQLITE_FULL, exactly as for a
            # full disk, so the edge holds its work and says so instead of filling a disk it shares.
            page_size = int(cursor.execute("PRAGMA page_size").fetchone()[0])
            cursor.execute(f"PRAGMA max_page_count={max_size_mb * 1024 * 1024 // page_size}")
        cursor.close()


def make_engine(url: str, *, synchronous: str = "FULL", max_size_mb: int | None = None) -> Engine:
    """The store's engine. `max_size_mb` caps an SQLite database file (not its WAL, which checkpoints keep small)."""
    if synchronous.upper() not in {"FULL", "NORMAL", "EXTRA"}:
        raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")
    if max_size_mb is not None and max_size_mb < 1:
        raise ValueError(f"max_size_mb must be at least 1, not {max_size_mb}")
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        engine = create_engine(url, connect_args={"check_same_thread": False})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise describe_failure(engine, err, f"creating the folder {path.parent}") from err
        _configure_sqlite(engine, synchronous.upper(), max_size_mb)
        if max_size_mb is not None:
            engine.update_execution_options(**{_MAX_SIZE_OPTION: max_size_mb})
        return engine
    if max_size_mb is not None:
        raise ValueError("max_size_mb applies to an SQLite store only")
    try:
        return create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as err:
        raise StoreError(
            f"the store URL names a database whose driver is not installed (no module {err.name!r}); "
            'for PostgreSQL: pip install "floorgate[postgresql]" into the edge\'s environment',
            cause=StoreFailure.UNAVAILABLE,
        ) from err


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
        directory = _sqlite_directory(engine)
        self._database_file = None if directory is None else Path(store_location(engine))
        if engine.dialect.name not in {"sqlite", "postgresql"}:
            raise StoreError(f"unsupported database {engine.dialect.name!r}: use SQLite or PostgreSQL")
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._prepared: dict[str, _Prepared] = {}
        self._raw: Any = None
        self._inbound_next: int | None = None  # the ring's count of ids remembered, ever (read when needed)
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        # A commit's failures: the database's, and the driver's own while binding the batch's values.
        self._commit_errors: tuple[type[Exception], ...] = (
            SQLAlchemyError,
            self._dbapi_error,
            *BINDING_ERRORS,
        )
        # PostgreSQL: a commit's statements go to the server in one pipeline (see `_pipeline`).
        self._pipelined = engine.dialect.name == "postgresql"
        self.location = store_location(engine)
        """The SQLite file or the database URL without its password: what messages call the store."""

    def describe_failure(self, err: BaseException, doing: str) -> StoreError:
        return describe_failure(self.engine, err, doing)

    def _statement(self, table: Table) -> _Prepared:
        """The upsert for a state table, or the plain insert for the append-only ones."""
        prepared = self._prepared.get(table.name)
        if prepared is None:
            values: dict[str, Any] = {c.name: bindparam(c.name) for c in table.columns}
            if table.name == EVENTS.name:
                statement: Any = table.insert().values(values)
            else:
                keys = [c.name for c in table.primary_key.columns]
                insert = self._insert(table).values(values)
                updates = {c.name: insert.excluded[c.name] for c in table.columns if c.name not in keys}
                statement = insert.on_conflict_do_update(index_elements=keys, set_=updates)
            prepared = self._prepared[table.name] = _prepare(self.engine, statement, table)
        return prepared

    def create_schema(self) -> None:
        try:
            SQLModel.metadata.create_all(self.engine)
            self._add_missing_columns()
            # create_all makes a missing table with its indexes, not an index added to a table since.
            for table in SQLModel.metadata.sorted_tables:
                for index in table.indexes:
                    index.create(self.engine, checkfirst=True)
            self._move_legacy_inbound_ids()
        except (SQLAlchemyError, self._dbapi_error) as err:
            raise self.describe_failure(err, "creating its tables") from err

    def check_folder(self) -> None:
        """Raise a StoreError when the SQLite file's folder refuses a small write or has too little room.

        Runs before the file is opened, so a read-only or full disk is named as such rather than as
        whatever SQLite makes of it ("unable to open database file").
        """
        directory = _sqlite_directory(self.engine)
        if directory is None or not directory.is_dir():
            return
        probed = _probe_directory(directory)
        if probed is not None:
            raise self.describe_failure(probed, "writing a probe file next to it")
        free = _free_bytes(directory)
        if free is not None and free < STARTUP_HEADROOM_BYTES:
            raise StoreError(
                f"the store at {self.location} is full: only {free // 1024} kB free on the disk that holds "
                f"it, and the edge needs at least {STARTUP_HEADROOM_BYTES // 1024} kB to start; free space there",
                cause=StoreFailure.FULL,
                location=self.location,
            )

    def check_writable(self) -> None:
        """Raise a StoreError naming the cause when the store cannot take writes now, so start-up fails fast.

        A read-only disk, a full one, or a database at its `[store] max_size_mb` would otherwise let the
        edge start, take work, and hold it moments later. The checks are the folder's answer to a small
        write, the room left (disk and limit), and one real write transaction. Needs the schema.
        """
        self.check_folder()
        self._check_size_limit()
        self._write_probe()

    def _check_size_limit(self) -> None:
        limit = size_limit_mb(self.engine)
        if limit is None:
            return
        try:
            with self.engine.connect() as conn:
                page_size, pages, free_pages, max_pages = (
                    int(conn.exec_driver_sql(f"PRAGMA {name}").scalar_one())
                    for name in ("page_size", "page_count", "freelist_count", "max_page_count")
                )
        except (SQLAlchemyError, self._dbapi_error) as err:
            raise self.describe_failure(err, "reading its size") from err
        room = (max_pages - pages + free_pages) * page_size
        if room < STARTUP_HEADROOM_BYTES:
            used_mb = (pages - free_pages) * page_size / (1024 * 1024)
            raise StoreError(
                f"the store at {self.location} is full: it holds {used_mb:.1f} MB and [store] max_size_mb is "
                f"{limit}, less than {STARTUP_HEADROOM_BYTES // 1024} kB below the limit; raise the limit in "
                "the site file",
                cause=StoreFailure.FULL,
                location=self.location,
            )

    def _write_probe(self) -> None:
        """One real write transaction that changes nothing: what the database itself says to a write."""
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(INBOUND).where(INBOUND.c.slot == -1))
                if self.engine.dialect.name == "sqlite":
                    # A DELETE that matches nothing writes nothing; rewriting the header's user_version
                    # makes SQLite append a frame to its WAL, through the same path a commit takes.
                    version = int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())
                    conn.exec_driver_sql(f"PRAGMA user_version={version}")
        except (SQLAlchemyError, self._dbapi_error) as err:
            raise self.describe_failure(err, "writing a probe transaction") from err

    def _add_missing_columns(self) -> None:
        """Bring a database made by an older release up to date: create_all makes missing tables only."""
        with self.engine.begin() as conn:
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

    def _move_legacy_inbound_ids(self) -> None:
        """Earlier releases kept every applied id for ever, in a table with two indexes (three WAL pages
        a press, and a store that only grew): its most recent ids move to the ring, and it is dropped."""
        with self.engine.begin() as conn:
            if not inspect(conn).has_table(LEGACY_INBOUND):
                return
            if conn.execute(select(func.count()).select_from(INBOUND)).scalar():
                raise StoreError(
                    f"the store at {self.location} has applied message ids in both {LEGACY_INBOUND} (from an "
                    f"earlier release) and {INBOUND.name}; it was changed by hand or by two releases at once",
                    cause=StoreFailure.OTHER,
                    location=self.location,
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
                .limit(self.remember_inbound)
            ).all()
            recent = [(str(i), float(t)) for i, t in reversed(newest_first)]
            size = self.remember_inbound
            if recent:
                conn.execute(
                    INBOUND.insert(),
                    [
                        {"slot": n % size, "seq": n, "id": i, "received_at": t}
                        for n, (i, t) in enumerate(recent)
                    ],
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
        try:
            if batch.inbound_ids:
                work.append((INBOUND, self._inbound_rows(batch)))
            # The writer's own DB-API connection, kept open: the commit is the hot path, and going
            # through SQLAlchemy's Connection for each batch cost more than the SQL itself.
            raw = self._write_connection()
            cursor = raw.cursor()
            try:
                with self._pipeline(raw):
                    for table, rows in work:
                        prepared = self._statement(table)
                        cursor.executemany(prepared.sql, prepared.params(rows))
                raw.commit()
            except BaseException:
                # The cursor first: closing it after its connection raised "Cannot operate on a closed
                # database", which replaced the real error (a full disk was reported as a ProgrammingError).
                with contextlib.suppress(Exception):
                    cursor.close()
                self._drop_write_connection(rollback=True)
                raise
            cursor.close()
        except self._commit_errors as err:
            raise self.describe_failure(err, f"committing a batch of {len(batch.events)} events") from err

    def _inbound_rows(self, batch: Batch) -> list[dict[str, Any]]:
        """The batch's ids as ring rows. Their numbers are fixed at the first attempt, so a batch held
        while the store fails lands in the same slots when it is committed at last (or found there)."""
        if batch.inbound_first is None:
            if self._inbound_next is None:
                cursor = self._write_connection().cursor()
                try:
                    latest = cursor.execute("SELECT max(seq) FROM inbound_ids").fetchone()[0]
                finally:
                    cursor.close()
                self._inbound_next = 0 if latest is None else int(latest) + 1
            batch.inbound_first = self._inbound_next
            self._inbound_next += len(batch.inbound_ids)
        first, size = batch.inbound_first, self.remember_inbound
        return [
            {"slot": (first + n) % size, "seq": first + n, "id": i, "received_at": t}
            for n, (i, t) in enumerate(batch.inbound_ids)
        ]

    def holds(self, batch: Batch) -> bool:
        """Whether this batch is in the store already: a commit reported as failed may still have reached
        the disk (an I/O error after the data was written), and committing it again would apply it twice."""
        if batch.events:
            first = batch.events[0]
            query: Any = select(EVENTS.c.id).where(EVENTS.c.seq == first.seq)
            expected = first.id
        elif batch.inbound_ids and batch.inbound_first is not None:
            expected = batch.inbound_ids[0][0]
            number = batch.inbound_first
            query = select(INBOUND.c.id).where(
                INBOUND.c.slot == number % self.remember_inbound, INBOUND.c.seq == number
            )
        else:
            return False  # only upserts: writing them again is harmless
        try:
            with self.engine.connect() as conn:
                return bool(conn.execute(query).scalar() == expected)
        except (SQLAlchemyError, self._dbapi_error) as err:
            raise self.describe_failure(err, "checking whether a batch was committed") from err

    def _pipeline(self, raw: Any) -> contextlib.AbstractContextManager[Any]:
        """PostgreSQL: the batch's statements sent together, one round trip to the server instead of one
        each (psycopg's pipeline mode). SQLite runs in the process: nothing to save."""
        if self._pipelined:
            return cast(contextlib.AbstractContextManager[Any], raw.driver_connection.pipeline())
        return contextlib.nullcontext()

    def _write_connection(self) -> Any:
        if self._raw is None:
            raw = self.engine.raw_connection()
            if self.engine.dialect.name == "sqlite":
                # No checkpoint inside a commit: one every thousand pages added 10-50 ms (a write and an
                # fsync of the database file) to the press that happened to trigger it. The writer has
                # `checkpoint()` run in a worker thread beside its commits instead.
                cursor = raw.cursor()
                cursor.execute("PRAGMA wal_autocheckpoint=0")
                cursor.close()
            self._raw = raw
        return self._raw

    def checkpoint(self, *, flush: bool = False) -> WalCheckpoint:
        """Copy committed WAL pages into the database file without waiting for readers or the writer.

        Safe beside a commit (it copies what was committed when it started); SQLite starts the log afresh
        only at the first commit after a checkpoint that copied everything, which is the writer's business
        (see `Writer`). Reports nothing for stores that are not SQLite.

        SQLite syncs the database file only when no commit overtook the checkpoint; otherwise what it
        copied stays in the page cache, and the next checkpoint's sync writes it all. With `flush` this
        one syncs the file itself, so that the next (the one the writer waits for) writes only its own
        pages: on the bench's disk that sync fell from 7-11 ms to 0.4-2.4 ms. The flush only saves time
        (SQLite's own sync still guards the data), so a failure of it is logged, not raised.
        """
        if self.engine.dialect.name != "sqlite":
            return WalCheckpoint(log_pages=0, copied_pages=0)
        try:
            with self.engine.connect() as conn:
                row = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        except (SQLAlchemyError, self._dbapi_error) as err:
            raise self.describe_failure(err, "checkpointing the write-ahead log") from err
        if flush and self._database_file is not None:
            try:
                _sync_file(self._database_file)
            except OSError as err:
                log.warning(
                    "could not sync the database file after a checkpoint; the next checkpoint will",
                    extra={"store": self.location, "error": str(err)},
                )
        return WalCheckpoint(log_pages=max(0, int(row[1])), copied_pages=max(0, int(row[2])))

    def _drop_write_connection(self, *, rollback: bool) -> None:
        raw, self._raw = self._raw, None
        if raw is None:
            return
        with contextlib.suppress(Exception):  # the connection may be what failed; it is dropped either way
            if rollback:
                raw.rollback()
            raw.invalidate()

    # -- reading -----------------------------------------------------------------------------------

    def load(self, *, retire_before: float | None = None) -> Loaded:
        """Read the live state back (on start-up) and rebuild the floor from it.

        Orders that finished before `retire_before` (wall clock) are left in the store: the floor does
        not need them, and `order()` reads one when asked.
        """
        try:
            return self._load(retire_before)
        except (SQLAlchemyError, self._dbapi_error) as err:
            raise self.describe_failure(err, "reading the floor back") from err

    def retired_order(self, order_id: str) -> RetiredOrder | None:
        """The order with this id as the store holds it, when the floor does not: the writer asks on its
        own connection (a statement prepared once), since it asks on its loop for each new order id."""
        prepared = self._prepared.get("retired_order")
        if prepared is None:
            query = select(ORDERS.c.status, ORDERS.c.fingerprint).where(
                ORDERS.c.order_id == bindparam("order_id")
            )
            prepared = self._prepared["retired_order"] = _prepare(self.engine, query, ORDERS)
        try:
            cursor = self._write_connection().cursor()
            try:
                cursor.execute(prepared.sql, prepared.params([{"order_id": order_id}])[0])
                row = cursor.fetchone()
            finally:
                cursor.close()
        except (SQLAlchemyError, self._dbapi_error) as err:
            self._drop_write_connection(rollback=False)
            raise self.describe_failure(err, f"looking up order {order_id!r}") from err
        if row is None:
            return None
        return RetiredOrder(order_id=order_id, status=OrderStatus(row[0]), fingerprint=row[1])

    def order(self, order_id: str) -> Order | None:
        """One order as the store holds it: how the API finds an order the floor has retired."""
        try:
            with self.engine.connect() as conn:
                found = self._read_orders(conn, ORDERS.c.order_id == order_id)
        except (SQLAlchemyError, self._dbapi_error) as err:
            raise self.describe_failure(err, f"reading order {order_id!r}") from err
        return found[0] if found else None

    def _load(self, retire_before: float | None) -> Loaded:
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
            stations = [
                Station(id=r.id, kind=r.kind, zone=r.zone, operator=r.operator)
                for r in conn.execute(select(STATIONS))
            ]
            # Orders retired before `retire_before` stay in the store, not in memory.
            orders = self._read_orders(
                conn,
                _kept_orders(retire_before, packing=packs(stations)),
            )
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
            ring = sorted(
                ((s, i) for s, i in conn.execute(select(INBOUND.c.seq, INBOUND.c.id))), reverse=True
            )
            # Slots past a ring made smaller since are left behind: their ids are the oldest.
            recent = [i for _, i in ring[: self.remember_inbound]]
            self._inbound_next = ring[0][0] + 1 if ring else 0
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

    def _read_orders(self, conn: Connection, where: Any) -> list[Order]:
        """The orders matching `where` (all of them for None), with their lines and item scans."""
        held = None if where is None else select(ORDERS.c.order_id).where(where)
        lines_by_order: dict[str, dict[str, OrderLine]] = {}
        rows, at = self._fast_rows(
            conn,
            LINES,
            order_by=(LINES.c.order_id, LINES.c.position),
            where=None if held is None else LINES.c.order_id.in_(held),
        )
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
        scans = (
            select(LINE_SCANS) if held is None else select(LINE_SCANS).where(LINE_SCANS.c.order_id.in_(held))
        )
        for r in conn.execute(scans):
            scanned = lines_by_order.get(r.order_id, {}).get(r.line_id)
            if scanned is not None:
                scanned.scan = ItemScan(
                    gtin=r.gtin, lot=r.lot, serial=r.serial, expiry=r.expiry, station=r.station
                )
        rows, at = self._fast_rows(conn, ORDERS, where=where)
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
        self, conn: Connection, table: Table, *, order_by: Sequence[Any] = (), where: Any = None
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
        compiled = query.compile(dialect=self.engine.dialect, compile_kwargs={"render_postcompile": True})
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

    def events_after(
        self, after: int, limit: int, *, types: Sequence[str] | None = None
    ) -> list[EventRecord]:
        query = select(EVENTS).where(EVENTS.c.seq > after).order_by(EVENTS.c.seq).limit(limit)
        if types:
            query = query.where(EVENTS.c.type.in_(list(types)))
        try:
            return self._records(query)
        except (SQLAlchemyError, self._dbapi_error) as err:
            raise self.describe_failure(err, "reading the event log") from err

    def _records(self, query: Any) -> list[EventRecord]:
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

    def first_seq(self) -> int:
        """The oldest event the log still holds (older ones left it by retention); 0 for an empty log."""
        return self._seq_bound(func.min(EVENTS.c.seq), "reading the first event")

    def last_seq(self) -> int:
        return self._seq_bound(func.max(EVENTS.c.seq), "reading the last event")

    def _seq_bound(self, bound: Any, what: str) -> int:
        try:
            with self.engine.connect() as conn:
                return int(conn.execute(select(bound)).scalar() or 0)
        except (SQLAlchemyError, self._dbapi_error) as err:
            raise self.describe_failure(err, what) from err


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
