"""Backup and restore of an SQLite store: a consistent copy of a running store, and a copy put back.

`backup_store` copies the store through SQLite's online backup API while the edge keeps writing. The
copy reads one snapshot: the source connection opens a read transaction first and every backup step
reads through it, so a commit the edge makes meanwhile neither shows up half-way nor restarts the copy
(a WAL reader never blocks the writer). It is written in steps, reporting progress, to a hidden name
beside DEST, checked with `PRAGMA integrity_check`, synced, and only then renamed to DEST: a DEST that
exists is always a whole, checked copy.

`restore_store` puts such a copy back as the store. It refuses while an edge runs on that store, which
the edge tells by an exclusive `flock` on `<store>.lock` beside the database file, held for as long as
`floorgate run` runs (`edge_lock`). A lock file, and not SQLite's own locks: the kernel drops a
`flock` when its process dies, even by kill -9, so a crashed edge never leaves a stale lock behind,
while SQLite's locks are held only inside transactions (an idle edge holds none) and say nothing about
a process that is about to start. The restore holds the same lock while it works, so an edge started
meanwhile refuses to start rather than open a store being replaced.

A PostgreSQL store is backed up with the database's own tools (pg_dump, pg_restore): see
docs/operations.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

# About 16 MB a step with SQLite's 4 kB pages: progress a few times a second on an SD card or an SSD.
PAGES_PER_STEP = 4096
# The tables every FloorGate store has had since its first release: what tells a FloorGate store.
FLOORGATE_TABLES = frozenset({"zones", "locations", "orders", "order_lines", "lights", "events"})

Progress = Callable[[int, int], None]
"""Called after each step with (pages copied, pages in all)."""


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says what was wrong and what to do."""


class StoreInUse(BackupError):
    """An edge holds the store's lock: it is running on that store."""


@dataclass(frozen=True)
class CopyReport:
    """What a backup wrote or a restore put back."""

    path: Path
    pages: int
    bytes: int
    last_seq: int
    seconds: float


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite store URL; None for any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = (parsed.database or "").removeprefix("file:")
    if not database or database.startswith(":"):
        return None
    return Path(database)


def postgres_advice(url: str) -> str:
    """What to say when asked to back up or restore a store that is not an SQLite file."""
    shown = make_url(url).render_as_string(hide_password=True)
    return (
        f"the store is not an SQLite file ({shown}): back up a PostgreSQL store with pg_dump "
        "(pg_dump --format=custom --file=floorgate.dump DBNAME) and restore it with pg_restore while the "
        "edge is stopped; see docs/operations.md"
    )


def lock_path(database: Path) -> Path:
    return database.with_name(f"{database.name}.lock")


@contextlib.contextmanager
def edge_lock(database: Path) -> Iterator[Path]:
    """Hold the store's lock for the block; StoreInUse when another process (a running edge) holds it."""
    path = lock_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise StoreInUse(
                f"an edge is running on the store {database} (process {holder} holds {path}); "
                "stop it first (systemctl stop, or Ctrl-C), then try again"
            ) from None
        # Who holds it, for the message above; the lock itself is the flock, not this text.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor drops the flock


def backup_store(
    database: Path, dest: Path, *, pages_per_step: int = PAGES_PER_STEP, progress: Progress | None = None
) -> CopyReport:
    """Copy the store at `database` (running or not) to `dest`, consistently, checked, renamed at the end."""
    if not database.is_file():
        raise BackupError(f"there is no store at {database}: check data_dir / [store] url in the site file")
    if dest.exists():
        raise BackupError(f"{dest} exists already: name a new file, or remove that one first")
    if not dest.parent.is_dir():
        raise BackupError(f"the folder {dest.parent} does not exist: create it or name another DEST")
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    started = time.monotonic()
    # Read-only: a connection that may write would, closing as what it takes for the last one, checkpoint
    # and delete the write-ahead log; read-only, the copy never changes the store it copies.
    source = sqlite3.connect(
        f"{database.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=5.0
    )
    try:
        # The snapshot every step reads from: the edge's commits after this line are not in the copy.
        source.execute("BEGIN")
        _require_floorgate(source, database)
        last_seq = int(source.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])
        target = sqlite3.connect(partial)
        try:

            def step(_status: int, remaining: int, total: int) -> None:
                if progress is not None:
                    progress(total - remaining, total)

            source.backup(target, pages=pages_per_step, progress=step)
            # One file that stands alone: no write-ahead log beside it, whatever the source used.
            target.execute("PRAGMA journal_mode=DELETE")
            _require_intact(target, partial)
            pages = int(target.execute("PRAGMA page_count").fetchone()[0])
        finally:
            target.close()
        source.execute("COMMIT")
        _sync(partial)
        partial.replace(dest)
        _sync(dest.parent)
    except sqlite3.Error as err:
        raise BackupError(f"copying {database} to {dest} failed: {err}") from err
    finally:
        source.close()
        partial.unlink(missing_ok=True)
    return CopyReport(dest, pages, dest.stat().st_size, last_seq, time.monotonic() - started)


def restore_store(source: Path, database: Path) -> CopyReport:
    """Make the backup at `source` the store at `database`; refuses while an edge runs on that store.

    The store it replaces (and a write-ahead log it left) is kept beside it as `<name>.replaced-<time>`;
    a stale `-shm` is removed, since it indexes a log that is no longer there.
    """
    if not source.is_file():
        raise BackupError(f"there is no backup at {source}: name the file `floorgate backup` wrote")
    started = time.monotonic()
    with edge_lock(database):
        incoming = database.with_name(f".{database.name}.restoring-{os.getpid()}")
        try:
            _copy_file(source, incoming)
            with contextlib.closing(sqlite3.connect(incoming)) as check:
                _require_floorgate(check, source)
                _require_intact(check, source)
                last_seq = int(check.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])
                pages = int(check.execute("PRAGMA page_count").fetchone()[0])
            _sync(incoming)
            _set_aside(database)
            incoming.replace(database)
            _sync(database.parent)
        except sqlite3.Error as err:
            raise BackupError(
                f"{source} is not a readable SQLite database ({err}): name a FloorGate backup"
            ) from err
        finally:
            incoming.unlink(missing_ok=True)
    return CopyReport(database, pages, database.stat().st_size, last_seq, time.monotonic() - started)


def _require_floorgate(conn: sqlite3.Connection, path: Path) -> None:
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = FLOORGATE_TABLES - names
    if missing:
        raise BackupError(
            f"{path} is not a FloorGate store (it has no {', '.join(sorted(missing))} table): "
            "name a file `floorgate backup` wrote or an edge's floorgate.db"
        )


def _require_intact(conn: sqlite3.Connection, path: Path) -> None:
    problems = [row[0] for row in conn.execute("PRAGMA integrity_check(20)")]
    if problems != ["ok"]:
        raise BackupError(f"{path} fails SQLite's integrity check: {'; '.join(problems)}")


def _set_aside(database: Path) -> None:
    """Move the store being replaced (and a log that still holds commits) aside; drop its index file."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    wal = database.with_name(f"{database.name}-wal")
    for path in (database, wal):
        if path.exists() and path.stat().st_size > 0:
            aside = path.with_name(f"{path.name}.replaced-{stamp}")
            path.replace(aside)
            log.info("previous store kept", extra={"path": str(aside)})
    wal.unlink(missing_ok=True)
    database.with_name(f"{database.name}-shm").unlink(missing_ok=True)


def _copy_file(source: Path, target: Path) -> None:
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(1024 * 1024):
            dst.write(chunk)


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
