"""The stream hub without sockets: merging deltas, resync of a slow client, resume from a seq."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from floorgate.core import commands as cmd
from floorgate.core.floor import Floor
from floorgate.edge.store import EventRecord
from floorgate.edge.web_ports import LiveFloor
from floorgate.edge.writer import Committed
from floorgate.web.kpis import KpiTracker
from floorgate.web.stream import (
    RECENT_EVENTS,
    SNAPSHOT_EXCEPTIONS,
    StreamHub,
    TooFarBehind,
    encode,
    merge_deltas,
)

pytestmark = pytest.mark.unit

NOW = 1_700_000_000.0


def delta(seq: int, **parts: Any) -> dict[str, Any]:
    return {"type": "delta", "seq": seq, "events": parts.pop("events", []), **parts}


def test_merged_deltas_keep_every_event_in_order_and_the_latest_state_of_each_entity() -> None:
    merged = merge_deltas(
        [
            delta(
                5,
                events=[{"seq": 5}],
                locations=[{"code": "A-01", "light": {"display": "3"}}, {"code": "A-02", "light": None}],
                orders=[{"order_id": "O-1", "status": "picking"}],
                awaiting_ack={"A-01": {"seq": 1}},
            ),
            delta(6, events=[{"seq": 6}], locations=[{"code": "A-01", "light": None}]),
            delta(6, stations=[{"id": "PACK-1", "state": "weighing"}], awaiting_ack={}),
            delta(7, events=[{"seq": 7}], orders=[{"order_id": "O-1", "status": "picked"}]),
        ]
    )
    assert merged["seq"] == 7
    assert [e["seq"] for e in merged["events"]] == [5, 6, 7]
    assert {loc["code"]: loc["light"] for loc in merged["locations"]} == {"A-01": None, "A-02": None}
    assert merged["orders"] == [{"order_id": "O-1", "status": "picked"}]
    assert merged["stations"] == [{"id": "PACK-1", "state": "weighing"}]
    assert merged["exceptions"] == []
    assert merged["awaiting_ack"] == {}  # a whole map each time: the latest one wins


def make_floor() -> Floor:
    floor = Floor()
    floor.handle(cmd.DefineZone(zone="A"), NOW)
    floor.handle(cmd.UpsertLocation(code="A-01", zone="A", module="M-1", sku="S-1", on_hand=5), NOW)
    floor.handle(
        cmd.DefineStation(station="PACK-1", kind=cmd.StationKind.PACK, tolerance_g=10, tare_g=100), NOW
    )
    floor.changes.clear()
    return floor


class Edge:
    """The writer's side of the hub, by hand: commits with consecutive seqs."""

    def __init__(self, **hub_options: Any) -> None:
        self.floor = make_floor()
        self.seq = 0
        self.clock = NOW
        self.hub = StreamHub(
            floor=LiveFloor(floor=lambda: self.floor),
            last_seq=lambda: self.seq,
            clock=lambda: self.clock,
            kpis=KpiTracker(shift_started_at=NOW),
            **hub_options,
        )

    def commit(self, *types: str, locations: tuple[str, ...] = ()) -> None:
        records = []
        for event_type in types:
            self.seq += 1
            records.append(
                EventRecord(
                    seq=self.seq,
                    id=f"evt_{self.seq}",
                    type=event_type,
                    occurred_at=self.clock,
                    order_id=None,
                    data={"operator": "ann"},
                )
            )
        self.hub.on_commit(
            Committed(
                events=records,
                instructions=[],
                lights=[],
                orders=[],
                devices=[],
                exceptions=[],
                locations=list(locations),
            )
        )


async def test_a_client_that_falls_behind_gets_a_snapshot_while_others_get_every_delta() -> None:
    edge = Edge(client_queue=3, coalesce_seconds=0)
    slow = edge.hub.connect()
    fast = edge.hub.connect()
    received: list[int] = []
    for _ in range(10):
        edge.commit("pick.confirmed")
        message = await edge.hub.next_message(fast)  # the fast client keeps up
        received += [e["seq"] for e in message["events"]]

    assert received == list(range(1, 11))
    assert slow.resync  # its queue overflowed and the hub stopped filling it: the edge never waited
    catch_up = await edge.hub.next_message(slow)
    assert catch_up["type"] == "snapshot"
    assert catch_up["seq"] == 10
    assert catch_up["kpis"]["shift"]["lines"] == 10
    assert edge.hub.stats.resyncs == 1
    edge.commit("pick.short")
    after = await edge.hub.next_message(slow)  # back to deltas after the snapshot
    assert after["type"] == "delta"
    assert [e["seq"] for e in after["events"]] == [11]


