"""The log's length as the checkpoint policy reads it from SQLite's wal-index, against the log itself."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from floorgate.edge.store.wal_index import LogIndex

pytestmark = pytest.mark.integration

FRAME = 4096 + 24


def _connect(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute(f"PRAGMA journal_size_limit={64 * FRAME}")
    return conn


def test_the_length_read_is_the_logs_own_not_its_files(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    conn = _connect(db)
    index = LogIndex(db.with_name("store.db-shm"))
    try:
        conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
        for n in range(200):
            conn.execute("INSERT INTO t VALUES (?, ?)", (n, "x" * 3000))
        wal = db.with_name("store.db-wal")
        # A first log: its file holds exactly its frames.
        assert index.log_bytes() == wal.stat().st_size > 64 * FRAME
        busy, log_frames, copied = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        assert (busy, copied) == (0, log_frames)
        conn.execute("INSERT INTO t VALUES (1000, 'y')")
        # The log started afresh with that one commit; its file was cut back to the limit, not to the log.
        assert wal.stat().st_size == 64 * FRAME
        length = index.log_bytes()
        assert length is not None
        assert 0 < length <= 32 + 3 * FRAME
    finally:
        conn.close()
        index.close()


def test_no_wal_index_no_length(tmp_path: Path) -> None:
    index = LogIndex(tmp_path / "absent.db-shm")
    assert index.log_bytes() is None
    index.close()


def test_a_wal_index_made_anew_is_read_anew(tmp_path: Path) -> None:
    """SQLite removes the `-shm` file when its last connection closes; the next connection makes a new
    one. The index must read the new file, not the removed one it still holds open."""
    db = tmp_path / "store.db"
    index = LogIndex(db.with_name("store.db-shm"))
    try:
        first = _connect(db)
        first.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
        for n in range(50):
            first.execute("INSERT INTO t VALUES (?, ?)", (n, "x" * 3000))
        before = index.log_bytes()
        assert before is not None
        assert before > 50 * FRAME
        first.close()  # the last connection: the log is copied in and both files removed
        assert not db.with_name("store.db-shm").exists()
        second = _connect(db)
        second.execute("INSERT INTO t VALUES (1000, 'y')")
        after = index.log_bytes()
        assert after is not None
        assert 0 < after < before
        second.close()
    finally:
        index.close()
