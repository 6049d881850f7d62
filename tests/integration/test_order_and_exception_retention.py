"""Finished orders and resolved exceptions leaving a real store (SQLite, PostgreSQL): what goes, what stays,
and when."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import func, inspect, select, text

from floorgate.core import commands as cmd
from floorgate.core.model import OrderStatus
from floorgate.edge.store import EXCEPTIONS, LINE_SCANS, LINES, ORDERS, Store, make_engine
from floorgate.edge.store.retention import Retention, delete_finished_orders, prune_store
from tests.support.clocked_writer import DAY, KEEP_S, NOW, OLD, ClockedWriter
from tests.support.store_files import back_before_schema_versions
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


class Floor(ClockedWriter):
    """A store and its writer, on a clock the test moves, with zone A and two lit locations."""

    def __init__(self, url: str) -> None:
        super().__init__(url, OLD)

    async def define(self) -> None:
        await self.writer.execute(cmd.DefineZone(zone="A"))
        for n in (1, 2):
            await self.writer.execute(
                cmd.UpsertLocation(code=f"A-0{n}", zone="A", module=f"M{n}", sku=f"SKU-{n}", on_hand=1000)
            )

    async def order(self, order_id: str) -> None:
        await self.writer.execute(
            cmd.ReceiveOrder(
                order_id=order_id,
                lines=(
                    cmd.NewOrderLine(line_id="L1", sku="SKU-1", qty=1, location="A-01"),
                    cmd.NewOrderLine(line_id="L2", sku="SKU-2", qty=1, location="A-02"),
                ),
            )
        )

    async def picked(self, order_id: str) -> None:
        """Received, started and picked to the end: every lit line confirmed as its module shows it."""
        await self.order(order_id)
        await self.writer.execute(cmd.StartOrder(order_id=order_id, zone="A", operator="ann"))
        for n in range(10):
            if self.writer.floor.orders[order_id].status is OrderStatus.PICKED:
                return
            for light in list(self.writer.floor.lights.values()):
                if light.order_id == order_id and light.display:
                    await self.writer.execute(
                        cmd.PressButton(
                            message_id=f"{order_id}-{light.module}-{n}",
                            module=light.module,
                            button=cmd.Button.CONFIRM,
                            display=light.display,
                        )
                    )
        raise AssertionError(f"{order_id} was not picked: {self.writer.floor.orders[order_id]}")

    async def cancelled(self, order_id: str) -> None:
        await self.order(order_id)
        await self.writer.execute(cmd.CancelOrder(order_id=order_id))

    def scan(self, order_id: str) -> None:
        """An item scan row for the order's first line, as a scan-verify zone would have left it."""
        with self.store.engine.begin() as conn:
            conn.execute(LINE_SCANS.insert().values(order_id=order_id, line_id="L1", gtin="09506000134352"))

    def stored_orders(self) -> set[str]:
        with self.store.engine.connect() as conn:
            return set(conn.execute(select(ORDERS.c.order_id)).scalars())

    def rows_of(self, order_id: str) -> tuple[int, int]:
        """How many lines and item scans the store holds for the order."""
        with self.store.engine.connect() as conn:
            lines = conn.execute(select(func.count()).where(LINES.c.order_id == order_id)).scalar_one()
            scans = conn.execute(select(func.count()).where(LINE_SCANS.c.order_id == order_id)).scalar_one()
        return int(lines), int(scans)

    def stored_exceptions(self) -> set[int]:
        with self.store.engine.connect() as conn:
            return {int(i) for i in conn.execute(select(EXCEPTIONS.c.id)).scalars()}

    async def raise_exception(self, kind: str) -> int:
        await self.writer.execute(cmd.RaiseException(kind=kind, message=f"{kind} needs a person"))
        return max(self.writer.floor.exceptions)

    async def sweep_until(self, done: Callable[[], bool], what: str) -> None:
        """Run the edge's own sweep (every 20 ms) until `done()` holds, then stop it."""
        sweep = asyncio.create_task(
            prune_store(
                self.writer,
                self.store.engine,
                Retention(events_s=KEEP_S, orders_s=KEEP_S, exceptions_s=KEEP_S),
                every=0.02,
            )
        )
        try:
            await wait_until(done, timeout=10, what=what)
        finally:
            sweep.cancel()
            await asyncio.gather(sweep, return_exceptions=True)


@pytest.fixture
async def floor(store_url: str) -> AsyncIterator[Floor]:
    floor = Floor(store_url)
    await floor.define()
    yield floor
    await floor.close()


