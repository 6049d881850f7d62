"""A put wall in the live stream: in the snapshot, and in the delta of a commit that changed it."""

from __future__ import annotations

import asyncio

import pytest

from floorgate.core import commands as cmd
from floorgate.edge.web_ports import LiveFloor
from floorgate.edge.writer import Committed
from floorgate.web.kpis import KpiTracker
from floorgate.web.stream import StreamHub
from tests.support.batch_floor import GTINS, batch_floor, picked_batch, scan_at_wall
from tests.support.floor_commands import NOW


def committed(*, lights: list[str]) -> Committed:
    return Committed(
        events=[], instructions=[], lights=lights, orders=[], devices=[], exceptions=[], locations=[]
    )


@pytest.mark.unit
async def test_a_scan_that_lights_a_cubby_sends_its_wall_again_and_a_pick_elsewhere_does_not() -> None:
    floor = batch_floor()
    picked_batch(floor)
    hub = StreamHub(
        floor=LiveFloor(floor=lambda: floor),
        last_seq=lambda: 0,
        clock=lambda: NOW,
        kpis=KpiTracker(shift_started_at=NOW),
        coalesce_seconds=0,
    )
    client = hub.connect()
    (wall,) = hub.snapshot()["walls"]
    assert (wall["id"], wall["batch_id"]) == ("W1", None)

    scan_at_wall(floor, GTINS["SKU-1"])
    hub.on_commit(committed(lights=["W1-01"]))
    (changed,) = (await asyncio.wait_for(hub.next_message(client), 10))["walls"]
    assert changed["batch_id"] == "B1"
    assert changed["cubbies"][0]["light"]["display"] == "1"
    assert changed["screen"]["cubby"] == "W1-01"

    floor.handle(cmd.UpsertLocation(code="A-03", zone="A", module="M-A-03", sku="SKU-3", on_hand=4), NOW)
    hub.on_commit(committed(lights=["M-A-03"]))
    assert (await asyncio.wait_for(hub.next_message(client), 10))["walls"] == []
