"""The Store: one object per store that the edge holds, over its engine, the commit, the checkpoints and
the reads; and the start-up checks that refuse a store which cannot take writes."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine, delete
from sqlalchemy.exc import SQLAlchemyError

from floorgate.core.model import Light, Order, RetiredOrder
from floorgate.edge.store.checkpoint import (
    CheckpointMode,
    CheckpointPolicy,
    NoCheckpoints,
    WalCheckpoint,
    WalCheckpoints,
    file_bytes,
    run_checkpoint,
    wal_limit_bytes,
)
from floorgate.edge.store.commit import Committer
from floorgate.edge.store.errors import (
    StoreError,
    StoreFailure,
    describe_failure,
    free_bytes,
    probe_directory,
    size_limit_mb,
    sqlite_directory,
    store_location,
)
from floorgate.edge.store.queries import events_after, first_seq, last_seq
from floorgate.edge.store.records import Batch, CommitFence, EventRecord
from floorgate.edge.store.restore import Loaded, load_floor, load_lights, read_order
from floorgate.edge.store.schema import INBOUND, create_schema
from floorgate.edge.store.wal_index import LogIndex

log = logging.getLogger(__name__)

# Start-up refuses a store with less room than this (on its disk, or below [store] max_size_mb), besides
# the room its write-ahead log may take: the edge would otherwise start, take work, and stop committing
# moments later.
STARTUP_HEADROOM_BYTES = 1024 * 1024


class Store:
    """Owns the engine. `commit` runs in a worker thread; the writer never calls it concurrently."""

    def __init__(self, engine: Engine, *, remember_inbound: int = 200_000) -> None:
        if engine.dialect.name not in {"sqlite", "postgresql"}:
            raise StoreError(f"unsupported database {engine.dialect.name!r}: use SQLite or PostgreSQL")
        self.engine = engine
        self.remember_inbound = remember_inbound
        directory = sqlite_directory(engine)
        self._database_file = None if directory is None else Path(store_location(engine))
        self._database_fd: int | None = None
        self._log_index = (
            None if self._database_file is None else LogIndex(Path(f"{self._database_file}-shm"))
        )
        self._committer = Committer(engine, remember_inbound=remember_inbound)
        self._closed = False
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self.wal_limit = wal_limit_bytes(size_limit_mb(engine))
        """The size in bytes past which an SQLite store's write-ahead log is started afresh."""
        self.location = store_location(engine)
        """The SQLite file or the database URL without its password: what messages call the store."""

    @property
    def _wal_file(self) -> Path | None:
        return None if self._database_file is None else Path(f"{self._database_file}-wal")

    def describe_failure(self, err: BaseException, doing: str) -> StoreError:
        return describe_failure(self.engine, err, doing)

    def create_schema(self) -> None:
        create_schema(self.engine, remember_inbound=self.remember_inbound)
        # What making (or upgrading) the tables wrote goes into the database file now, so the write-ahead
        # log starts empty and its bound (checkpoint.py) counts the floor's commits alone.
        wal = self._wal_file
        if wal is not None and file_bytes(wal):
            run_checkpoint(self.engine, CheckpointMode.TRUNCATE)

    def check_folder(self) -> None:
        """Raise a StoreError when the SQLite file's folder refuses a small write or has too little room.

        Runs before the schema is made, so a read-only or full disk is named as such rather than as
        whatever SQLite makes of it ("unable to open database file"). A write-ahead log the last run left
        is copied into the database first and its file cut to nothing, so the room it held counts as free:
        an edge can always start on a disk that holds its own store.
        """
        directory = sqlite_directory(self.engine)
        if directory is None or not directory.is_dir():
            return
        wal = self._wal_file
        if (
            wal is not None
            and self._database_file is not None
            and self._database_file.exists()
            and file_bytes(wal)
        ):
            run_checkpoint(self.engine, CheckpointMode.TRUNCATE)
        probed = probe_directory(directory)
        if probed is not None:
            raise self.describe_failure(probed, "writing a probe file next to it")
        free = free_bytes(directory)
        # The log may grow to its limit (and a batch) before it is started afresh: room for that too.
        needed = STARTUP_HEADROOM_BYTES + max(0, self.wal_limit - (0 if wal is None else file_bytes(wal)))
        if free is not None and free < needed:
            raise StoreError(
                f"the store at {self.location} is full: only {free // 1024} kB free on the disk that holds "
                f"it, and the edge needs at least {needed // 1024} kB to start (its write-ahead log may take "
                f"{self.wal_limit // 1024} kB); free space there",
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
        # max_page_count is the database's share of the budget: the log's limit is kept out of it.
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

    def close(self) -> None:
        """Close the store; an SQLite store's write-ahead log is first copied in and cut to nothing.

        So after a clean stop the database file alone holds every commit: copying floorgate.db (without
        its -wal) loses nothing, and the next start has no log to replay. A checkpoint that cannot finish
        (a backup still reading, a failing disk) is logged and leaves the log, which SQLite replays at the
        next start: nothing is lost either way.
        """
        if self._closed:
            return
        self._closed = True
        self._committer.close()
        try:
            self._close_checkpointed()
        finally:
            self.engine.dispose()
            # Only now, with no connection of ours left to lose its locks (see `_sync_database_file`).
            if self._database_fd is not None:
                os.close(self._database_fd)
                self._database_fd = None
            if self._log_index is not None:
                self._log_index.close()

    def _close_checkpointed(self) -> None:
        if self._database_file is not None and self._database_file.exists():
            try:
                done = run_checkpoint(self.engine, CheckpointMode.TRUNCATE)
            except StoreError as err:
                log.warning("the write-ahead log was not checkpointed at close", extra={"error": str(err)})
            else:
                if done.busy:
                    log.warning(
                        "the write-ahead log was not checkpointed at close: a reader held it",
                        extra={"store": self.location},
                    )

    # -- writing -----------------------------------------------------------------------------------

    def commit(self, batch: Batch) -> None:
        """Write one batch in one transaction, or nothing at all."""
        self._committer.commit(batch)

    def fence_commits(self, fence: CommitFence | None) -> None:
        """Run `fence` first in every commit from now on (an active/standby pair's lease), or no fence."""
        self._committer.fence = fence

    def holds(self, batch: Batch) -> bool:
        """Whether this batch is in the store already (see `Committer.holds`)."""
        return self._committer.holds(batch)

    def checkpoint(
        self, *, flush: bool = False, mode: CheckpointMode = CheckpointMode.PASSIVE
    ) -> WalCheckpoint:
        """Copy committed WAL pages into the database file; PASSIVE waits for no reader and no writer.

        Safe beside a commit (it copies what was committed when it started); SQLite starts the log afresh
        only at the first commit after a checkpoint that copied everything, which is the checkpoint
        policy's business (`checkpoint_policy`). Reports nothing for stores that are not SQLite.

        SQLite syncs the database file only when no commit overtook the checkpoint; otherwise what it
        copied stays in the page cache, and the next checkpoint's sync writes it all. With `flush` this
        one syncs the file itself, so that the next (the one the writer waits for) writes only its own
        pages: on the bench's disk that sync fell from 7-11 ms to 0.4-2.4 ms. The flush only saves time
        (SQLite's own sync still guards the data), so a failure of it is logged, not raised.
        """
        if self.engine.dialect.name != "sqlite":
            return WalCheckpoint(log_pages=0, copied_pages=0)
        return run_checkpoint(self.engine, mode, flush=self._sync_database_file if flush else None)

    def _sync_database_file(self) -> None:
        """fdatasync the database file through a descriptor held until the store closes.

        Never a descriptor opened and closed per call: POSIX drops every fcntl lock a process holds on a
        file when any of its descriptors on that file is closed, so a close here would silently release
        the locks of the edge's own SQLite connections. Another process closing its connection would then
        take itself for the last one and delete the live write-ahead log ("How To Corrupt An SQLite
        Database File", section 2.2).
        """
        if self._database_fd is None:
            assert self._database_file is not None
            self._database_fd = os.open(self._database_file, os.O_RDONLY)
        os.fdatasync(self._database_fd)

    def checkpoint_policy(self) -> CheckpointPolicy:
        """A writer's hook for keeping this store's log: the SQLite policy, or one that does nothing."""
        wal, index = self._wal_file, self._log_index
        if self.engine.dialect.name != "sqlite" or wal is None or index is None:
            return NoCheckpoints()
        return WalCheckpoints(
            lambda mode, flush: self.checkpoint(mode=mode, flush=flush),
            wal,
            self.wal_limit,
            log_bytes=index.log_bytes,
        )

    # -- reading -----------------------------------------------------------------------------------

    def load(self, *, retire_before: float | None = None) -> Loaded:
        """Read the live state back (on start-up) and rebuild the floor from it.

        Orders that finished before `retire_before` (wall clock) are left in the store: the floor does
        not need them, and `order()` reads one when asked.
        """
        loaded = load_floor(self.engine, remember_inbound=self.remember_inbound, retire_before=retire_before)
        self._committer.inbound_next = loaded.inbound_next
        return loaded

    def lights(self) -> list[Light]:
        """Every module's light as stored, read without the rest of the floor (a start's first step)."""
        return load_lights(self.engine)

    def retired_order(self, order_id: str) -> RetiredOrder | None:
        """The order with this id as the store holds it, when the floor does not (see `Committer`)."""
        return self._committer.retired_order(order_id)

    def order(self, order_id: str) -> Order | None:
        """One order as the store holds it: how the API finds an order the floor has retired."""
        return read_order(self.engine, order_id)

    def events_after(
        self, after: int, limit: int, *, types: Sequence[str] | None = None
    ) -> list[EventRecord]:
        return events_after(self.engine, after, limit, types=types)

    def first_seq(self) -> int:
        """The oldest event the log still holds (older ones left it by retention); 0 for an empty log."""
        return first_seq(self.engine)

    def last_seq(self) -> int:
        return last_seq(self.engine)
