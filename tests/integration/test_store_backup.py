"""The store's backup in steps: one snapshot however the edge writes meanwhile, with progress, renamed last."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from floorgate.edge.store import Store, make_engine
from floorgate.edge.store.backup import BackupError, backup_store

pytestmark = pytest.mark.integration


def insert_events(conn: sqlite3.Connection, first: int, count: int) -> None:
    conn.executemany(
        "INSERT INTO events (seq, id, type, occurred_at, data) VALUES (?, ?, 'test.filler', 0, ?)",
        [(seq, f"evt_{seq}", '{"pad": "' + "x" * 2000 + '"}') for seq in range(first, first + count)],
    )
    conn.commit()


def test_a_backup_in_steps_reports_progress_and_holds_one_snapshot_while_commits_go_on(
    tmp_path: Path,
) -> None:
    database = tmp_path / "floorgate.db"
    store = Store(make_engine(f"sqlite:///{database}"))
    store.create_schema()
    writer = sqlite3.connect(database)
    insert_events(writer, 1, 500)  # about 1 MB: hundreds of pages, so many steps of 16 pages
    steps: list[tuple[int, int]] = []
    written = [500]

    def progress(copied: int, total: int) -> None:
        restarted = bool(steps) and copied < steps[-1][0]
        steps.append((copied, total))
        if not restarted and len(steps) < 1000:
            # The edge commits between two steps of the copy (unless the copy started over: a copy that
            # is not one snapshot would start over at every commit, and never end).
            insert_events(writer, written[0] + 1, 5)
            written[0] += 5

    dest = tmp_path / "backup.db"
    report = backup_store(database, dest, pages_per_step=16, progress=progress)

    assert len(steps) > 10
    assert [copied for copied, _ in steps] == sorted(copied for copied, _ in steps)  # never restarted
    assert steps[-1][0] == steps[-1][1]
    assert report.last_seq == 500
    with contextlib.closing(sqlite3.connect(dest)) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        seqs = [row[0] for row in copy.execute("SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(1, 501))
    # The store itself took every commit made during the copy.
    assert writer.execute("SELECT max(seq) FROM events").fetchone()[0] == written[0] > 500
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".backup", "backup"))) == [
        "backup.db"
    ]
    writer.close()
    store.close()


def test_a_failed_backup_leaves_nothing_under_its_name(tmp_path: Path) -> None:
    database = tmp_path / "floorgate.db"
    store = Store(make_engine(f"sqlite:///{database}"))
    store.create_schema()
    store.close()

    def interrupted(copied: int, total: int) -> None:
        raise KeyboardInterrupt

    dest = tmp_path / "backup.db"
    with pytest.raises(KeyboardInterrupt):
        backup_store(database, dest, pages_per_step=1, progress=interrupted)
    assert not dest.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".backup.db.partial")]
    with pytest.raises(BackupError, match="no store at"):
        backup_store(tmp_path / "absent.db", tmp_path / "other.db")
