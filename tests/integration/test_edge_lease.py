"""The lease of an active/standby pair on a real PostgreSQL: one holder at a time, taken at once when the
holder's session ends, taken after `lease_timeout_s` when the holder falls silent, and a commit under an
old epoch refused by the database itself."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from floorgate.core import commands as cmd
from floorgate.edge.standby.lease import Lease, LeaseLost, zone_group
from floorgate.edge.store import EVENTS, Store, StoreFailure, make_engine
from floorgate.edge.writer import WriterUnavailable
from tests.support.postgres import PostgresServer
from tests.support.seeding import started_writer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

GROUP = zone_group("dc1", None)


@pytest.fixture
def engine(postgres_server: PostgresServer) -> Iterator[Engine]:
    engine = make_engine(postgres_server.create_database())
    yield engine
    engine.dispose()


def lease(engine: Engine, edge: str, *, timeout_s: float = 2.0) -> Lease:
    made = Lease(engine, group=GROUP, edge_id=edge, http_url=f"http://{edge}:8000", timeout_s=timeout_s)
    made.prepare()
    return made


def test_one_edge_holds_the_lease_and_the_other_takes_it_once_the_holders_session_ends(
    engine: Engine,
) -> None:
    first, second = lease(engine, "edge-a"), lease(engine, "edge-b")
    try:
        assert first.try_take()
        assert not second.try_take()
        assert second.active is not None
        assert (second.active.edge, second.active.epoch) == ("edge-a", 1)
        first.confirm()
        assert first.may_drive()

        first.release()  # as a kill -9 does: the session ends, and the lock with it

        assert second.try_take()
        assert (second.epoch, second.previous) == (2, "edge-a")
        with pytest.raises(LeaseLost):
            first.confirm()
        assert not first.may_drive()
    finally:
        first.release()
        second.release()


def test_a_silent_holder_loses_the_lease_after_its_timeout(engine: Engine) -> None:
    silent, waiting = lease(engine, "edge-a", timeout_s=1.0), lease(engine, "edge-b", timeout_s=1.0)
    try:
        assert silent.try_take()
        # The holder never confirms again (a paused process): PostgreSQL ends its idle session.
        asyncio.run(
            wait_until(
                lambda: waiting.try_take(), timeout=30, interval=0.1, what="the silent edge's lease free"
            )
        )
        assert waiting.epoch == 2
        with pytest.raises(LeaseLost, match="session ended"):
            silent.confirm()
    finally:
        silent.release()
        waiting.release()


def test_the_lease_is_not_driven_on_once_its_timeout_passed_unconfirmed(engine: Engine) -> None:
    now = [100.0]
    held = Lease(engine, group=GROUP, edge_id="edge-a", http_url="", timeout_s=2.0, clock=lambda: now[0])
    held.prepare()
    try:
        assert held.try_take()
        now[0] += 1.9
        assert held.may_drive()
        now[0] += 0.2  # woken from a pause: the other edge may have it by now
        assert not held.may_drive()
        held.confirm()
        assert held.may_drive()
    finally:
        held.release()


async def test_a_commit_under_an_old_epoch_is_refused_and_writes_nothing(engine: Engine) -> None:
    first, second = lease(engine, "edge-a"), lease(engine, "edge-b")
    store = Store(engine)
    store.create_schema()
    writer, task = await started_writer(store)
    try:
        assert first.try_take()
        store.fence_commits(first.fence())
        await writer.execute(cmd.DefineZone(zone="A"))
        committed = store.last_seq()

        first.release()
        assert second.try_take()

        # The writer holds the batch and tries again (until the pair's edge steps down and stops it).
        held = asyncio.create_task(writer.execute(cmd.DefineZone(zone="B")))
        failure = await asyncio.wait_for(writer.store_failed(), timeout=30)
        assert failure.cause is StoreFailure.FENCED
        assert "lost its pair's lease" in str(failure)
        task.cancel()
        with pytest.raises(WriterUnavailable, match="stopped before it could commit"):
            await held
        with engine.connect() as conn:
            assert conn.execute(select(EVENTS.c.seq).where(EVENTS.c.seq > committed)).all() == []
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.close()
        first.release()
        second.release()
