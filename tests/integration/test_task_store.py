"""Putaways, cycle counts, station modes and the count policy in a real store (SQLite and PostgreSQL): what a
restart reads back, the order of the work queued in front of a bin included."""

from __future__ import annotations

import asyncio

import pytest

from floorgate.core import commands as cmd
from floorgate.core.model import CountBinStatus, CountStatus, PutawayStatus
from floorgate.edge.store import Store, make_engine
from tests.support.seeding import seed, started_writer

pytestmark = pytest.mark.integration


def open_store(url: str) -> Store:
    store = Store(make_engine(url))
    store.create_schema()
    return store


async def test_tasks_queued_behind_a_pick_keep_their_place_across_a_restart(store_url: str) -> None:
    store = open_store(store_url)
    writer, task = await started_writer(store)
    try:
        await seed(writer)  # O1 lit on A-01 (M1 shows 2) and A-02 (M2 shows 3)
        await writer.execute(cmd.DefineCountPolicy(variance_exception_pct=7.5))
        await writer.execute(
            cmd.DefineStation(
                station="PUT-A", kind=cmd.StationKind.ZONE, zone="A", mode=cmd.StationMode.PUTAWAY
            )
        )
        await writer.execute(
            cmd.StartCount(count_id="C-1", locations=("A-01", "A-02"), blind=False, by="sue")
        )
        await writer.execute(cmd.ReceivePutaway(task_id="P-1", sku="SKU-1", qty=4, location="A-01"))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.close()

    store = open_store(store_url)
    try:
        floor = store.load().floor
        assert floor.stations["PUT-A"].mode == "putaway"
        assert floor.state.variance_exception_pct == 7.5
        count = floor.state.counts["C-1"]
        assert (count.blind, count.by, count.variance_exception_pct, count.status) == (
            False,
            "sue",
            7.5,
            CountStatus.COUNTING,
        )
        assert [(b.location, b.status) for b in count.bins.values()] == [
            ("A-01", CountBinStatus.QUEUED),
            ("A-02", CountBinStatus.QUEUED),
        ]
        putaway = floor.state.putaways["P-1"]
        assert (putaway.status, putaway.location, putaway.qty) == (PutawayStatus.QUEUED, "A-01", 4)

        # The pick holds A-01; behind it the count (first come), then the putaway.
        picked = floor.handle(cmd.PressButton(module="M1", button=cmd.Button.CONFIRM, display="2"), 1.0)
        assert [(i.module, getattr(i, "display", None)) for i in picked.instructions] == [("M1", "8")]
        counted = floor.handle(cmd.PressButton(module="M1", button=cmd.Button.CONFIRM, display="7"), 2.0)
        assert [(i.module, getattr(i, "display", None)) for i in counted.instructions] == [("M1", "4")]
        assert floor.locations["A-01"].on_hand == 7
        assert [e.TYPE for e in counted.events][:2] == ["count.recorded", "inventory.adjusted"]
        assert [e.TYPE for e in counted.events].count("exception.raised") == 1  # 12.5 % > 7.5 %
    finally:
        store.close()
