"""The single writer over a real SQLite store: batching, durability, idempotency, restart."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from floorgate.core import commands as cmd
from floorgate.core.errors import CommandRejected
from floorgate.core.instructions import ClearBin, LightBin
from floorgate.core.model import LineStatus, OrderStatus
from floorgate.edge.runtime import retire_finished_orders
from floorgate.edge.store import Batch, Store, make_engine
from floorgate.edge.store import checkpoint as checkpoint_module
from floorgate.edge.store import store as store_module
from floorgate.edge.writer import Committed, Writer, WriterUnavailable
from tests.support.seeding import seed, started_writer
from tests.support.store_files import back_before_schema_versions
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def open_store(path: Path) -> Store:
    store = Store(make_engine(f"sqlite:///{path}"))
    store.create_schema()
    return store


@pytest.fixture
async def stopper() -> AsyncIterator[Callable[[asyncio.Task[None]], None]]:
    tasks: list[asyncio.Task[None]] = []
    yield tasks.append
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_sqlite_runs_in_wal_with_full_synchronous(tmp_path: Path) -> None:
    store = open_store(tmp_path / "fg.db")
    with store.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


async def test_state_and_events_survive_a_restart_and_lit_modules_are_known(tmp_path: Path, stopper) -> None:
    db = tmp_path / "fg.db"
    writer, task = await started_writer(open_store(db))
    stopper(task)
    await seed(writer)
    await writer.submit(
        cmd.PressButton(message_id="ptl:M1:a", module="M1", button=cmd.Button.CONFIRM, display="2")
    )
    await wait_until(lambda: writer.floor.orders["O1"].lines["L1"].status is LineStatus.PICKED)
    await wait_until(lambda: writer.backlog == 0 and writer.stats.commands >= 6)
    task.cancel()

    store = open_store(db)
    loaded = store.load()
    order = loaded.floor.orders["O1"]
    assert order.status is OrderStatus.PICKING
    assert [ln.status for ln in order.lines.values()] == [LineStatus.PICKED, LineStatus.LIT]
    assert loaded.floor.locations["A-01"].on_hand == 8
    assert [(c.module, c.display) for c in loaded.floor.lit_commands()] == [("M2", "3")]
    events = store.events_after(0, 100)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events][-3:] == ["order.started", "device.online", "pick.confirmed"]
    assert "ptl:M1:a" in loaded.recent_inbound_ids


async def test_a_redelivered_message_is_applied_once_even_after_a_restart(tmp_path: Path, stopper) -> None:
    db = tmp_path / "fg.db"
    writer, task = await started_writer(open_store(db))
    stopper(task)
    await seed(writer)
    press = cmd.PressButton(message_id="ptl:M1:x", module="M1", button=cmd.Button.SHORT, display="1")
    await writer.submit(press)
    await writer.submit(press)
    await wait_until(lambda: writer.stats.duplicates == 1)
    task.cancel()

    writer2, task2 = await started_writer(open_store(db))
    stopper(task2)
    before = writer2.last_seq
    applied = await writer2.execute(press)
    assert applied.outcome.reply == {"duplicate": True}
    assert writer2.last_seq == before
    assert writer2.floor.locations["A-01"].on_hand == 9


async def test_light_instructions_reach_subscribers_only_after_the_commit(tmp_path: Path, stopper) -> None:
    class GatedStore(Store):
        gate = asyncio.Event()

        def commit(self, batch: Batch) -> None:
            if batch.events and any(e.type == "order.started" for e in batch.events):
                # Block the worker thread until the test lets the commit through.
                asyncio.run_coroutine_threadsafe(self.gate.wait(), loop).result(timeout=10)
            super().commit(batch)

    loop = asyncio.get_running_loop()
    store = GatedStore(make_engine(f"sqlite:///{tmp_path / 'fg.db'}"))
    store.create_schema()
    # Commits in a worker thread, where the test can hold one; small batches commit on the loop's own
    # thread, where nothing else runs until the commit is done (next test).
    writer, task = await started_writer(store, inline_commit_rows=0)
    stopper(task)
    seen: list[Committed] = []
    writer.subscribe(seen.append)
    await writer.execute(cmd.DefineZone(zone="A"))
    await writer.execute(cmd.UpsertLocation(code="A-01", zone="A", module="M1", sku="S", on_hand=5))
    await writer.execute(
        cmd.ReceiveOrder(order_id="O", lines=(cmd.NewOrderLine(line_id="L", sku="S", qty=1),))
    )
    seen.clear()

    start = asyncio.create_task(writer.execute(cmd.StartOrder(order_id="O", zone="A")))
    await wait_until(lambda: writer.backlog == 0)
    await asyncio.sleep(0.05)  # give a premature publish every chance to happen; none must
    assert seen == []
    with sqlite3.connect(tmp_path / "fg.db") as raw:
        assert raw.execute("SELECT count(*) FROM events WHERE type='order.started'").fetchone()[0] == 0

    GatedStore.gate.set()
    await start
    (committed,) = seen
    assert [type(i) for i in committed.instructions] == [LightBin]
    assert [e.type for e in committed.events] == ["order.started"]


async def test_small_batches_commit_on_the_loops_thread_and_large_ones_in_a_worker(
    tmp_path: Path, stopper
) -> None:
    """Presses commit where the writer runs (a hand-off to a thread cost more than the commit); an import
    of many rows goes to a worker thread so the API and dashboards are not held up by its SQL. Either
    way the subscribers hear of a batch only once it is in the store."""

    class ThreadNoting(Store):
        def commit(self, batch: Batch) -> None:
            super().commit(batch)
            with sqlite3.connect(tmp_path / "fg.db") as raw:
                committed = raw.execute("SELECT count(*) FROM events").fetchone()[0]
            threads.append((batch.row_count, threading.get_ident(), committed))

    threads: list[tuple[int, int, int]] = []
    store = ThreadNoting(make_engine(f"sqlite:///{tmp_path / 'fg.db'}"))
    store.create_schema()
    writer, task = await started_writer(store, inline_commit_rows=50)
    stopper(task)
    events_seen_by_subscribers: list[int] = []
    writer.subscribe(lambda c: events_seen_by_subscribers.append(writer.last_seq))
    loop_thread = threading.get_ident()

    await writer.execute(cmd.DefineZone(zone="A"))
    lines = tuple(cmd.NewOrderLine(line_id=str(n), sku="S", qty=1) for n in range(60))
    await writer.execute(cmd.ReceiveOrder(order_id="BIG", lines=lines))

    (small_rows, small_thread, _), (big_rows, big_thread, _) = threads
    assert small_rows <= 50 < big_rows, threads
    assert small_thread == loop_thread, "a small batch was handed to a worker thread"
    assert big_thread != loop_thread, "a large batch held the event loop for its SQL"
    # Each batch's events were in the store when its subscribers were told.
    assert [c for _, _, c in threads] == events_seen_by_subscribers


async def test_a_rejected_command_is_reported_to_its_caller_and_the_batch_goes_on(
    tmp_path: Path, stopper
) -> None:
    writer, task = await started_writer(open_store(tmp_path / "fg.db"))
    stopper(task)
    await seed(writer)
    bad = asyncio.create_task(writer.execute(cmd.StartOrder(order_id="NOPE", zone="A")))
    good = asyncio.create_task(
        writer.execute(cmd.PressButton(module="M2", button=cmd.Button.CONFIRM, display="3"))
    )
    with pytest.raises(CommandRejected):
        await bad
    applied = await good
    assert [e.type for e in applied.events][-1] == "pick.confirmed"
    cleared = [i for e in [applied.outcome] for i in e.instructions]
    assert cleared == [ClearBin(module="M2", seq=2)]


async def test_a_crashing_rule_does_not_stop_the_writer_or_lose_the_rest_of_the_batch(
    tmp_path: Path, stopper, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer, task = await started_writer(open_store(tmp_path / "fg.db"))
    stopper(task)
    await seed(writer)
    original = writer.floor.handle

    def explode_on_minus(command: cmd.Command, now: float):  # type: ignore[no-untyped-def]
        if isinstance(command, cmd.PressButton) and command.button is cmd.Button.MINUS:
            writer.floor.locations["A-01"].on_hand = -999  # a half-applied change that must not persist
            raise RuntimeError("boom")
        return original(command, now)

    monkeypatch.setattr(writer.floor, "handle", explode_on_minus)
    confirm = cmd.PressButton(message_id="ok-1", module="M2", button=cmd.Button.CONFIRM, display="3")
    boom = asyncio.create_task(writer.execute(cmd.PressButton(module="M1", button=cmd.Button.MINUS)))
    ok = asyncio.create_task(writer.execute(confirm))
    with pytest.raises(RuntimeError):
        await boom
    applied = await ok
    assert applied.events[-1].type in {"pick.confirmed", "order.zone_completed"}
    assert writer.floor.locations["A-01"].on_hand == 10
    assert writer.stats.failed == 1
    assert writer.stats.commands == 5 + 2  # the seed's five and these two, each counted once


async def test_a_device_message_is_settled_only_after_its_commit_even_when_a_duplicate(
    tmp_path: Path, stopper
) -> None:
    db = tmp_path / "fg.db"
    writer, task = await started_writer(open_store(db))
    stopper(task)
    await seed(writer)
    settled: list[tuple[str, int]] = []

    def settle(name: str) -> Callable[[], None]:
        def done() -> None:
            with sqlite3.connect(db) as raw:
                settled.append((name, raw.execute("SELECT count(*) FROM inbound_ids").fetchone()[0]))

        return done

    press = cmd.PressButton(message_id="ptl:M1:once", module="M1", button=cmd.Button.CONFIRM, display="2")
    await writer.submit(press, on_commit=settle("first"))
    await writer.submit(press, on_commit=settle("duplicate"))
    await wait_until(lambda: len(settled) == 2, what="both settled")
    assert settled == [("first", 1), ("duplicate", 1)]  # the id was on disk before either was settled


async def test_an_items_weight_tolerance_survives_a_restart(tmp_path: Path, stopper) -> None:
    db = tmp_path / "fg.db"
    writer, task = await started_writer(open_store(db))
    stopper(task)
    await writer.execute(cmd.UpsertItem(sku="APPLES", unit_weight_g=1000.0, weight_tolerance_g=40.0))
    await writer.execute(cmd.UpsertItem(sku="BOLT", unit_weight_g=12.5))
    task.cancel()

    items = open_store(db).load().floor.items
    assert items["APPLES"].weight_tolerance_g == 40.0
    assert items["BOLT"].weight_tolerance_g is None


async def test_a_database_from_before_item_tolerances_gets_the_column_at_start_up(
    tmp_path: Path, stopper
) -> None:
    db = tmp_path / "old.db"
    # The items table exactly as the first release's create_all made it, with one item in it.
    with sqlite3.connect(db) as old:
        old.execute(
            "CREATE TABLE items (sku VARCHAR NOT NULL, description VARCHAR NOT NULL, gtins JSON NOT NULL, "
            "unit_weight_g FLOAT, PRIMARY KEY (sku))"
        )
        old.execute("INSERT INTO items VALUES ('BOLT', 'a bolt', '[]', 12.5)")
    old.close()

    store = open_store(db)
    assert store.load().floor.items["BOLT"].weight_tolerance_g is None
    writer, task = await started_writer(store)
    stopper(task)
    await writer.execute(cmd.UpsertItem(sku="APPLES", unit_weight_g=1000.0, weight_tolerance_g=40.0))
    task.cancel()

    items = open_store(db).load().floor.items  # a second start-up finds the column and leaves it
    assert items["APPLES"].weight_tolerance_g == 40.0
    assert items["BOLT"].unit_weight_g == 12.5


async def test_indexes_no_query_uses_are_dropped_from_an_older_store_and_its_data_kept(
    tmp_path: Path, stopper
) -> None:
    """Earlier releases indexed locations by zone and module and events by type and order; nothing reads
    by them (the floor is in memory, the log is read by seq), and each cost every press a WAL page."""
    db = tmp_path / "old.db"
    store = open_store(db)
    writer, task = await started_writer(store)
    await seed(writer)
    task.cancel()
    store.close()
    with sqlite3.connect(db) as old:  # the indexes as the earlier release's create_all made them
        for (
            statement
        ) in back_before_schema_versions():  # and, as in every release before it, no schema version
            old.execute(statement)
        old.execute("CREATE INDEX ix_locations_zone ON locations (zone)")
        old.execute("CREATE INDEX ix_locations_module ON locations (module)")
        old.execute("CREATE INDEX ix_events_type ON events (type)")
        old.execute("CREATE INDEX ix_events_order_id ON events (order_id)")
    old.close()

    reopened = open_store(db)
    with sqlite3.connect(db) as raw:
        indexes = {name for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    raw.close()
    assert not indexes & {"ix_locations_zone", "ix_locations_module", "ix_events_type", "ix_events_order_id"}
    assert "ix_orders_status" in indexes
    loaded = reopened.load()
    assert loaded.floor.locations["A-01"].module == "M1"
    logged = reopened.events_after(0, 100)
    assert {"order.received", "order.started"} <= {e.type for e in logged}
    assert [e.seq for e in logged] == list(range(1, len(logged) + 1))


async def test_the_writer_checkpoints_between_batches_and_commits_never_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint_module, "CHECKPOINT_SECONDS", 3600.0)
    monkeypatch.setattr(checkpoint_module, "CHECKPOINT_FORCE_SECONDS", 3600.0)
    # Past SQLite's thousand pages, below the log's limit: only a commit could checkpoint here.
    monkeypatch.setattr(checkpoint_module, "WAL_LIMIT_BYTES", 64 * 2**20)
    store = Store(make_engine(f"sqlite:///{tmp_path / 'floorgate.db'}"))
    store.create_schema()
    writer = Writer(store=store, floor=store.load().floor, last_seq=0)
    running = asyncio.create_task(writer.run())
    try:
        await writer.execute(cmd.DefineZone(zone="Z"))
        for n in range(COMMITS_PAST_SQLITES_AUTOCHECKPOINT):
            await writer.execute(cmd.UpsertLocation(code=f"L{n}", zone="Z", sku=f"S{n}", on_hand=n))
        monkeypatch.setattr(checkpoint_module, "CHECKPOINT_SECONDS", 0.05)
        await writer.execute(cmd.UpsertLocation(code="LAST", zone="Z", sku="S", on_hand=1))
        # Quiet now: the writer checkpoints between batches once CHECKPOINT_SECONDS have passed.
        await wait_until(lambda: writer.stats.wal_pages > 0, what="a checkpoint at a quiet moment")
        # SQLite's default checkpoints inside the commit that takes the log past 1,000 pages (and the
        # next commit starts the log again); the writer's commits must leave every page to the checkpoint.
        assert writer.stats.wal_pages > 1000, (
            f"the log held {writer.stats.wal_pages} pages: a commit checkpointed"
        )
        wal = tmp_path / "floorgate.db-wal"
        size = wal.stat().st_size
        for n in range(100):
            await writer.execute(cmd.UpsertLocation(code=f"M{n}", zone="Z", sku=f"S{n}", on_hand=n))
        assert wal.stat().st_size == size, "the commits after the checkpoint did not start the log afresh"
        reopened = Store(make_engine(f"sqlite:///{tmp_path / 'floorgate.db'}"))
        assert len(reopened.load().floor.locations) == COMMITS_PAST_SQLITES_AUTOCHECKPOINT + 101
        reopened.close()
    finally:
        running.cancel()
        store.close()


COMMITS_PAST_SQLITES_AUTOCHECKPOINT = 700


def wal_bytes(db: Path) -> int:
    wal = db.with_name(db.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


@dataclass
class LogSizes:
    """The log's file size right after each commit (a subscriber runs then, on the writer's loop), and the
    most one commit added to it: the bound the policy guarantees is the limit plus one batch."""

    db: Path
    sizes: list[int] = field(default_factory=list)

    def __call__(self, _committed: Committed) -> None:
        self.sizes.append(wal_bytes(self.db))

    @property
    def largest(self) -> int:
        return max(self.sizes, default=0)

    @property
    def largest_batch(self) -> int:
        return max((b - a for a, b in zip(self.sizes, self.sizes[1:], strict=False)), default=0)


@pytest.mark.parametrize(
    ("quiet_moments", "by_rows"),
    [(True, False), (False, False), (True, True)],
    ids=["between-commands", "never-quiet", "rounds-by-rows-written"],
)
async def test_a_busy_writers_log_still_starts_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quiet_moments: bool, by_rows: bool
) -> None:
    """The checkpoint beside the commits is overtaken by them, so it never copies the whole log; the small
    one the writer waits for (at a quiet moment, or after CHECKPOINT_FORCE_SECONDS without one) does, and
    the log starts afresh. A round starts after CHECKPOINT_SECONDS, or once CHECKPOINT_ROWS rows were
    written since the last. How far the log grows meanwhile depends on how fast the disk commits; what
    the policy guarantees, on any disk, is its limit: never more than the limit plus one batch."""
    monkeypatch.setattr(checkpoint_module, "CHECKPOINT_SECONDS", 3600 if by_rows else 0.02)
    monkeypatch.setattr(checkpoint_module, "CHECKPOINT_ROWS", 200 if by_rows else 10**9)
    # With quiet moments the writer must find them (forcing is out of reach); without, it must force.
    monkeypatch.setattr(checkpoint_module, "CHECKPOINT_FORCE_SECONDS", 3600 if quiet_moments else 0.2)
    db = tmp_path / "floorgate.db"
    store = Store(make_engine(f"sqlite:///{db}"))
    store.create_schema()
    # One command a batch, so that with all of them queued at once the queue is never empty.
    writer = Writer(store=store, floor=store.load().floor, last_seq=0, max_batch=1)
    sizes = LogSizes(db)
    writer.subscribe(sizes)
    running = asyncio.create_task(writer.run())
    commands = 3000
    try:
        await writer.execute(cmd.DefineZone(zone="Z"))
        upserts = [
            cmd.UpsertLocation(code=f"L{n % 400}", zone="Z", sku=f"S{n}", on_hand=n) for n in range(commands)
        ]
        if quiet_moments:
            for n, upsert in enumerate(upserts, start=1):
                await writer.execute(upsert)
                if n % 100 == 0:
                    await asyncio.sleep(0.005)  # the floor pauses: nothing queued for a moment
        else:
            for upsert in upserts:
                await writer.submit(upsert)
            await writer.execute(cmd.DefineZone(zone="END"))  # queued behind them all
            assert writer.stats.batches >= commands, "the commands were not committed one a batch"
        assert sizes.largest <= store.wal_limit + sizes.largest_batch, (
            f"the write-ahead log grew to {sizes.largest / 2**20:.1f} MB, past its limit "
            f"({store.wal_limit / 2**20:.1f} MB) and one batch ({sizes.largest_batch} bytes)"
        )
        reopened = Store(make_engine(f"sqlite:///{db}"))
        last = commands - 1
        assert reopened.load().floor.locations[f"L{last % 400}"].on_hand == last
        reopened.close()
    finally:
        running.cancel()
        store.close()


PAGE_FRAME = 4096 + 24  # a page in the log, with its frame header


@pytest.mark.parametrize("limit_pages", [64, 256])
async def test_under_load_that_never_lets_up_the_log_stays_within_its_limit_in_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit_pages: int
) -> None:
    """A floor flat out, and no round of checkpoints ever finishing (they wait for a quiet moment that never
    comes): the limit alone keeps the log bounded. Between two batches the writer restarts the log once its
    file passes the limit, so the file never holds more than the limit and one batch's pages. Before the
    limit the log grew by every commit for as long as the load lasted (10 MB in a test, 73 MB on a floor)."""
    for name in ("CHECKPOINT_SECONDS", "CHECKPOINT_FORCE_SECONDS"):
        monkeypatch.setattr(checkpoint_module, name, 3600.0)
    monkeypatch.setattr(checkpoint_module, "CHECKPOINT_ROWS", 10**9)
    monkeypatch.setattr(checkpoint_module, "WAL_LIMIT_BYTES", limit_pages * PAGE_FRAME)
    db = tmp_path / "floorgate.db"
    # The tables are made, and their pages copied out of the log, before the load: they are not its pages.
    made = Store(make_engine(f"sqlite:///{db}"))
    made.create_schema()
    made.close()
    store = Store(make_engine(f"sqlite:///{db}"))
    store.create_schema()
    writer = Writer(store=store, floor=store.load().floor, last_seq=0, max_batch=1)
    sizes = LogSizes(db)
    writer.subscribe(sizes)
    running = asyncio.create_task(writer.run())
    try:
        await writer.execute(cmd.DefineZone(zone="Z"))
        commands = 20 * limit_pages  # a few pages a batch: the log passes its limit many times over
        for n in range(commands):
            await writer.submit(cmd.UpsertLocation(code=f"L{n}", zone="Z", sku=f"S{n}", on_hand=n))
        await writer.execute(cmd.DefineZone(zone="END"))
        batch_pages = sizes.largest_batch / PAGE_FRAME
        assert 0 < batch_pages <= 16, f"a one-command batch wrote {batch_pages:.1f} pages"
        assert sizes.largest <= limit_pages * PAGE_FRAME + sizes.largest_batch, (
            f"the log reached {sizes.largest / PAGE_FRAME:.0f} pages; its limit is {limit_pages} pages "
            f"and one batch {batch_pages:.0f}"
        )
        # It did pass the limit, and was started afresh: cut back to the limit each time.
        assert sizes.largest > limit_pages * PAGE_FRAME
        assert sizes.sizes[-1] <= limit_pages * PAGE_FRAME + sizes.largest_batch
        reopened = Store(make_engine(f"sqlite:///{db}"))
        assert len(reopened.load().floor.locations) == commands
        reopened.close()
    finally:
        running.cancel()
        store.close()


async def test_a_reader_holding_the_log_delays_its_restart_only_until_it_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A reader in the middle of a read keeps the log: no checkpoint may copy past what it reads, nor start
    the log afresh under it. The writer does not wait for it longer than RESTART_BUSY_MS: the log grows
    past its limit meanwhile (said once in the log), and is started afresh after the first batch once the
    reader has left."""
    for name in ("CHECKPOINT_SECONDS", "CHECKPOINT_FORCE_SECONDS"):
        monkeypatch.setattr(checkpoint_module, name, 3600.0)
    monkeypatch.setattr(checkpoint_module, "CHECKPOINT_ROWS", 10**9)
    monkeypatch.setattr(checkpoint_module, "WAL_LIMIT_BYTES", 64 * PAGE_FRAME)
    monkeypatch.setattr(checkpoint_module, "RESTART_BUSY_MS", 10)
    db = tmp_path / "floorgate.db"
    store = Store(make_engine(f"sqlite:///{db}"))
    store.create_schema()
    writer = Writer(store=store, floor=store.load().floor, last_seq=0)
    sizes = LogSizes(db)
    writer.subscribe(sizes)
    running = asyncio.create_task(writer.run())
    reader = sqlite3.connect(db)
    try:
        await writer.execute(cmd.DefineZone(zone="Z"))
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM locations").fetchone()  # its snapshot is in the log
        for n in range(60):
            await writer.execute(cmd.UpsertLocation(code=f"L{n}", zone="Z", sku=f"S{n}", on_hand=n))
        held = sizes.sizes[-1]
        assert held > 2 * 64 * PAGE_FRAME, "the log was started afresh under a reader"
        refused = [r for r in caplog.records if "kept it from starting afresh" in r.getMessage()]
        assert len(refused) == 1, [r.getMessage() for r in refused]

        reader.rollback()
        for n in range(60, 63):
            await writer.execute(cmd.UpsertLocation(code=f"L{n}", zone="Z", sku=f"S{n}", on_hand=n))
        assert sizes.sizes[-1] <= 64 * PAGE_FRAME + sizes.largest_batch, (
            f"the log's file is {sizes.sizes[-1]} bytes after the reader left"
        )
    finally:
        reader.close()
        running.cancel()
        store.close()