async def test_every_client_that_keeps_up_is_sent_the_one_text_its_flush_encoded() -> None:
    edge = Edge(coalesce_seconds=0)
    clients = [edge.hub.connect() for _ in range(3)]
    edge.commit("pick.confirmed", locations=("A-01",))
    texts = [await asyncio.wait_for(edge.hub.next_text(c), timeout=2) for c in clients]
    assert texts[0] is texts[1] is texts[2]
    assert [e["seq"] for e in json.loads(texts[0])["events"]] == [1]


async def test_a_client_behind_by_several_flushes_gets_them_as_one_message_with_every_event() -> None:
    edge = Edge(coalesce_seconds=0)
    behind = edge.hub.connect()
    keeping_up = edge.hub.connect()
    for _ in range(4):
        edge.commit("pick.confirmed", locations=("A-01",))
        await asyncio.wait_for(edge.hub.next_message(keeping_up), timeout=2)  # one flush each
    assert len(behind.backlog) == 4
    message = await asyncio.wait_for(edge.hub.next_message(behind), timeout=2)
    assert [e["seq"] for e in message["events"]] == [1, 2, 3, 4]
    assert [loc["code"] for loc in message["locations"]] == ["A-01"]  # its latest state, once
    assert not behind.backlog


async def test_a_client_that_falls_behind_again_soon_after_a_resync_is_closed() -> None:
    edge = Edge(client_queue=2, coalesce_seconds=0)
    slow = edge.hub.connect()
    fast = edge.hub.connect()

    async def overflow() -> None:
        for _ in range(3):
            edge.commit("pick.confirmed")
            await asyncio.wait_for(edge.hub.next_message(fast), timeout=2)
        assert slow.resync

    await overflow()
    assert (await edge.hub.next_message(slow))["type"] == "snapshot"
    await overflow()
    with pytest.raises(TooFarBehind):
        await edge.hub.next_message(slow)
    assert edge.hub.stats.resyncs == 1


async def test_deltas_that_arrive_within_the_window_are_sent_as_one_message() -> None:
    edge = Edge(coalesce_seconds=0.05)
    client = edge.hub.connect()
    for _ in range(5):
        edge.commit("pick.confirmed", locations=("A-01",))
    message = await asyncio.wait_for(edge.hub.next_message(client), timeout=2)
    assert [e["seq"] for e in message["events"]] == [1, 2, 3, 4, 5]
    assert [loc["code"] for loc in message["locations"]] == ["A-01"]
    assert message["kpis"]["last_15m"]["lines"] == 5
    assert not client.backlog


def test_resume_sends_what_was_missed_or_asks_for_a_resync() -> None:
    edge = Edge(history=3)
    edge.hub.disconnect(edge.hub.connect())  # a dashboard whose connection dropped: it will resume
    for _ in range(5):
        edge.commit("pick.confirmed")
    assert edge.hub.since(5) == []
    assert [d["seq"] for d in edge.hub.since(3) or []] == [4, 5]
    assert [d["seq"] for d in edge.hub.since(2) or []] == [3, 4, 5]
    assert edge.hub.since(1) is None  # the hub no longer holds seq 2: resync
    assert edge.hub.since(99) is None  # a seq this edge never committed: resync


async def test_an_edge_nobody_watches_builds_no_deltas_and_a_new_client_gets_a_snapshot() -> None:
    edge = Edge()
    edge.commit("pick.confirmed")
    assert edge.hub.since(0) is None

    edge.hub.connect()
    edge.commit("pick.confirmed")
    assert [d["seq"] for d in edge.hub.since(1) or []] == [2]


def test_a_snapshot_starts_its_feed_with_the_last_events_even_those_no_client_watched() -> None:
    """An edge that has just taken over (or started) commits before any dashboard reconnects: the first
    snapshot still shows those events, the last RECENT_EVENTS of them, oldest first."""
    edge = Edge()
    edge.commit("edge.took_over")
    edge.commit("pick.confirmed", "line.completed")
    feed = edge.hub.snapshot()["recent_events"]
    assert [(e["seq"], e["type"]) for e in feed] == [
        (1, "edge.took_over"),
        (2, "pick.confirmed"),
        (3, "line.completed"),
    ]
    for _ in range(RECENT_EVENTS):
        edge.commit("pick.confirmed")
    feed = edge.hub.snapshot()["recent_events"]
    assert [e["seq"] for e in feed] == list(range(edge.seq - RECENT_EVENTS + 1, edge.seq + 1))


