"""A running writer over a store, and the small floor most writer tests start from: zone A, bins A-01/A-02
on modules M1/M2 with 10 each, and order O1 (2 of SKU-1 from A-01, 3 of SKU-2 from A-02) started by ann,
so M1 shows 2 and M2 shows 3."""

from __future__ import annotations

import asyncio

from floorgate.core import commands as cmd
from floorgate.edge.store import Store
from floorgate.edge.writer import Writer


async def started_writer(store: Store, *, inline_commit_rows: int = 500) -> tuple[Writer, asyncio.Task[None]]:
    """The store's floor read back, and its writer running."""
    loaded = store.load()
    writer = Writer(
        store=store,
        floor=loaded.floor,
        last_seq=loaded.last_seq,
        recent_inbound_ids=loaded.recent_inbound_ids,
        inline_commit_rows=inline_commit_rows,
    )
    return writer, asyncio.create_task(writer.run(), name="writer")


async def seed(writer: Writer) -> None:
    await writer.execute(cmd.DefineZone(zone="A"))
    for n in (1, 2):
        await writer.execute(
            cmd.UpsertLocation(code=f"A-0{n}", zone="A", module=f"M{n}", sku=f"SKU-{n}", on_hand=10)
        )
    await writer.execute(
        cmd.ReceiveOrder(
            order_id="O1",
            lines=(
                cmd.NewOrderLine(line_id="L1", sku="SKU-1", qty=2, location="A-01"),
                cmd.NewOrderLine(line_id="L2", sku="SKU-2", qty=3, location="A-02"),
            ),
        )
    )
    await writer.execute(cmd.StartOrder(order_id="O1", zone="A", operator="ann"))