def test_the_size_budget_counts_the_write_ahead_log(tmp_path: Path) -> None:
    """`[store] max_size_mb` caps the database and its log together: the database gets what the log's
    limit leaves, and SQLite cuts the log's file back to that limit (and no further) whenever the log
    starts afresh."""
    for max_size_mb, limit in ((2, 512 * 1024), (32, 8 * 2**20), (512, 64 * 2**20), (None, 64 * 2**20)):
        store = Store(make_engine(f"sqlite:///{tmp_path / f'{max_size_mb}.db'}", max_size_mb=max_size_mb))
        store.create_schema()
        assert store.wal_limit == limit
        with store.engine.connect() as conn:
            pragma = {
                name: int(conn.exec_driver_sql(f"PRAGMA {name}").scalar_one())
                for name in ("page_size", "max_page_count", "journal_size_limit")
            }
        assert pragma["journal_size_limit"] == limit
        if max_size_mb is not None:
            assert pragma["max_page_count"] * pragma["page_size"] + limit <= max_size_mb * 2**20
        store.close()


def _remembered(store: Store, ids: list[str], at: float) -> Batch:
    batch = Batch(inbound_ids=[(i, at) for i in ids])
    store.commit(batch)
    return batch


def test_applied_message_ids_are_kept_in_a_ring_of_fixed_size_and_read_back_newest_first(
    tmp_path: Path,
) -> None:
    """A floor that runs for months must not grow the store by a row a press: the ring holds the last N."""
    db = tmp_path / "fg.db"
    store = Store(make_engine(f"sqlite:///{db}"), remember_inbound=5)
    store.create_schema()
    for n in range(4):
        _remembered(store, [f"m{3 * n}", f"m{3 * n + 1}", f"m{3 * n + 2}"], 100.0 + n)
    assert store.load().recent_inbound_ids == ["m11", "m10", "m9", "m8", "m7"]
    store.close()

    # After a restart the numbering goes on from the newest, so nothing recent is overwritten.
    reopened = Store(make_engine(f"sqlite:///{db}"), remember_inbound=5)
    reopened.create_schema()
    reopened.load()
    _remembered(reopened, ["m12", "m13"], 200.0)
    assert reopened.load().recent_inbound_ids == ["m13", "m12", "m11", "m10", "m9"]
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT count(*) FROM inbound_ids").fetchone()[0] == 5
    raw.close()


