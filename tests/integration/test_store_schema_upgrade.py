"""The store's schema revisions: a store from before schema versions upgraded with every row and light kept,
a copy beside an SQLite store first, a fresh store at head, a newer store refused; on SQLite and PostgreSQL.

tests/fixtures/unversioned-store.db is a store as the releases before schema versions made it (its
maker, tests/fixtures/make_unversioned_store.py, says how and at which commit).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, inspect, text
from sqlmodel import SQLModel

from floorgate.core.instructions import LightBin
from floorgate.edge.store import Store, StoreError, StoreTooNew, make_engine, schema_state
from floorgate.edge.store.migrate import upgrade_schema
from floorgate.edge.store.migrations import SCRIPTS, VERSIONS, head_revision
from floorgate.edge.store.migrations.new_revision import TEMPLATE, upgrade_code
from tests.support.postgres import PostgresServer
from tests.support.store_files import store_from_a_later_release

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parents[1] / "fixtures" / "unversioned-store.db"
# What the fixture's floor shows: the bins of the two started orders, with the quantities to pick.
FIXTURE_LIGHTS = {"M-A-01": "2", "M-A-02": "1", "M-B-01": "3"}


def fixture_copy(folder: Path) -> Path:
    path = folder / "floorgate.db"
    shutil.copy2(FIXTURE, path)
    return path


def rows_by_table(database: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the version table, in a stable order."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        names = [
            name
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            if name != "alembic_version"
        ]
        return {name: sorted(db.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr) for name in names}


def assert_kept(before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]) -> None:
    """Every row the store held is still there, and the tables later revisions made are new and empty."""
    assert {name: after.get(name) for name in before} == before
    added = {name: rows for name, rows in after.items() if name not in before}
    assert [rows for rows in added.values() if rows] == []


def recorded_revisions(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [str(r) for r in conn.execute(text("SELECT version_num FROM alembic_version")).scalars()]
    finally:
        engine.dispose()


def lit_displays(store: Store) -> dict[str, str]:
    lights = store.load().floor.lit_commands()
    return {light.module: light.display for light in lights if isinstance(light, LightBin)}


def differences_from_the_tables(url: str) -> tuple[list[Any], str]:
    """What Alembic finds between the store's schema and tables.py, and the revision code that closes it."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), SQLModel.metadata), upgrade_code(conn)
    finally:
        engine.dispose()


def assert_matches_the_tables(url: str) -> None:
    found, code = differences_from_the_tables(url)
    assert found == [], (
        "the tables in edge/store/tables.py differ from what the schema revisions make; add a revision "
        "(python -m floorgate.edge.store.migrations.new_revision 'what changed', docs/migrations.md) "
        f"whose upgrade() is:\n{code}"
    )


def test_a_store_from_before_schema_versions_is_upgraded_to_head_keeping_every_row_and_light(
    tmp_path: Path,
) -> None:
    database = fixture_copy(tmp_path)
    before = rows_by_table(database)
    assert [len(before[name]) for name in ("orders", "order_lines", "events")] == [4, 6, 18]

    store = Store(make_engine(f"sqlite:///{database}"))
    store.create_schema()
    try:
        assert lit_displays(store) == FIXTURE_LIGHTS
        loaded = store.load()
        assert loaded.last_seq == max(seq for seq, *_ in before["events"])
        assert {o.order_id: o.status.value for o in loaded.floor.orders.values()} == {
            "O-1": "picking",
            "O-2": "picking",
            "O-3": "picked",
            "O-4": "open",
        }
    finally:
        store.close()
    assert recorded_revisions(f"sqlite:///{database}") == [head_revision()]
    assert_kept(before, rows_by_table(database))
    assert_matches_the_tables(f"sqlite:///{database}")


