"""The health probes and /metrics over a real writer and SQLite store, with the edge's facts switched by hand:
the broker lost, the edge stopping, presses and device faults handed in as the adapters hand them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from floorgate.core import commands as cmd
from floorgate.edge.web_ports import LiveFloor, web_context
from floorgate.edge.writer import Writer
from floorgate.web.app import create_app
from floorgate.web.stream import StreamHub
from tests.support.clocked_writer import ClockedWriter
from tests.support.prometheus import Exposition, read_exposition
from tests.support.rest_api import TOKENS, auth
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


@dataclass
class Edge:
    """What the probes are asked about, switched by the test."""

    client: httpx.AsyncClient
    writer: Writer
    connected: bool = True
    stopping: bool = False
    lights_sent: int = 0

    async def probe(self, path: str) -> tuple[int, dict[str, object]]:
        response = await self.client.get(path)
        return response.status_code, response.json()

    async def metrics(self) -> Exposition:
        response = await self.client.get("/metrics", headers=auth("v"))
        assert response.status_code == 200, response.text
        return read_exposition(response.text)


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[Edge]:
    running = ClockedWriter(f"sqlite:///{tmp_path / 'fg.db'}", time.time())
    writer = running.writer
    hub = StreamHub(floor=LiveFloor(floor=lambda: writer.floor), last_seq=lambda: writer.last_seq)
    writer.subscribe(hub.on_commit)
    holder: list[Edge] = []

    def count_lights(committed: object) -> None:
        holder[0].lights_sent += len(getattr(committed, "instructions", []))

    writer.subscribe(count_lights)
    app = create_app(
        web_context(
            site_id="t",
            edge_id="e",
            writer=writer,
            store=running.store,
            tokens=TOKENS,
            hub=hub,
            mqtt_connected=lambda: holder[0].connected,
            inactive=lambda: "the edge is stopping" if holder[0].stopping else None,
        )
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://edge") as client:
        holder.append(Edge(client=client, writer=writer))
        yield holder[0]
    await running.close()


async def test_live_stays_200_while_ready_and_healthz_are_503_naming_the_broker(edge: Edge) -> None:
    assert (await edge.probe("/healthz/ready"))[0] == 200
    edge.connected = False
    for path in ("/healthz/ready", "/healthz", "/api/v1/healthz/ready"):
        status, body = await edge.probe(path)
        assert status == 503, (path, body)
        assert body["problems"] == ["mqtt: not connected"], (path, body)
    status, body = await edge.probe("/healthz/live")
    assert status == 200, body
    assert body["status"] == "live"
    assert (await edge.metrics()).value("floorgate_mqtt_connected") == 0


async def test_an_edge_that_is_stopping_is_not_ready_but_still_live(edge: Edge) -> None:
    edge.stopping = True
    status, body = await edge.probe("/healthz/ready")
    assert status == 503
    assert body["problems"] == ["edge: the edge is stopping"]
    assert (await edge.probe("/healthz/live"))[0] == 200


async def test_presses_are_timed_to_their_light_and_device_messages_counted_by_class(edge: Edge) -> None:
    writer = edge.writer
    await writer.execute(cmd.DefineZone(zone="A"))
    await writer.execute(cmd.UpsertLocation(code="A-01", zone="A", module="M-1", sku="S-1", on_hand=5))
    before = await edge.metrics()
    assert before.value("floorgate_press_to_light_seconds_count") == 0
    for n in range(3):
        await writer.submit(cmd.PressButton(message_id=f"p-{n}", module="M-1", button=cmd.Button.CONFIRM))
    await writer.submit(cmd.PressButton(message_id="p-0", module="M-1", button=cmd.Button.CONFIRM))
    await writer.submit(cmd.RecordDeviceFault(device="M-1", kind="ptl", reason="not JSON"))
    await wait_until(lambda: writer.backlog == 0 and writer.stats.commands >= 7, what="the writer idle")
    await wait_until(lambda: edge.lights_sent >= 3, what="each press answered with a light")

    after = await edge.metrics()
    # The repeat of p-0 is a duplicate: counted as a message that arrived, never timed as a second press.
    assert after.value("floorgate_press_to_light_seconds_count") == 3
    assert after.value("floorgate_press_to_light_seconds_bucket", le="+Inf") == 3
    assert after.value("floorgate_press_to_light_seconds_sum") > 0
    assert after.value("floorgate_device_messages_total", **{"class": "ptl"}) == 5
    assert after.value("floorgate_device_malformed_total", **{"class": "ptl"}) == 1
    assert after.value("floorgate_device_messages_total", **{"class": "scanner"}) == 0
    assert after.value("floorgate_commit_seconds_count") > before.value("floorgate_commit_seconds_count")