def test_a_store_that_commits_before_loading_continues_the_ring_from_its_newest_id(tmp_path: Path) -> None:
    db = tmp_path / "fg.db"
    first = Store(make_engine(f"sqlite:///{db}"), remember_inbound=4)
    first.create_schema()
    _remembered(first, ["a", "b", "c"], 1.0)
    first.close()
    second = Store(make_engine(f"sqlite:///{db}"), remember_inbound=4)
    second.create_schema()
    _remembered(second, ["d", "e"], 2.0)  # no load() first: the ring's position is read from the table
    assert second.load().recent_inbound_ids == ["e", "d", "c", "b"]


def test_a_held_batch_of_ids_is_found_in_its_slots_and_lands_in_the_same_ones_when_retried(
    tmp_path: Path,
) -> None:
    """The writer asks `holds` after a failed commit: a batch of only ids is found by its ring numbers."""
    store = Store(make_engine(f"sqlite:///{tmp_path / 'fg.db'}"), remember_inbound=3)
    store.create_schema()
    store.load()
    committed = _remembered(store, ["x1", "x2"], 1.0)
    assert store.holds(committed)
    pending = Batch(inbound_ids=[("y1", 2.0)])
    assert not store.holds(pending)  # never tried: no numbers yet
    store.commit(pending)
    store.commit(pending)  # a retry of the same batch: same slot, same number
    assert store.holds(pending)
    assert store.load().recent_inbound_ids == ["y1", "x2", "x1"]
    # Once the ring has gone round past a batch's slots it is not found there any more (a held batch is
    # retried long before that: the writer commits nothing else meanwhile).
    _remembered(store, ["z1"], 3.0)
    assert not store.holds(committed)