def test_before_its_upgrade_an_sqlite_store_is_copied_beside_itself_named_for_its_old_revision(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = fixture_copy(tmp_path)
    before = rows_by_table(database)
    store = Store(make_engine(f"sqlite:///{database}"))
    with caplog.at_level(logging.INFO, logger="floorgate.edge.store.migrate"):
        store.create_schema()
    store.close()

    (backup,) = tmp_path.glob("floorgate.db.before-upgrade-from-unversioned-*")
    with contextlib.closing(sqlite3.connect(backup)) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        tables = {name for (name,) in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "alembic_version" not in tables  # the store as it was before the upgrade
    assert rows_by_table(backup) == before
    logged = [r for r in caplog.records if r.getMessage() == "store copied before its upgrade"]
    assert [(r.__dict__["backup"], r.__dict__["revision"]) for r in logged] == [(str(backup), "unversioned")]

    # At head, the next open neither copies nor upgrades anything.
    again = Store(make_engine(f"sqlite:///{database}"))
    again.create_schema()
    again.close()
    assert list(tmp_path.glob("floorgate.db.before-upgrade-*")) == [backup]


def test_a_fresh_store_is_created_at_head_with_the_tables_as_tables_py_declares_them(
    tmp_path: Path,
) -> None:
    """Through the revisions, as the revision tool and a PostgreSQL store make it."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    engine = make_engine(url)
    upgrade_schema(engine, remember_inbound=16, through_revisions=True)
    engine.dispose()
    assert recorded_revisions(url) == [head_revision()]
    assert_matches_the_tables(url)
    assert list(tmp_path.glob("*.before-upgrade-*")) == []  # nothing to copy in an empty store


def sqlite_schema(database: Path) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(database)) as db:
        return {
            name: " ".join((sql or "").split())
            for name, sql in db.execute("SELECT name, sql FROM sqlite_master ORDER BY name")
        }


def test_a_fresh_sqlite_store_made_without_alembic_has_exactly_the_schema_the_revisions_make(
    tmp_path: Path,
) -> None:
    """An empty SQLite file gets tables.py's tables and the head recorded without loading Alembic (its import
    was a tenth of a second of every first start); that must be, table by table and index by index, the
    store the revisions make, or a later revision would meet a schema it does not expect."""
    revised, direct = tmp_path / "revised.db", tmp_path / "direct.db"
    engine = make_engine(f"sqlite:///{revised}")
    upgrade_schema(engine, remember_inbound=16, through_revisions=True)
    engine.dispose()
    probe = (
        "import sys\n"
        "from floorgate.edge.store import Store, make_engine\n"
        f"store = Store(make_engine('sqlite:///{direct}'))\n"
        "store.create_schema()\n"
        "store.close()\n"
        "print(any(name.split('.')[0] == 'alembic' for name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.split() == ["False"], result.stderr
    assert recorded_revisions(f"sqlite:///{direct}") == [head_revision()]
    made, expected = sqlite_schema(direct), sqlite_schema(revised)
    assert set(made) == set(expected)
    assert {name: sql for name, sql in made.items() if expected[name] != sql} == {}
    assert_matches_the_tables(f"sqlite:///{direct}")


def test_a_store_newer_than_the_code_is_refused_naming_the_store_its_revision_and_what_to_do(
    tmp_path: Path,
) -> None:
    database = tmp_path / "floorgate.db"
    store_from_a_later_release(database)
    untouched = database.read_bytes()

    newer = Store(make_engine(f"sqlite:///{database}"))
    with pytest.raises(StoreTooNew) as refused:
        newer.create_schema()
    newer.close()
    message = str(refused.value)
    assert f"the store at {database} has schema revision 9999" in message
    assert f"its newest is {head_revision()}" in message
    assert "run that release (or a newer one) on it" in message
    assert "floorgate restore" in message
    assert isinstance(refused.value, StoreError)
    assert database.read_bytes() == untouched
    assert list(tmp_path.glob("*.before-upgrade-*")) == []
    engine = make_engine(f"sqlite:///{database}")
    with pytest.raises(StoreTooNew):
        schema_state(engine)
    engine.dispose()


def test_older_shapes_keep_upgrading_a_missing_column_is_added_and_filled_an_unused_index_dropped(
    tmp_path: Path,
) -> None:
    """Releases before `finished_at` and with indexes nothing reads: the baseline brings them up to date."""
    database = fixture_copy(tmp_path)
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        db.execute("DROP INDEX ix_orders_finished_at")
        db.execute("ALTER TABLE orders DROP COLUMN finished_at")
        db.execute("CREATE INDEX ix_events_type ON events (type)")
    store = Store(make_engine(f"sqlite:///{database}"))
    store.create_schema()
    store.close()
    with contextlib.closing(sqlite3.connect(database)) as db:
        finished = dict(db.execute("SELECT order_id, finished_at IS NOT NULL FROM orders"))
        indexes = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert finished == {"O-1": 0, "O-2": 0, "O-3": 1, "O-4": 0}
    assert "ix_events_type" not in indexes
    assert "ix_orders_finished_at" in indexes
    assert recorded_revisions(f"sqlite:///{database}") == [head_revision()]


def test_the_revision_tool_writes_the_operations_that_bring_a_store_at_head_to_the_tables(
    tmp_path: Path,
) -> None:
    """What a developer gets after changing tables.py: here, as if `pack_stations.updated_at` were new."""
    database = tmp_path / "floorgate.db"
    store = Store(make_engine(f"sqlite:///{database}"))
    store.create_schema()
    store.close()
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        db.execute("ALTER TABLE pack_stations DROP COLUMN updated_at")
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        code = upgrade_code(conn)
    engine.dispose()
    assert "    op.add_column('pack_stations', sa.Column('updated_at', sa.Float(), nullable=True))" in code
    revision = TEMPLATE.format(message="Add updated_at", revision="0002", down_revision="0001", body=code)
    compile(revision, "r0002_add_updated_at.py", "exec")  # a module Alembic can load as it is


def test_the_head_read_from_file_names_is_alembics_single_head_and_the_revisions_form_one_line() -> None:
    script = ScriptDirectory(str(SCRIPTS))
    assert script.get_heads() == [head_revision()]
    revisions = list(reversed(list(script.walk_revisions())))
    assert [r.revision for r in revisions] == [f"{n:04d}" for n in range(1, len(revisions) + 1)]
    for previous, revision in zip([None, *revisions], revisions, strict=False):
        assert revision.down_revision == (None if previous is None else previous.revision)
        assert Path(revision.path).name.startswith(f"r{revision.revision}_")
    assert len(list(VERSIONS.glob("r*.py"))) == len(revisions)


def test_a_store_at_head_is_opened_with_one_query_and_without_loading_alembic(tmp_path: Path) -> None:
    database = tmp_path / "floorgate.db"
    store = Store(make_engine(f"sqlite:///{database}"))
    store.create_schema()
    store.close()
    probe = (
        "import sys\n"
        "from sqlalchemy import event\n"
        "from floorgate.edge.store import Store, make_engine\n"
        f"engine = make_engine('sqlite:///{database}')\n"
        "statements = []\n"
        "event.listen(engine, 'before_cursor_execute', lambda *a: statements.append(a[2]))\n"
        "Store(engine).create_schema()\n"
        "print(len(statements), any(name.split('.')[0] == 'alembic' for name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.split() == ["1", "False"], result.stderr


# -- PostgreSQL ------------------------------------------------------------------------------------------


def unversioned_postgres_store(server: PostgresServer) -> str:
    """A PostgreSQL database holding the fixture as the releases before schema versions made it: its
    tables as the fixture declares them (reflected, so integer keys are serial as create_all made them),
    every row copied."""
    url = server.create_database()
    source = create_engine(f"sqlite:///{FIXTURE}")
    target = create_engine(url)
    try:
        tables = MetaData()
        tables.reflect(source)
        tables.create_all(target)
        with source.connect() as read, target.begin() as write:
            for table in tables.sorted_tables:
                rows = [dict(row._mapping) for row in read.execute(table.select())]
                if rows:
                    write.execute(table.insert(), rows)
    finally:
        source.dispose()
        target.dispose()
    return url


def postgres_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = sorted(set(inspect(conn).get_table_names()) - {"alembic_version"})
            return {
                name: sorted(conn.execute(text(f'SELECT * FROM "{name}"')).all(), key=repr) for name in names
            }
    finally:
        engine.dispose()


def test_on_postgresql_a_store_from_before_schema_versions_is_upgraded_keeping_every_row_and_light(
    postgres_server: PostgresServer,
) -> None:
    url = unversioned_postgres_store(postgres_server)
    before = postgres_rows(url)
    engine = make_engine(url)
    assert schema_state(engine).describe() == (
        f"schema at revision unversioned: the next start upgrades it to {head_revision()}"
    )
    engine.dispose()
    store = Store(make_engine(url))
    store.create_schema()
    try:
        assert lit_displays(store) == FIXTURE_LIGHTS
    finally:
        store.close()
    assert recorded_revisions(url) == [head_revision()]
    assert_kept(before, postgres_rows(url))
    assert_matches_the_tables(url)


def test_on_postgresql_a_fresh_store_is_at_head_and_a_newer_one_is_refused(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.create_database()
    store = Store(make_engine(url))
    store.create_schema()
    store.close()
    assert recorded_revisions(url) == [head_revision()]
    assert_matches_the_tables(url)

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    newer = Store(make_engine(url))
    with pytest.raises(StoreTooNew, match="has schema revision 9999, newer than this FloorGate"):
        newer.create_schema()
    newer.close()
    assert recorded_revisions(url) == ["9999"]
