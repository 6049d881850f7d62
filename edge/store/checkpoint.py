"""SQLite's write-ahead log checkpoints: copying committed pages of the log into the database file."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from floorgate.edge.store.errors import describe_failure, store_location

log = logging.getLogger(__name__)

# How long a RESTART checkpoint waits for readers to leave the log (the edge's reads take milliseconds);
# past it the writer goes on and tries again after its next batch.
RESTART_BUSY_MS = 1000
_BUSY_TIMEOUT_MS = 5000  # the engine's own (see `engine._configure_sqlite`)


class CheckpointMode(StrEnum):
    PASSIVE = "PASSIVE"  # copy what it can, wait for nobody
    RESTART = "RESTART"  # copy all, wait for readers to leave the log: the next commit starts it afresh
    TRUNCATE = "TRUNCATE"  # as RESTART, and the log's file cut to nothing


@dataclass(frozen=True, kw_only=True, slots=True)
class WalCheckpoint:
    """What one checkpoint found: pages in the write-ahead log, and how many of them are now copied."""

    log_pages: int
    copied_pages: int
    busy: bool = False  # it could not finish: a reader or another checkpoint was in the way

    @property
    def complete(self) -> bool:
        return not self.busy and self.copied_pages >= self.log_pages


def _sync_file(path: Path) -> None:
    """Write the file's dirty pages to the disk (any descriptor of a file syncs all of its pages)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def run_checkpoint(
    engine: Engine, mode: CheckpointMode = CheckpointMode.PASSIVE, *, flush: Path | None = None
) -> WalCheckpoint:
    """Checkpoint an SQLite store's log on a connection of the engine's pool; `flush` syncs that database
    file afterwards (see `Store.checkpoint`)."""
    dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
    try:
        with engine.connect() as conn:
            if mode is CheckpointMode.PASSIVE:
                row = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            else:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={RESTART_BUSY_MS}")
                try:
                    row = conn.exec_driver_sql(f"PRAGMA wal_checkpoint({mode.value})").one()
                finally:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    except (SQLAlchemyError, dbapi_error) as err:
        raise describe_failure(engine, err, "checkpointing the write-ahead log") from err
    if flush is not None:
        try:
            _sync_file(flush)
        except OSError as err:
            # The flush only saves time (SQLite's own sync still guards the data).
            log.warning(
                "could not sync the database file after a checkpoint; the next checkpoint will",
                extra={"store": store_location(engine), "error": str(err)},
            )
    return WalCheckpoint(log_pages=max(0, int(row[1])), copied_pages=max(0, int(row[2])), busy=bool(row[0]))