async def test_a_store_from_before_the_ring_keeps_its_recent_ids_and_drops_the_old_table(
    tmp_path: Path, stopper
) -> None:
    """Earlier releases kept every id for ever in inbound_messages, indexed by id and by time."""
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as old:  # the table as the earlier release's create_all made it
        old.execute(
            "CREATE TABLE inbound_messages (id VARCHAR NOT NULL, received_at FLOAT NOT NULL, PRIMARY KEY (id))"
        )
        old.execute("CREATE INDEX ix_inbound_messages_received_at ON inbound_messages (received_at)")
        old.executemany(
            "INSERT INTO inbound_messages VALUES (?, ?)", [(f"ptl:M1:{n}", 1000.0 + n) for n in range(10)]
        )
    old.close()

    store = Store(make_engine(f"sqlite:///{db}"), remember_inbound=4)
    store.create_schema()
    assert store.load().recent_inbound_ids == ["ptl:M1:9", "ptl:M1:8", "ptl:M1:7", "ptl:M1:6"]
    with sqlite3.connect(db) as raw:
        tables = {name for (name,) in raw.execute("SELECT name FROM sqlite_master")}
    raw.close()
    assert "inbound_messages" not in tables
    assert "ix_inbound_messages_received_at" not in tables
    store.close()

    # The moved ids still stop a redelivery, and the next id goes after them in the ring.
    moved = Store(make_engine(f"sqlite:///{db}"), remember_inbound=4)
    moved.create_schema()
    writer, task = await started_writer(moved)
    stopper(task)
    await seed(writer)
    redelivered = cmd.PressButton(message_id="ptl:M1:9", module="M1", button=cmd.Button.SHORT, display="1")
    assert (await writer.execute(redelivered)).outcome.reply == {"duplicate": True}
    fresh = cmd.PressButton(message_id="ptl:M1:10", module="M1", button=cmd.Button.SHORT, display="1")
    await writer.execute(fresh)
    assert moved.load().recent_inbound_ids == ["ptl:M1:10", "ptl:M1:9", "ptl:M1:8", "ptl:M1:7"]