async def test_finished_orders_past_retention_leave_the_store_with_their_lines_and_scans(
    floor: Floor,
) -> None:
    await floor.cancelled("O-old-cancelled")
    floor.scan("O-old-cancelled")
    await floor.picked("O-old-picked")
    await floor.order("O-old-open")  # received 40 days ago, never started: still work to do
    await floor.cancelled("O-old-held")  # finished as long ago, but still in memory (not yet retired)
    floor.clock.now = NOW
    await floor.cancelled("O-new-cancelled")
    floor.scan("O-new-cancelled")
    retired = await floor.writer.execute(cmd.RetireFinishedOrders(before=NOW - 39 * DAY))
    assert retired.outcome.reply == {"retired": 3}
    # As if retirement had not come round to this one yet: it is still in memory.
    held = floor.store.order("O-old-held")
    assert held is not None
    floor.writer.floor.orders["O-old-held"] = held

    await floor.sweep_until(
        lambda: not {"O-old-cancelled", "O-old-picked"} & floor.stored_orders(),
        "the old finished orders to leave the store",
    )

    assert floor.stored_orders() == {"O-old-open", "O-old-held", "O-new-cancelled"}
    assert floor.rows_of("O-old-cancelled") == (0, 0)
    assert floor.rows_of("O-old-picked") == (0, 0)
    assert floor.rows_of("O-new-cancelled") == (2, 1)
    assert floor.rows_of("O-old-held") == (2, 0)
    assert floor.store.order("O-old-cancelled") is None
    new = floor.store.order("O-new-cancelled")
    assert new is not None
    assert new.status is OrderStatus.CANCELLED


async def test_a_picked_order_that_a_pack_station_still_has_to_pack_stays(floor: Floor) -> None:
    await floor.picked("O-to-pack")
    await floor.cancelled("O-cancelled")
    await floor.writer.execute(cmd.DefineStation(station="P1", kind=cmd.StationKind.PACK))
    floor.clock.now = NOW
    # The picked order stays in memory too: with a pack station it is not finished.
    retired = await floor.writer.execute(cmd.RetireFinishedOrders(before=NOW - 39 * DAY))
    assert retired.outcome.reply == {"retired": 1}
    # Even once out of memory (as when the station came after its retirement), the store keeps it.
    del floor.writer.floor.orders["O-to-pack"]

    await floor.sweep_until(lambda: "O-cancelled" not in floor.stored_orders(), "the cancelled order to go")

    assert floor.stored_orders() == {"O-to-pack"}
    assert floor.rows_of("O-to-pack") == (2, 0)


async def test_an_order_changed_since_the_sweep_read_it_is_not_deleted(floor: Floor) -> None:
    await floor.order("O-open")
    await floor.cancelled("O-cancelled")
    floor.clock.now = NOW
    await floor.cancelled("O-cancelled-today")

    # As if the sweep had read all three as finished 40 days ago: the delete checks again, row by row.
    deleted = await floor.writer.chore(
        delete_finished_orders,
        floor.store.engine,
        ["O-open", "O-cancelled", "O-cancelled-today"],
        NOW - KEEP_S,
        ["cancelled"],
    )

    assert deleted == 1
    assert floor.stored_orders() == {"O-open", "O-cancelled-today"}
    assert floor.rows_of("O-open") == (2, 0)
    assert floor.rows_of("O-cancelled-today") == (2, 0)


async def test_a_deleted_orders_id_starts_a_new_order(floor: Floor) -> None:
    await floor.cancelled("O1")
    floor.clock.now = NOW
    await floor.writer.execute(cmd.RetireFinishedOrders(before=NOW - 39 * DAY))
    await floor.sweep_until(lambda: "O1" not in floor.stored_orders(), "the old order to go")

    await floor.order("O1")

    assert floor.writer.floor.orders["O1"].status is OrderStatus.OPEN
    assert floor.rows_of("O1") == (2, 0)


async def test_resolved_exceptions_past_retention_leave_memory_then_the_store_and_numbers_go_on(
    floor: Floor,
) -> None:
    old_resolved = [await floor.raise_exception(f"old-{n}") for n in range(3)]
    old_open = await floor.raise_exception("still-open")
    recent = await floor.raise_exception("resolved-today")
    highest_old = await floor.raise_exception("old-but-highest")
    for exception_id in (*old_resolved, highest_old):
        await floor.writer.execute(cmd.ResolveException(exception_id=exception_id, resolved_by="sam"))
    floor.clock.now = NOW
    await floor.writer.execute(cmd.ResolveException(exception_id=recent, resolved_by="sam"))

    await floor.sweep_until(
        lambda: not set(old_resolved) & floor.stored_exceptions(), "the old resolved exceptions to go"
    )

    assert set(floor.writer.floor.exceptions) == {old_open, recent}  # GET /exceptions
    # The highest number stays in the store (resolved long ago or not), so numbering goes on from it.
    assert floor.stored_exceptions() == {old_open, recent, highest_old}
    await floor.close()
    reopened = Floor(floor.url)
    try:
        assert await reopened.raise_exception("after-restart") == highest_old + 1
    finally:
        await reopened.close()


def test_a_store_from_an_earlier_release_gains_the_finished_at_index(store_url: str) -> None:
    store = Store(make_engine(store_url))
    store.create_schema()
    with store.engine.begin() as conn:  # as earlier releases made it: no such index, no schema version
        for statement in back_before_schema_versions():
            conn.execute(text(statement))
        conn.execute(text("DROP INDEX ix_orders_finished_at"))
    store.close()

    reopened = Store(make_engine(store_url))
    try:
        reopened.create_schema()
        indexes = {i["name"] for i in inspect(reopened.engine).get_indexes("orders")}
    finally:
        reopened.close()
    assert "ix_orders_finished_at" in indexes
