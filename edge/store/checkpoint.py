"""The write-ahead log's checkpoint policy: when SQLite copies the log into the database file and starts it
afresh, so that the log stays within a bound however long and however hard the floor runs.

SQLite appends every commit to the log and starts the log afresh only at the first commit after a
checkpoint that copied all of it, with no reader still reading from it. A PASSIVE checkpoint never waits:
beside a writer that keeps committing it never copies the whole log, so under steady load the log only
grows (it reached 73 MB on a busy floor, and a disk it filled stayed full). So the policy has a bound:

- The writer's commits never checkpoint (`wal_autocheckpoint=0` on its connection): SQLite would do it
  inside whichever commit took the log past a thousand pages, and that press waited for it.
- A round starts every CHECKPOINT_SECONDS, or sooner once CHECKPOINT_ROWS rows were committed since the
  last: a PASSIVE checkpoint in a worker thread, beside the commits, copies the bulk; at the next quiet
  moment (or after CHECKPOINT_FORCE_SECONDS without one) a second one, waited for, copies the few pages
  the commits added meanwhile. No press waits for the bulk.
- Once the log passes half the limit (its length read from the wal-index after each commit, see
  wal_index.py), a round starts at once: at a steady rate the bulk is copied beside the commits and the
  small one at the next quiet moment starts the log afresh long before the limit, and no press waits for
  the limit's checkpoint below.
- Whatever the load: once the log passes the limit (`wal_limit_bytes`, 64 MB), the writer waits, between
  two batches, for a RESTART checkpoint. It copies what is left, waits (briefly) for readers to leave the
  log, and the next commit writes the log from its start; `journal_size_limit` (the limit) then cuts the
  file back to the limit. The log therefore never holds more than the limit plus one batch, and its file
  never grows past that either.
- The file is not cut back further: the next log is written over the old one's blocks. A commit that
  extends the file must sync its new size too, which cost 60-100 µs of system time a commit (and more
  wall time) when the file was cut back to half and grown again on every round.
- A commit that fails for want of room is tried once more after the same checkpoint, and while commits
  fail it runs between attempts: once it can copy the log, the batch is written over the log's own file
  instead of growing it, and the edge goes on (or recovers) on a disk that has no room left.

PostgreSQL has no such log to keep: its policy does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from floorgate.edge.store.errors import StoreError, StoreFailure, describe_failure, store_location

log = logging.getLogger(__name__)

# The log's file is started afresh once it passes this; a store with `[store] max_size_mb` gives its log a
# quarter of the budget at most. Each round ends with a small checkpoint the writer waits for, and a press
# that arrives meanwhile waits too: at 500 presses a second, each its own commit of about 37 kB of log,
# a 4 MB limit started a round (at half of it) nine times a second; at 64 MB the rounds come from
# CHECKPOINT_SECONDS, as at lower rates, and the limit stays a bound that steady load never reaches.
WAL_LIMIT_BYTES = 64 * 1024 * 1024
CHECKPOINT_SECONDS = 2.0
CHECKPOINT_ROWS = 10_000
CHECKPOINT_FORCE_SECONDS = 2.0
CHECKPOINT_POLL_SECONDS = 0.02
# How long a RESTART checkpoint waits for readers to leave the log (the edge's reads take milliseconds);
# past it the writer goes on and tries again after its next batch.
RESTART_BUSY_MS = 1000
_BUSY_TIMEOUT_MS = 5000  # the engine's own (see `engine._configure_sqlite`)


def wal_limit_bytes(max_size_mb: int | None) -> int:
    """The size past which the write-ahead log is started afresh, for a store of this size budget."""
    if max_size_mb is None:
        return WAL_LIMIT_BYTES
    return min(WAL_LIMIT_BYTES, max_size_mb * 1024 * 1024 // 4)


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


def file_bytes(path: Path) -> int:
    """A file's size; 0 when there is none (SQLite removes the log when its last connection closes)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def run_checkpoint(
    engine: Engine,
    mode: CheckpointMode = CheckpointMode.PASSIVE,
    *,
    flush: Callable[[], None] | None = None,
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
            flush()
        except OSError as err:
            # The flush only saves time (SQLite's own sync still guards the data).
            log.warning(
                "could not sync the database file after a checkpoint; the next checkpoint will",
                extra={"store": store_location(engine), "error": str(err)},
            )
    return WalCheckpoint(log_pages=max(0, int(row[1])), copied_pages=max(0, int(row[2])), busy=bool(row[0]))


class CheckpointPolicy(Protocol):
    """What the writer asks of its store's log between batches (see the module's docstring)."""

    @property
    def log_pages(self) -> int:
        """The log's size at the last checkpoint, in pages."""

    def wait(self) -> float | None:
        """How long the writer may wait for work before the log needs it (None: for ever)."""

    async def tend(self, *, idle: bool) -> None:
        """Between two batches: collect a checkpoint that finished, take the next step when it is due."""

    def committed(self, rows: int) -> None:
        """A batch of `rows` rows was committed."""

    async def relieve(self, failure: StoreError) -> bool:
        """After a commit failed: free what the log holds, if that can help; whether a retry may succeed."""


class NoCheckpoints:
    """A store without a write-ahead log to keep (PostgreSQL checkpoints on its own)."""

    log_pages = 0

    def wait(self) -> float | None:
        return None

    async def tend(self, *, idle: bool) -> None:
        return None

    def committed(self, rows: int) -> None:
        return None

    async def relieve(self, failure: StoreError) -> bool:
        return False


