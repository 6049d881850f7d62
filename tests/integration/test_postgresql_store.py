"""The edge on PostgreSQL (`[store] url = "postgresql+psycopg://..."`): what only a database server does.

The store's other tests run on both databases through the `store_url` fixture; these are the cases an
SQLite file has no counterpart for: a server that goes away and comes back, text a server refuses.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import pytest
from sqlalchemy import select

from floorgate.core import commands as cmd
from floorgate.edge.store import EVENTS, INBOUND, Store, StoreError, StoreFailure, make_engine
from floorgate.edge.writer import Writer, WriterUnavailable
from tests.support.postgres import PostgresServer
from tests.support.seeding import seed, started_writer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-pw"  # trust authentication ignores it; it must never appear in a message


async def started(url: str) -> tuple[Writer, asyncio.Task[None]]:
    store = Store(make_engine(url))
    store.create_schema()
    return await started_writer(store)


async def stop(writer: Writer, task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    writer.store.close()


def settle(log: list[str], name: str) -> Callable[[], None]:
    return lambda: log.append(name)


async def test_a_pick_on_postgresql_survives_a_restart_and_its_redelivery_is_applied_once(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.create_database()
    writer, task = await started(url)
    await seed(writer)
    press = cmd.PressButton(message_id="ptl:M1:1", module="M1", button=cmd.Button.CONFIRM, display="2")
    applied = await writer.execute(press)
    assert "pick.confirmed" in [e.type for e in applied.events]
    await stop(writer, task)

    writer, task = await started(url)
    try:
        assert writer.floor.locations["A-01"].on_hand == 8
        assert writer.floor.lights["M2"].display == "3"  # still lit after the restart, to be sent again
        assert writer.floor.lights["M1"].color is None  # picked: off
        again = await writer.execute(press)
        assert again.outcome.reply == {"duplicate": True}
        assert writer.floor.locations["A-01"].on_hand == 8
        with writer.store.engine.connect() as conn:
            picks = conn.execute(select(EVENTS.c.seq).where(EVENTS.c.type == "pick.confirmed")).all()
            ids = conn.execute(select(INBOUND.c.id)).scalars().all()
        assert len(picks) == 1
        assert "ptl:M1:1" in ids
    finally:
        await stop(writer, task)


async def test_text_the_server_refuses_is_set_aside_and_the_floor_goes_on(
    postgres_server: PostgresServer,
) -> None:
    # PostgreSQL text cannot hold NUL, which JSON and SQLite can: a device name carrying one would
    # otherwise fail every commit of its batch.
    writer, task = await started(postgres_server.create_database())
    try:
        await seed(writer)
        settled: list[str] = []
        fault = cmd.RecordDeviceFault(
            message_id="f-1", device="M\x009", kind="ptl", reason="unreadable frame"
        )
        await writer.submit(fault, on_commit=settle(settled, "fault"))
        await wait_until(lambda: settled == ["fault"], what="the fault's message settled")
        kept = [x for x in writer.floor.exceptions.values() if x.kind == "unstorable_command"]
        assert [x.device for x in kept] == ["M\\x009"]
        assert "NUL" in kept[0].message
        assert writer.store_failure is None
        applied = await writer.execute(cmd.PressButton(module="M1", button=cmd.Button.CONFIRM, display="2"))
        assert "pick.confirmed" in [e.type for e in applied.events]
    finally:
        await stop(writer, task)


async def test_the_server_going_away_holds_the_work_and_it_commits_once_the_server_is_back(
    fresh_postgres_server: PostgresServer,
) -> None:
    url = fresh_postgres_server.create_database().replace("floorgate@", f"floorgate:{PASSWORD}@")
    writer, task = await started(url)
    try:
        await seed(writer)
        fresh_postgres_server.stop()
        settled: list[str] = []
        press = cmd.PressButton(message_id="ptl:M1:7", module="M1", button=cmd.Button.CONFIRM, display="2")
        await writer.submit(press, on_commit=settle(settled, "press"))
        failure = await asyncio.wait_for(writer.store_failed(), timeout=30)

        assert failure.cause is StoreFailure.UNAVAILABLE
        assert "127.0.0.1" in str(failure)
        assert PASSWORD not in str(failure)
        assert settled == []  # unacknowledged: the broker keeps the press
        with pytest.raises(WriterUnavailable):
            await writer.execute(cmd.DefineZone(zone="B"))

        fresh_postgres_server.start()
        await wait_until(lambda: settled == ["press"], timeout=60, what="the held press committed")
        assert writer.store_failure is None
        with writer.store.engine.connect() as conn:
            picks = conn.execute(select(EVENTS.c.seq).where(EVENTS.c.type == "pick.confirmed")).all()
        assert len(picks) == 1
    finally:
        await stop(writer, task)


def test_a_postgresql_url_without_its_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as in an environment without the extra
    with pytest.raises(StoreError) as refused:
        make_engine("postgresql+psycopg://floorgate@db.example.com/floorgate")
    assert "no module 'psycopg'" in str(refused.value)
    assert 'pip install "floorgate[postgresql]"' in str(refused.value)
