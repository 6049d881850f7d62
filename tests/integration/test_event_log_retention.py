"""The event log's retention over a real store (SQLite, PostgreSQL): what leaves it, what stays, and when."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event

from floorgate.core import commands as cmd
from floorgate.edge.store.retention import Retention, delete_old_events, prune_store
from floorgate.edge.webhooks.deliveries import DELIVERED, FAILED, DeliveryStore
from floorgate.edge.webhooks.outbox import Endpoint
from tests.support.clocked_writer import KEEP_S, NOW, OLD, ClockedWriter
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


class Floor(ClockedWriter):
    """A store, its writer (on a clock the test moves), and one ERP endpoint that wants every event."""

    def __init__(self, url: str) -> None:
        super().__init__(url, OLD)
        self.deliveries = DeliveryStore(self.store.engine)
        endpoint = Endpoint(id="erp", url="http://erp.invalid/hook", secret="whsec_" + "A" * 32)
        self.deliveries.save_endpoint(endpoint)
        self.writer.outbox.put(endpoint)

    async def event(self, code: str) -> int:
        """One event (an inventory adjustment's), committed at the clock's time; its seq."""
        applied = await self.writer.execute(cmd.UpsertLocation(code=code, zone="A", on_hand=1))
        return applied.events[-1].seq if applied.events else self.writer.last_seq

    def settle(self, seq: int, status: str) -> None:
        self.deliveries.record([{"endpoint_id": "erp", "event_seq": seq, "status": status, "attempts": 1}])

    def seqs(self) -> list[int]:
        return [r.seq for r in self.store.events_after(0, 1000)]

    def delivery_seqs(self) -> list[int]:
        return sorted(d["event_seq"] for d in self.deliveries.list_deliveries(limit=1000))

    async def prune(self, before: float, *, limit: int = 500) -> int:
        """Every chunk until none is left, each on the writer's turn; how many events went."""
        deleted, cursor = 0, 0
        while True:
            pruned = await self.writer.chore(
                delete_old_events, self.store.engine, before, after_seq=cursor, limit=limit
            )
            deleted += pruned.deleted
            cursor = pruned.last_seq
            if not pruned.more:
                return deleted


@pytest.fixture
async def floor(store_url: str) -> AsyncIterator[Floor]:
    floor = Floor(store_url)
    await floor.writer.execute(cmd.DefineZone(zone="A"))
    yield floor
    await floor.close()


async def old_and_new_events(floor: Floor) -> dict[str, int]:
    """Five events 40 days old: delivered, delivered, failed, pending, delivered; then two of today."""
    seqs = {name: await floor.event(f"L-{name}") for name in ("d1", "d2", "failed", "pending", "d3")}
    for name in ("d1", "d2", "d3"):
        floor.settle(seqs[name], DELIVERED)
    floor.settle(seqs["failed"], FAILED)
    floor.clock.now = NOW
    seqs["today"] = await floor.event("L-today")
    seqs["newest"] = await floor.event("L-newest")
    return seqs


async def test_events_past_retention_that_owe_nothing_leave_with_their_deliveries(floor: Floor) -> None:
    seqs = await old_and_new_events(floor)
    before = floor.seqs()

    deleted = await floor.prune(NOW - KEEP_S)

    kept = [s for s in before if s not in (seqs["d1"], seqs["d2"], seqs["d3"])]
    assert deleted == len(before) - len(kept)
    assert floor.seqs() == kept  # the failed and the pending one wait for their delivery, however old
    assert {seqs["failed"], seqs["pending"], seqs["today"], seqs["newest"]} <= set(kept)
    assert not {seqs["d1"], seqs["d2"], seqs["d3"]} & set(floor.delivery_seqs())
    assert {seqs["failed"], seqs["pending"]} <= set(floor.delivery_seqs())
    assert floor.store.first_seq() == kept[0]
    assert await floor.prune(NOW - KEEP_S) == 0  # nothing more is due


async def test_an_event_owed_again_since_the_sweep_read_it_stays(floor: Floor) -> None:
    seqs = await old_and_new_events(floor)
    replayed = floor.deliveries.replay([("erp", seqs["d2"])], time.time())
    assert replayed == 1

    await floor.prune(NOW - KEEP_S)

    assert seqs["d2"] in floor.seqs()
    assert seqs["d2"] in floor.delivery_seqs()


async def test_a_delivery_replayed_between_the_sweeps_read_and_its_delete_keeps_its_event(
    floor: Floor,
) -> None:
    seqs = await old_and_new_events(floor)
    replayed: list[int] = []

    def replay_first(conn: object, cursor: object, statement: str, *_: object) -> None:
        # The sweep has read d2 as delivered; a supervisor replays it before the sweep deletes anything.
        if statement.lstrip().upper().startswith("DELETE FROM WEBHOOK_DELIVERIES") and not replayed:
            replayed.append(floor.deliveries.replay([("erp", seqs["d2"])], time.time()))

    event.listen(floor.store.engine, "before_cursor_execute", replay_first)
    try:
        await floor.prune(NOW - KEEP_S)
    finally:
        event.remove(floor.store.engine, "before_cursor_execute", replay_first)

    assert replayed == [1]
    assert seqs["d2"] in floor.seqs()  # owed again, so it stays with its delivery
    assert seqs["d2"] in floor.delivery_seqs()
    assert seqs["d1"] not in floor.seqs()


async def test_chunks_go_past_events_still_owed(floor: Floor) -> None:
    # Owed events first, then delivered ones: small chunks must not stop at the owed ones.
    owed = [await floor.event(f"L-owed-{n}") for n in range(3)]
    done = [await floor.event(f"L-done-{n}") for n in range(5)]
    for seq in done:
        floor.settle(seq, DELIVERED)
    floor.clock.now = NOW
    newest = await floor.event("L-newest")

    await floor.prune(NOW - KEEP_S, limit=2)

    assert set(owed) | {newest} <= set(floor.seqs())
    assert not set(done) & set(floor.seqs())


async def test_the_newest_event_stays_so_seqs_go_on_after_a_restart(floor: Floor) -> None:
    for n in range(3):
        floor.settle(await floor.event(f"L-{n}"), DELIVERED)
    last = floor.writer.last_seq

    await floor.prune(NOW - KEEP_S)

    assert floor.seqs() == [last]
    await floor.close()
    reopened = Floor(floor.url)
    try:
        assert reopened.writer.last_seq == last
        assert await reopened.event("L-after") == last + 1
    finally:
        await reopened.close()


async def test_a_chore_waits_for_the_batch_and_the_batch_for_the_chore(floor: Floor) -> None:
    inside, release = threading.Event(), threading.Event()

    def slow_chore() -> str:
        inside.set()
        assert release.wait(10)
        return "done"

    committed = floor.store.last_seq()
    chore = asyncio.create_task(floor.writer.chore(slow_chore))
    await wait_until(inside.is_set, timeout=10, what="the chore to start")
    command = asyncio.create_task(floor.event("L-meanwhile"))
    # Without waiting for its turn the writer commits it within milliseconds; it must not while the
    # chore runs (a bounded wait for something that must not happen).
    done, _ = await asyncio.wait({command}, timeout=0.5)
    assert not done
    assert floor.store.last_seq() == committed  # nothing committed beside the chore

    release.set()

    assert await chore == "done"
    seq = await asyncio.wait_for(command, 10)
    assert seq in floor.seqs()


async def test_the_edge_prunes_its_event_log_on_its_own(floor: Floor) -> None:
    for n in range(3):
        floor.settle(await floor.event(f"L-{n}"), DELIVERED)
    floor.clock.now = NOW
    await floor.event("L-today")
    retention = Retention(events_s=KEEP_S, orders_s=KEEP_S, exceptions_s=KEEP_S)
    sweep = asyncio.create_task(prune_store(floor.writer, floor.store.engine, retention, every=0.05))
    try:
        await wait_until(lambda: len(floor.seqs()) == 1, timeout=10, what="the old events to leave the log")
    finally:
        sweep.cancel()
        await asyncio.gather(sweep, return_exceptions=True)
