"""Putaways and counts on the dashboard's stream: in the snapshot, and sent again in the delta of every commit
that changes them (a count's bin lit once the pick holding it is done, too), from a real writer and store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from floorgate.core import commands as cmd
from floorgate.edge.web_ports import LiveFloor
from floorgate.edge.writer import Committed
from floorgate.web.stream import StreamHub
from tests.support.clocked_writer import ClockedWriter

pytestmark = pytest.mark.integration


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[tuple[ClockedWriter, StreamHub, list[dict[str, Any]]]]:
    running = ClockedWriter(f"sqlite:///{tmp_path / 'fg.db'}", time.time())
    writer = running.writer
    hub = StreamHub(floor=LiveFloor(floor=lambda: writer.floor), last_seq=lambda: writer.last_seq)
    hub.connect()  # a dashboard watching: the hub builds a delta of every commit
    deltas: list[dict[str, Any]] = []

    def built(committed: Committed) -> None:
        # The delta of this commit, as the hub holds it for dashboards (and for one resuming from its seq).
        if committed.events:
            built_now = hub.since(committed.events[0].seq - 1)
            assert built_now, "the hub holds no delta of this commit"
            deltas.extend(built_now)

    writer.subscribe(hub.on_commit)
    writer.subscribe(built)
    for command in [
        cmd.DefineZone(zone="A"),
        cmd.UpsertItem(sku="SKU-1", description="one"),
        cmd.UpsertItem(sku="SKU-2", description="two"),
        cmd.UpsertLocation(code="A-01", zone="A", module="M-A-01", sku="SKU-1", on_hand=10),
        cmd.UpsertLocation(code="A-02", zone="A", module="M-A-02", sku="SKU-2", on_hand=5),
    ]:
        await writer.execute(command)
    yield running, hub, deltas
    await running.close()


def sent(deltas: list[dict[str, Any]], part: str, key: str) -> list[tuple[str, str]]:
    """(id, status) of every putaway or count the deltas carried, in order."""
    return [(entry[key], entry["status"]) for delta in deltas for entry in delta[part]]


async def test_putaways_and_counts_are_in_the_snapshot_and_in_each_delta_that_changes_them(
    edge: tuple[ClockedWriter, StreamHub, list[dict[str, Any]]],
) -> None:
    running, hub, deltas = edge
    writer = running.writer
    deltas.clear()

    await writer.execute(cmd.ReceivePutaway(task_id="PA-1", sku="SKU-1", qty=12, location="A-01"))
    # A-01 is lit for the putaway: the count lights A-02 now and waits for A-01.
    await writer.execute(cmd.StartCount(count_id="CC-1", zone="A", blind=True, by="supervisor"))
    assert sent(deltas, "putaways", "task_id") == [("PA-1", "lit")]
    (started,) = deltas[-1]["counts"]
    assert [(b["location"], b["status"]) for b in started["bins"]] == [("A-01", "queued"), ("A-02", "lit")]

    await writer.execute(cmd.PressButton(module="M-A-02", button=cmd.Button.CONFIRM, display="4"))
    (recorded,) = deltas[-1]["counts"]
    assert (recorded["bins_counted"], recorded["bins_with_variance"], recorded["net_adjustment"]) == (
        1,
        1,
        -1,
    )
    assert deltas[-1]["putaways"] == []

    # The putaway confirmed: its delta carries it put, and the count whose A-01 lit in its place.
    await writer.execute(cmd.PressButton(module="M-A-01", button=cmd.Button.CONFIRM, display="12"))
    assert [(p["task_id"], p["status"], p["put"]) for p in deltas[-1]["putaways"]] == [("PA-1", "put", 12)]
    (handed_on,) = deltas[-1]["counts"]
    assert [(b["location"], b["status"]) for b in handed_on["bins"]] == [("A-01", "lit"), ("A-02", "counted")]

    snapshot = hub.snapshot()
    assert [(p["task_id"], p["status"]) for p in snapshot["putaways"]] == [("PA-1", "put")]
    assert [(c["count_id"], c["status"], c["bins_counted"]) for c in snapshot["counts"]] == [
        ("CC-1", "counting", 1)
    ]
    assert snapshot["kpis"]["shift"]["bins_counted"] == 1
    assert snapshot["kpis"]["shift"]["net_adjustment"] == -1
