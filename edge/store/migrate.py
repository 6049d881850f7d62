"""The store's schema version: read in one query when a store opens, upgraded with Alembic when older,
refused when newer than this code. An SQLite store is backed up beside itself before each upgrade.

Alembic records the revision a store is at in its table `alembic_version`. A store at head (every start
but the first after an upgrade of FloorGate) costs one listing of the revisions' folder and one query:
Alembic itself is imported only when there is something to upgrade or to refuse. A store from before
schema versions has no version table: the baseline revision recognises its shape and brings it up to
date (see `migrations/versions/r0001_baseline.py`). Developers add revisions as docs/migrations.md says.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    inspect,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from floorgate import __version__
from floorgate.edge.store.backup import FLOORGATE_TABLES, BackupError, backup_store, sqlite_file
from floorgate.edge.store.errors import StoreError, StoreFailure, describe_failure, store_location
from floorgate.edge.store.migrations import SCRIPTS, UpgradeRefused, head_revision

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

VERSION_TABLE = "alembic_version"
READ_VERSION = text("SELECT version_num FROM alembic_version")
# Alembic's own version table, as `alembic upgrade` makes it (alembic/runtime/migration.py).
VERSIONS = Table(
    VERSION_TABLE,
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
)
UNVERSIONED = "unversioned"
"""What the backup's name and the messages call the revision of a store from before schema versions."""


class StoreTooNew(StoreError):
    """The store was upgraded by a later release: this one does not know its schema and will not touch it."""

    def __init__(self, location: str, stored: tuple[str, ...], head: str, *, database: Path | None) -> None:
        back = (
            "stop the edge and restore the copy that upgrade left beside the store "
            f"({database.name}.before-upgrade-from-{head}-<time>) with `floorgate restore`"
            if database is not None
            else "stop the edge and restore the dump taken before that upgrade with pg_restore"
        )
        super().__init__(
            f"the store at {location} has schema revision {'+'.join(stored)}, newer than this FloorGate "
            f"({__version__}) knows: its newest is {head}. A later release upgraded that store; run that "
            f"release (or a newer one) on it, or, to go back to this release, {back}; see "
            "docs/operations.md",
            cause=StoreFailure.OTHER,
            location=location,
        )
        self.stored = stored
        self.head = head


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where a store's schema stands against this code's revisions."""

    location: str
    head: str
    stored: tuple[str, ...]
    """The revisions the version table records; empty when there is none (or none recorded)."""
    existing: bool
    """The store holds FloorGate's tables or a version table: not an empty database."""
    database: Path | None
    """The SQLite file; None for PostgreSQL."""

    @property
    def at_head(self) -> bool:
        return self.stored == (self.head,)

    @property
    def revision(self) -> str:
        return "+".join(self.stored) or UNVERSIONED

    def describe(self) -> str:
        """What the next start does to this store's schema, in a sentence."""
        if self.at_head:
            return f"schema at revision {self.head}, this release's newest"
        if not self.existing:
            return f"no tables yet: the next start creates them at revision {self.head}"
        return f"schema at revision {self.revision}: the next start upgrades it to {self.head}" + (
            ", after a copy beside it" if self.database is not None else ""
        )


def stored_revisions(engine: Engine) -> tuple[str, ...] | None:
    """The revisions the store records, in one query; None when that query fails (no version table yet,
    or a store that cannot be read: the full check that follows says which)."""
    try:
        with engine.connect() as conn:
            return _recorded(conn)
    except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error):
        return None


def upgrade_schema(engine: Engine, *, remember_inbound: int, through_revisions: bool = False) -> None:
    """Bring the store to this code's head: create an empty one, upgrade an older one (an SQLite store is
    copied first), refuse a newer one (StoreTooNew). A store at head costs one query.

    An empty SQLite file gets the tables as tables.py declares them and the head recorded, without
    loading Alembic (a tenth of a second of the first start): the same schema the revisions make, which
    tests/integration/test_store_schema_upgrade.py checks table by table. `through_revisions` runs the
    revisions even then (the revision tool compares what they make with tables.py)."""
    if stored_revisions(engine) == (head_revision(),):
        return
    dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
    try:
        if not through_revisions and engine.dialect.name == "sqlite" and _create_at_head(engine):
            return
        _upgrade(engine, remember_inbound)
    except (SQLAlchemyError, dbapi_error) as err:
        raise describe_failure(engine, err, "upgrading its schema") from err