class WalCheckpoints:
    """The SQLite policy, for one writer: rounds beside the commits, and the limit (module docstring)."""

    def __init__(
        self,
        checkpoint: Callable[[CheckpointMode, bool], WalCheckpoint],
        wal: Path,
        limit: int,
        log_bytes: Callable[[], int | None] = lambda: None,
    ) -> None:
        self._checkpoint = checkpoint
        self._wal = wal
        self._log_bytes = log_bytes
        self.limit = limit
        self.log_pages = 0
        self._batches = 0
        # The batch count when the log was last copied in full, and when that was; the checkpoint running
        # in a worker thread (and the batch count when it started); since when the small one is owed.
        self._clean_batches = 0
        self._clean_at = time.monotonic()
        self._rows_since_clean = 0
        self._running: asyncio.Future[WalCheckpoint] | None = None
        self._running_from = 0
        self._finish_owed_since: float | None = None
        self._over_limit = False
        self._past_half = False
        self._restart_refused = False  # the last restart at the limit could not finish (said once)

    def committed(self, rows: int) -> None:
        self._batches += 1
        self._rows_since_clean += rows
        # The log's own length from the wal-index; its file's size (which bounds it) when that is unreadable.
        size = self._log_bytes()
        if size is None:
            size = file_bytes(self._wal)
        self._over_limit = self._over_limit or size > self.limit
        self._past_half = size > self.limit // 2

    def _owed(self) -> bool:
        return self._batches != self._clean_batches

    def wait(self) -> float | None:
        if not self._owed():
            return None
        if self._over_limit or self._finish_owed_since is not None:
            return 0.0
        if self._running is not None:
            return CHECKPOINT_POLL_SECONDS
        if self._rows_since_clean >= CHECKPOINT_ROWS or self._past_half:
            return 0.0
        return max(0.0, self._clean_at + CHECKPOINT_SECONDS - time.monotonic())

    async def tend(self, *, idle: bool) -> None:
        if self._running is not None:
            if not self._running.done() and not self._over_limit:
                return
            await self._collect()
        if not self._owed():
            return
        if self._over_limit:
            await self._restart()
            return
        now = time.monotonic()
        if self._finish_owed_since is not None:
            if idle or now - self._finish_owed_since >= CHECKPOINT_FORCE_SECONDS:
                from_batches = self._batches
                waited = await self._in_thread(CheckpointMode.PASSIVE)
                self._finish_owed_since = None
                if not self._noted(waited, from_batches):
                    # Still not all of it (a reader held old pages): the next round, in CHECKPOINT_SECONDS.
                    self._clean_at = time.monotonic()
        elif (
            now >= self._clean_at + CHECKPOINT_SECONDS
            or self._rows_since_clean >= CHECKPOINT_ROWS
            or self._past_half
        ):
            self._rows_since_clean = 0
            self._running_from = self._batches
            self._running = asyncio.get_running_loop().run_in_executor(
                None, self._checkpoint, CheckpointMode.PASSIVE, True
            )

    async def relieve(self, failure: StoreError) -> bool:
        if failure.cause is not StoreFailure.FULL:
            return False
        if self._running is not None:
            await self._collect()
        result = await self._in_thread(CheckpointMode.RESTART)
        self._noted(result, self._batches)
        if isinstance(result, WalCheckpoint) and result.complete:
            # The disk may have no room for the log to grow, but the log's own file is free again.
            log.info(
                "the store is full; the write-ahead log was copied so the next commit can reuse its file"
            )
            return True
        return False

    async def _collect(self) -> None:
        """The checkpoint beside the commits, once it is done (waited for: two cannot run at once)."""
        running, self._running = self._running, None
        if running is None:
            return
        await asyncio.wait([running])
        result: WalCheckpoint | BaseException = running.exception() or running.result()
        self._finish_owed_since = None if self._noted(result, self._running_from) else time.monotonic()

    async def _restart(self) -> None:
        from_batches = self._batches
        result = await self._in_thread(CheckpointMode.RESTART)
        self._over_limit = False  # measured again after the next commit
        self._finish_owed_since = None
        if self._noted(result, from_batches):
            self._rows_since_clean = 0
            self._restart_refused = False
        elif not self._restart_refused:
            self._restart_refused = True
            log.warning(
                "the write-ahead log is past its limit and a reader (or another connection's checkpoint) "
                "kept it from starting afresh; trying again after each batch",
                extra={"log_pages": self.log_pages, "limit_bytes": self.limit},
            )

    async def _in_thread(self, mode: CheckpointMode) -> WalCheckpoint | BaseException:
        try:
            return await asyncio.to_thread(self._checkpoint, mode, False)
        except Exception as err:  # noqa: BLE001 - reported by _noted, as from the thread beside the commits
            return err

    def _noted(self, result: WalCheckpoint | BaseException, from_batches: int) -> bool:
        """Note a checkpoint's result; whether it copied the whole log (so the next commit starts it afresh)."""
        now = time.monotonic()
        if isinstance(result, BaseException):
            if isinstance(result, StoreError):
                # The next commit meets the same failure and reports it (and holds its batch).
                log.debug("write-ahead log checkpoint failed: %s", result)
            else:  # a bug, not the disk: the floor goes on, and the limit is tried again after a batch
                log.error("write-ahead log checkpoint failed", exc_info=result)
            self._clean_at = now  # tried again in CHECKPOINT_SECONDS, not at once
            return True
        self.log_pages = result.log_pages
        if result.complete and self._batches == from_batches:
            self._clean_batches = from_batches
            self._clean_at = now
            return True
        return False
