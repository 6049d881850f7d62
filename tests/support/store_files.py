"""An edge's SQLite store as files: the `floorgate` command run on it, the lights it holds, waiting for
an edge started on it to send those lights again, and a store made to look as the releases before schema
versions left it."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlmodel import SQLModel

from floorgate.edge.store import Store, make_engine
from floorgate.edge.store.migrations.versions.r0001_baseline import BASELINE
from tests.support.mqtt_observer import MqttObserver
from tests.support.waiting import wait_until


def floorgate(*args: str) -> subprocess.CompletedProcess[str]:
    """`floorgate ARGS...` in a process of its own, as a person runs it."""
    return subprocess.run(
        [sys.executable, "-m", "floorgate.edge.cli", *args], capture_output=True, text=True, timeout=120
    )


def back_before_schema_versions() -> list[str]:
    """The SQL that takes a store at head back to the releases before schema versions: no version table, and
    none of the tables the revisions after the baseline made (what each test then drops is its own)."""
    later = sorted(set(SQLModel.metadata.tables) - set(BASELINE.tables))
    return ["DROP TABLE alembic_version", *(f'DROP TABLE "{name}"' for name in later)]


def stored_lights(path: Path) -> dict[str, dict[str, Any]]:
    """Each module's light in the store at `path`, as the command an edge started on it sends that module."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT module, seq, color, blink, display FROM lights").fetchall()
    return {
        module: {"seq": seq, "color": color, "blink": blink, "display": display}
        if color
        else {"seq": seq, "off": True}
        for module, seq, color, blink, display in rows
    }


async def lights_sent(observer: MqttObserver, site: str, lights: dict[str, dict[str, Any]]) -> None:
    """Wait until every module has been sent its light as `lights` says (what `stored_lights` read)."""
    for module, light in lights.items():
        topic = f"floorgate/{site}/ptl/{module}/cmd"
        await wait_until(
            lambda t=topic, want=light: any(m.json() == want for m in observer.on(t)),
            what=f"{module} sent its stored light, {light}",
        )


def store_from_a_later_release(database: Path, revision: str = "9999") -> None:
    """A store at `database` as a later release leaves it: its schema at a revision this code does not know."""
    store = Store(make_engine(f"sqlite:///{database}"))
    store.create_schema()
    store.close()
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        db.execute("UPDATE alembic_version SET version_num = ?", (revision,))