def test_deltas_are_kept_for_a_grace_period_after_the_last_client_left() -> None:
    edge = Edge()
    edge.hub.disconnect(edge.hub.connect())
    edge.clock += edge.hub.resume_grace_seconds - 1
    edge.commit("pick.confirmed")
    assert [d["seq"] for d in edge.hub.since(0) or []] == [1]
    edge.clock += 2
    edge.commit("pick.confirmed")
    assert edge.hub.since(0) is None


def test_a_snapshot_never_claims_a_seq_whose_delta_was_not_sent() -> None:
    edge = Edge()
    edge.commit("pick.confirmed")
    edge.seq = 7  # the writer numbered a batch it is still committing
    assert edge.hub.snapshot()["seq"] == 1


async def test_a_scale_reading_shows_in_the_delta_even_without_an_event() -> None:
    edge = Edge(coalesce_seconds=0)
    client = edge.hub.connect()
    edge.floor.handle(cmd.RecordWeight(station="PACK-1", grams=250.0, stable=False, scale="S-1"), NOW)
    edge.commit()
    sent = await asyncio.wait_for(edge.hub.next_message(client), timeout=2)
    assert [s["id"] for s in sent["stations"]] == ["PACK-1"]
    assert sent["stations"][0]["scale"]["grams"] == 250.0
    edge.commit()
    again = await asyncio.wait_for(edge.hub.next_message(client), timeout=2)
    assert again["stations"] == []  # unchanged: not sent again


async def test_the_ticker_offers_waiting_acks_to_every_client() -> None:
    edge = Edge()
    edge.hub.pending_commands = lambda: {"M-1": {"seq": 3, "attempts": 2, "age_s": 1.5}}
    clients = [edge.hub.connect(), edge.hub.connect()]
    edge.hub.tick()
    tick, other = [await asyncio.wait_for(edge.hub.next_message(c), timeout=2) for c in clients]
    assert other is tick  # one message for every client
    assert tick["awaiting_ack"] == {"M-1": {"seq": 3, "attempts": 2, "age_s": 1.5}}
    assert tick["events"] == []


def test_a_snapshot_carries_the_newest_open_exceptions_up_to_its_bound_and_says_how_many_it_left_out() -> (
    None
):
    edge = Edge()
    for n in range(SNAPSHOT_EXCEPTIONS + 3):
        edge.floor.handle(cmd.RaiseException(kind="k", message=f"m{n}", device=f"d{n}"), NOW)

    snapshot = edge.hub.snapshot()

    ids = [x["id"] for x in snapshot["exceptions"]]
    assert len(ids) == SNAPSHOT_EXCEPTIONS
    assert ids == sorted(x.id for x in edge.floor.exceptions.values())[3:]
    assert snapshot["exceptions_omitted"] == 3


def test_a_flood_of_unknown_module_ids_leaves_the_snapshot_the_size_of_the_site() -> None:
    edge = Edge()
    before = len(encode(edge.hub.snapshot()))
    for n in range(2000):
        edge.floor.handle(cmd.PressButton(module=f"U-{n}", button=cmd.Button.CONFIRM, display="1"), NOW)
        edge.floor.handle(cmd.ReportDeviceStatus(device=f"V-{n}", kind="ptl", online=True), NOW)

    snapshot = edge.hub.snapshot()

    assert [d["id"] for d in snapshot["devices"]] == ["M-1"]
    assert [x["kind"] for x in snapshot["exceptions"]] == ["unknown_module"]
    assert len(encode(snapshot)) < before + 2000


def test_a_kpi_recount_adds_what_committed_while_it_ran_and_counts_each_event_once() -> None:
    edge = Edge()
    edge.hub.recount_kpis()
    edge.commit("pick.confirmed", "pick.short")  # committed while the log is being counted again
    recounted = KpiTracker(shift_started_at=NOW)
    recounted.record_all([("pick.confirmed", {"operator": "ann"}, NOW)] * 3)  # what the log held before

    edge.hub.adopt_kpis(recounted)
    edge.commit("pick.confirmed")

    shift = edge.hub.kpi_view()["shift"]
    assert (shift["lines"], shift["shorts"]) == (6, 1)