def schema_state(engine: Engine) -> SchemaState:
    """Where the store's schema stands (for `floorgate check-config`); StoreTooNew for a newer store."""
    head = head_revision()
    location = store_location(engine)
    stored = stored_revisions(engine)
    if stored == (head,):
        return SchemaState(
            location=location, head=head, stored=stored, existing=True, database=_database(engine)
        )
    dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
    try:
        with engine.connect() as conn:
            state = _read_state(conn, engine)
    except (SQLAlchemyError, dbapi_error) as err:
        raise describe_failure(engine, err, "reading its schema revision") from err
    _refuse_unknown(state, _config())
    return state


def _create_at_head(engine: Engine) -> bool:
    """An empty store's tables made in one transaction, at head; False (and nothing done) when the store
    holds any table at all (a store from before schema versions may hold only some of ours, or tables
    that later releases moved: the baseline revision knows those shapes)."""
    with engine.begin() as conn:
        if inspect(conn).get_table_names():
            return False
        state = _read_state(conn, engine)
        log.info("creating the store's tables", extra={"store": state.location, "revision": state.head})
        started = time.monotonic()
        SQLModel.metadata.create_all(conn)
        VERSIONS.create(conn)
        conn.execute(VERSIONS.insert().values(version_num=state.head))
    log.info(
        "store schema at revision %s",
        state.head,
        extra={"store": state.location, "seconds": round(time.monotonic() - started, 3)},
    )
    return True


def _database(engine: Engine) -> Path | None:
    return sqlite_file(engine.url.render_as_string(hide_password=False))


def _read_state(conn: Connection, engine: Engine) -> SchemaState:
    inspector = inspect(conn)
    versioned = inspector.has_table(VERSION_TABLE)
    stored = _recorded(conn) if versioned else ()
    ours = FLOORGATE_TABLES & set(inspector.get_table_names())
    return SchemaState(
        location=store_location(engine),
        head=head_revision(),
        stored=stored,
        existing=versioned or bool(ours),
        database=_database(engine),
    )


def _recorded(conn: Connection) -> tuple[str, ...]:
    return tuple(str(revision) for revision in conn.execute(READ_VERSION).scalars())


def _config() -> Config:
    """Alembic's configuration, made here: no alembic.ini is shipped or read."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return config


def _refuse_unknown(state: SchemaState, config: Config) -> None:
    from alembic.script import ScriptDirectory

    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    if any(revision not in known for revision in state.stored):
        raise StoreTooNew(state.location, state.stored, state.head, database=state.database)


def _upgrade(engine: Engine, remember_inbound: int) -> None:
    from alembic import command

    with engine.connect() as conn:
        state = _read_state(conn, engine)
    config = _config()
    _refuse_unknown(state, config)
    if state.at_head:  # upgraded by another process since the first look
        return
    if state.existing:
        backup = None if state.database is None else _backup_before_upgrade(state.database, state.revision)
        log.info(
            "upgrading the store's schema",
            extra={
                "store": state.location,
                "from": state.revision,
                "to": state.head,
                "backup": None if backup is None else str(backup),
            },
        )
    else:
        log.info("creating the store's tables", extra={"store": state.location, "revision": state.head})
    config.attributes["remember_inbound"] = remember_inbound
    started = time.monotonic()
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except UpgradeRefused as err:
        raise StoreError(
            f"the store at {state.location} cannot be upgraded from revision {state.revision}: {err}",
            cause=StoreFailure.OTHER,
            location=state.location,
        ) from err
    log.info(
        "store schema at revision %s",
        state.head,
        extra={"store": state.location, "seconds": round(time.monotonic() - started, 3)},
    )


def backup_name(database: Path, revision: str) -> Path:
    """Where the copy made before upgrading `database` from `revision` goes: beside it, named for both."""
    return database.with_name(
        f"{database.name}.before-upgrade-from-{revision}-{time.strftime('%Y%m%dT%H%M%S')}"
    )


def _backup_before_upgrade(database: Path, revision: str) -> Path:
    """Copy an SQLite store beside itself before its upgrade. (A PostgreSQL store is dumped by its owner
    before installing a release, docs/operations.md, and upgraded in one transaction.)"""
    dest = backup_name(database, revision)
    try:
        report = backup_store(database, dest)
    except BackupError as err:
        raise StoreError(
            f"the store at {database} was not upgraded from revision {revision}: the copy made before an "
            f"upgrade failed ({err}); make room beside it (the copy is about as large as the store), then "
            "start again",
            cause=StoreFailure.OTHER,
            location=str(database),
        ) from err
    log.info(
        "store copied before its upgrade",
        extra={"backup": str(dest), "revision": revision, "bytes": report.bytes},
    )
    return dest
