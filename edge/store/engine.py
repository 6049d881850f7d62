"""The store's engine: SQLite (WAL, its pragmas, its size budget) or PostgreSQL, from the store URL.

The pragmas below are the only SQLite-specific setup; the rest of the store is portable SQLAlchemy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

from floorgate.edge.store.checkpoint import wal_limit_bytes
from floorgate.edge.store.errors import MAX_SIZE_OPTION, StoreError, StoreFailure, describe_failure


def _configure_sqlite(engine: Engine, synchronous: str, max_size_mb: int | None) -> None:
    wal_limit = wal_limit_bytes(max_size_mb)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed batch survives a power cut, so nothing shown on the floor can be taken back.
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        # When the log starts afresh, SQLite cuts its file back to the limit at the next commit, and no
        # further: the next log is written over the old one's blocks rather than growing the file again,
        # which costs each commit that extends it a sync of the file's size (checkpoint.py).
        cursor.execute(f"PRAGMA journal_size_limit={wal_limit}")
        if max_size_mb is not None:
            # Per connection, not stored in the file. Past it SQLite answers SQLITE_FULL, exactly as for a
            # full disk, so the edge holds its work and says so instead of filling a disk it shares. The
            # write-ahead log's bound comes out of the same budget.
            page_size = int(cursor.execute("PRAGMA page_size").fetchone()[0])
            cursor.execute(f"PRAGMA max_page_count={(max_size_mb * 1024 * 1024 - wal_limit) // page_size}")
        cursor.close()


def make_engine(url: str, *, synchronous: str = "FULL", max_size_mb: int | None = None) -> Engine:
    """The store's engine. `max_size_mb` caps an SQLite store: its database file and its write-ahead log."""
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
            engine.update_execution_options(**{MAX_SIZE_OPTION: max_size_mb})
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