def test_the_checkpoint_beside_the_commits_syncs_what_it_copied_and_the_waited_one_leaves_it_to_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite syncs the database file only after a checkpoint no commit overtook; the one in the worker
    thread is overtaken on a busy floor, and left its copies for the next, the one the writer waits for."""
    db = tmp_path / "floorgate.db"
    store = Store(make_engine(f"sqlite:///{db}"))
    store.create_schema()
    store.load()
    synced: list[str] = []
    real_fdatasync = store_module.os.fdatasync

    def fdatasync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fdatasync(fd)

    monkeypatch.setattr(store_module.os, "fdatasync", fdatasync)
    _remembered(store, ["a"], 1.0)
    assert store.checkpoint(flush=True).complete
    assert synced == [str(db)]
    _remembered(store, ["b"], 2.0)
    store.checkpoint()
    assert synced == [str(db)]

    # A sync the disk refuses: the flush only saves time, so the checkpoint still reports what it copied,
    # and the log says why the sync did not happen.
    def refused(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(store_module.os, "fdatasync", refused)
    _remembered(store, ["c"], 3.0)
    with caplog.at_level(logging.WARNING, logger="floorgate.edge.store"):
        assert store.checkpoint(flush=True).log_pages > 0
    assert "could not sync the database file after a checkpoint" in caplog.text
    assert str(db) in caplog.records[-1].__dict__["store"]


async def with_cancelled_order(
    tmp_path: Path, stopper: Callable[[asyncio.Task[None]], None]
) -> tuple[Store, Writer]:
    """A running writer whose floor has O1 cancelled: finished, so retirable."""
    store = open_store(tmp_path / "fg.db")
    writer, task = await started_writer(store)
    stopper(task)
    await seed(writer)
    await writer.execute(cmd.CancelOrder(order_id="O1"))
    return store, writer


async def test_a_retired_order_stays_in_the_store_and_its_id_cannot_start_a_new_order(
    tmp_path: Path, stopper: Callable[[asyncio.Task[None]], None]
) -> None:
    store, writer = await with_cancelled_order(tmp_path, stopper)
    retired = await writer.execute(cmd.RetireFinishedOrders(before=time.time() + 1))
    assert retired.outcome.reply == {"retired": 1}
    assert "O1" not in writer.floor.orders

    body = cmd.ReceiveOrder(
        order_id="O1",
        lines=(
            cmd.NewOrderLine(line_id="L1", sku="SKU-1", qty=2, location="A-01"),
            cmd.NewOrderLine(line_id="L2", sku="SKU-2", qty=3, location="A-02"),
        ),
    )
    replay = await writer.execute(body)
    assert replay.outcome.reply == {"created": False}
    with pytest.raises(CommandRejected, match="different body"):
        await writer.execute(cmd.ReceiveOrder(order_id="O1", lines=body.lines[:1]))

    assert "O1" not in writer.floor.orders
    stored = store.order("O1")
    assert stored is not None
    assert stored.status is OrderStatus.CANCELLED
    assert stored.finished_at is not None
    assert [line.line_id for line in stored.lines.values()] == ["L1", "L2"]
    assert store.order("NOPE") is None
    # A restart holds it only while it is inside its retention.
    assert "O1" in store.load(retire_before=stored.finished_at).floor.orders
    assert "O1" not in store.load(retire_before=stored.finished_at + 1).floor.orders


def test_an_older_store_gets_the_finished_column_and_its_finished_orders_count_from_the_upgrade(
    tmp_path: Path,
) -> None:
    path = tmp_path / "fg.db"
    store = open_store(path)
    store.close()
    with sqlite3.connect(path) as db:
        # As a release before retirement made it: no finished_at, no index on it, no schema version.
        for statement in back_before_schema_versions():
            db.execute(statement)
        db.execute("DROP INDEX ix_orders_finished_at")
        db.execute("ALTER TABLE orders DROP COLUMN finished_at")
        for order_id, status in (("DONE", "packed"), ("GOING", "picking")):
            db.execute(
                "INSERT INTO orders (order_id, status, priority, fingerprint, runs) VALUES (?, ?, 0, 'f', '[]')",
                (order_id, status),
            )
    upgraded_at = time.time()

    store = open_store(path)

    done, going = store.order("DONE"), store.order("GOING")
    assert done is not None
    assert going is not None
    assert done.finished_at is not None
    assert done.finished_at >= upgraded_at
    assert going.finished_at is None
    assert set(store.load(retire_before=upgraded_at).floor.orders) == {"DONE", "GOING"}
    assert set(store.load(retire_before=time.time() + 1).floor.orders) == {"GOING"}
    store.close()


async def test_the_edge_lets_finished_orders_go_on_its_own_once_their_retention_is_over(
    tmp_path: Path, stopper: Callable[[asyncio.Task[None]], None]
) -> None:
    store, writer = await with_cancelled_order(tmp_path, stopper)
    writer.retain_finished_s = 0.2
    stopper(asyncio.create_task(retire_finished_orders(writer, every=0.05)))

    await wait_until(lambda: "O1" not in writer.floor.orders, timeout=10, what="O1 to leave memory")
    assert store.order("O1") is not None


async def test_a_new_order_the_store_cannot_be_asked_about_is_refused_and_the_writer_goes_on(
    tmp_path: Path, stopper: Callable[[asyncio.Task[None]], None]
) -> None:
    _store, writer = await with_cancelled_order(tmp_path, stopper)
    o2 = cmd.ReceiveOrder(order_id="O2", lines=(cmd.NewOrderLine(line_id="L1", sku="SKU-1", qty=1),))
    with sqlite3.connect(tmp_path / "fg.db") as db:
        db.execute("ALTER TABLE orders RENAME TO orders_away")  # the lookup of a new id fails for real

    with pytest.raises(WriterUnavailable) as refused:
        await writer.execute(o2)

    assert refused.value.store_failure is not None
    assert "looking up order 'O2'" in str(refused.value)
    assert "O2" not in writer.floor.orders
    with sqlite3.connect(tmp_path / "fg.db") as db:
        db.execute("ALTER TABLE orders_away RENAME TO orders")
    created = await writer.execute(o2)
    assert created.outcome.reply == {"created": True}
