"""The stream hub and the put walls: a snapshot carries every wall, a delta the walls a commit changed."""

from __future__ import annotations

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
        )
        self.client = self.hub.connect()

    def commit(self, outcome: Outcome) -> dict[str, Any]:
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
        return self.client.queue.get_nowait()  # the delta offered to a dashboard


def cubby_states(view: dict[str, Any]) -> dict[str, str]:
    return {c["cubby"]: c["state"] for c in view["cubbies"]}


def test_a_snapshot_carries_every_wall_with_its_cubbies_free_before_the_sort() -> None:
    edge = WallEdge()
    [wall] = edge.hub.snapshot()["walls"]
    assert wall["id"] == "W1"
    assert wall["batch_id"] is None
    assert set(cubby_states(wall).values()) == {"free"}


def test_a_scan_at_the_wall_sends_the_wall_again_and_a_commit_that_leaves_it_alone_does_not() -> None:
    edge = WallEdge()
    edge.hub.snapshot()

    delta = edge.commit(scan_at_wall(edge.floor, GTINS["SKU-1"]))

    [wall] = delta["walls"]
    assert wall["batch_id"] == "B1"
    assert wall["screen"]["cubby"] == "W1-01"
    assert wall["screen"]["qty"] == 1
    assert cubby_states(wall) == {"W1-01": "filling", "W1-02": "filling", "W1-03": "filling", "W1-04": "free"}
    assert edge.commit(Outcome())["walls"] == []


def test_a_wrong_scan_reaches_the_stream_as_the_walls_error() -> None:
    edge = WallEdge()
    edge.commit(scan_at_wall(edge.floor, GTINS["SKU-1"]))

    delta = edge.commit(scan_at_wall(edge.floor, GTINS["SKU-4"]))

    [wall] = delta["walls"]
    assert [e["type"] for e in delta["events"]] == ["put.rejected"]
    assert wall["screen"]["error"] is True
    assert wall["screen"]["cubby"] is None
