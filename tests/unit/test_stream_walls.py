"""The stream hub and a refused scan at a put wall: it lights nothing, yet its wall goes out in red."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from floorgate.core.floor import Floor, Outcome
from floorgate.edge.store import EventRecord
from floorgate.edge.web_ports import LiveFloor
from floorgate.edge.writer import Committed
from floorgate.web.kpis import KpiTracker
from floorgate.web.stream import StreamHub
from tests.support.batch_floor import GTINS, batch_floor, picked_batch, scan_at_wall
from tests.support.floor_commands import NOW

pytestmark = pytest.mark.unit


class WallEdge:
    """A floor with batch B1 picked for wall W1, and a hub that is told of each outcome as a commit, with a
    dashboard connected to it."""

    def __init__(self) -> None:
        self.floor: Floor = batch_floor()
        picked_batch(self.floor)
        self.seq = 0
        self.hub = StreamHub(
            floor=LiveFloor(floor=lambda: self.floor),
            last_seq=lambda: self.seq,
            clock=lambda: NOW,
            kpis=KpiTracker(shift_started_at=NOW),
            coalesce_seconds=0,
        )
        self.client = self.hub.connect()

    async def commit(self, outcome: Outcome) -> dict[str, Any]:
        records = []
        for event in outcome.events:
            self.seq += 1
            records.append(
                EventRecord(
                    seq=self.seq,
                    id=f"evt_{self.seq}",
                    type=event.TYPE,
                    occurred_at=NOW,
                    order_id=event.order_id,
                    data=event.payload(),
                )
            )
        self.hub.on_commit(
            Committed(
                events=records, instructions=[], lights=[], orders=[], devices=[], exceptions=[], locations=[]
            )
        )
        return await asyncio.wait_for(self.hub.next_message(self.client), 10)  # what a dashboard is sent


async def test_a_wrong_scan_reaches_the_stream_as_the_walls_error() -> None:
    edge = WallEdge()
    await edge.commit(scan_at_wall(edge.floor, GTINS["SKU-1"]))

    delta = await edge.commit(scan_at_wall(edge.floor, GTINS["SKU-4"]))

    [wall] = delta["walls"]
    assert [e["type"] for e in delta["events"]] == ["put.rejected"]
    assert wall["screen"]["error"] is True
    assert wall["screen"]["cubby"] is None
