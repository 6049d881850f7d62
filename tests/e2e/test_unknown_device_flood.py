"""A flood of invented device ids through a real broker into `floorgate run`: reported, never grown into state.

Anyone on the broker can publish under a module, scanner or scale id of their choosing. What such ids
send folds into one open exception per kind; they never become devices, the event log and the dashboard's
snapshot stay the size of the site, and a restart keeps that shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from floorgate.devices.ptl.codec import PtlTopic, ptl_topic
from floorgate.devices.scales.mqtt_scale import weight_topic
from floorgate.devices.scanners.mqtt_scanner import scanner_topic
from tests.support.brokers import Mosquitto
from tests.support.edge_process import TOKENS, EdgeProcess
from tests.support.master_data import seed_master_data
from tests.support.mqtt_observer import MqttObserver
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

IDS = 300  # invented ids per kind of message; five kinds: 1,500 messages
LISTED = 10  # core/exception_book.py UNKNOWN_DEVICES_LISTED
STATIONS = """
[[stations]]
id = "START-A"
kind = "zone"
zone = "A"
scanner = { transport = "mqtt", id = "SCAN-1" }

[[stations]]
id = "PACK-1"
kind = "pack"
scale = { transport = "mqtt", id = "SCALE-1" }
"""


def flood(site: str) -> list[tuple[str, bytes]]:
    messages: list[tuple[str, bytes]] = []
    for n in range(IDS):
        messages += [
            (
                ptl_topic(site, f"U-{n}", PtlTopic.EVENT),
                json.dumps({"id": f"e{n}", "button": "confirm"}).encode(),
            ),
            (ptl_topic(site, f"V-{n}", PtlTopic.STATUS), b"online"),
            (ptl_topic(site, f"W-{n}", PtlTopic.ACK), b'{"seq": 1}'),
            (ptl_topic(site, f"Z-{n}", PtlTopic.EVENT), b"{not json"),
            (scanner_topic(site, f"SC-{n}"), json.dumps({"id": f"s{n}", "data": "X"}).encode()),
            (weight_topic(site, f"SW-{n}"), b'{"id": "w", "grams": 1, "stable": true}'),
        ]
    return messages


def open_by_kind(api: httpx.Client) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for x in api.get("/exceptions").json():
        found.setdefault(x["kind"], []).append(x)
    return found


def counts(api: httpx.Client) -> dict[str, int]:
    return {kind: sum(x["count"] for x in xs) for kind, xs in open_by_kind(api).items()}


async def snapshot_text(edge: EdgeProcess) -> str:
    url = f"ws://127.0.0.1:{edge.http_port}/api/v1/stream?token={TOKENS['viewer']}"
    async with websockets.connect(url, max_size=None) as ws:
        text = await ws.recv()
    assert isinstance(text, str)
    assert json.loads(text)["type"] == "snapshot"
    return text


def check_folded(api: httpx.Client, *, devices: int, last_seq: int) -> None:
    listed = api.get("/devices")
    assert len(listed.json()) == devices, [d["id"] for d in listed.json()]
    assert listed.headers["X-Total-Count"] == str(devices)
    found = open_by_kind(api)
    assert {kind: len(xs) for kind, xs in found.items()} == {
        "unknown_module": 1,
        "device_fault": 1,
        "unexpected_scan": 1,
    }
    (module,) = found["unknown_module"]
    assert module["count"] == 2 * IDS  # a press and a status for each of U-n and V-n
    latest = [m for n in range(IDS - LISTED // 2, IDS) for m in (f"U-{n}", f"V-{n}")]
    assert module["detail"]["unknown_devices"] == latest
    assert module["detail"]["unlisted_devices"] == 2 * IDS - LISTED
    assert module["device"] == f"V-{IDS - 1}"
    (fault,) = found["device_fault"]
    assert (fault["count"], fault["device"]) == (IDS, f"Z-{IDS - 1}")
    (scan,) = found["unexpected_scan"]
    assert (scan["count"], scan["device"]) == (IDS, f"SC-{IDS - 1}")
    assert api.get("/events", params={"after": 0, "limit": 1}).json()["last_seq"] == last_seq


async def test_a_flood_of_unknown_ids_folds_into_one_exception_per_kind_and_grows_nothing_even_after_restart(
    tmp_path: Path, mosquitto: Mosquitto, site: str
) -> None:
    edge = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=mosquitto.url, extra_site=STATIONS).start()
    try:
        with edge.client("erp") as erp:
            seed_master_data(erp)
            devices_before = len(erp.get("/devices").json())
            seq_before = erp.get("/events", params={"limit": 1}).json()["last_seq"]
        snapshot_before = len(await snapshot_text(edge))

        async with MqttObserver(mosquitto.url, f"floorgate/{site}/none") as publisher:
            # One after another on one connection, so the edge reads them in this order.
            for topic, payload in flood(site):
                await publisher.publish(topic, payload)

        with edge.client("viewer") as viewer:
            want = {"unknown_module": 2 * IDS, "device_fault": IDS, "unexpected_scan": IDS}
            await wait_until(lambda: counts(viewer) == want, timeout=60, what=f"every report counted: {want}")
            # One exception.raised per kind, not one event (and webhook) per invented id.
            check_folded(viewer, devices=devices_before, last_seq=seq_before + 3)
        assert len(await snapshot_text(edge)) < snapshot_before + 8000

        assert edge.stop() == 0, edge.logs()[-3000:]
        edge.start()
        with edge.client("viewer") as viewer:
            check_folded(viewer, devices=devices_before, last_seq=seq_before + 3)
        assert len(await snapshot_text(edge)) < snapshot_before + 8000

        # The restored exception goes on folding: one more id counts on it, with no new event.
        async with MqttObserver(mosquitto.url, f"floorgate/{site}/none") as publisher:
            await publisher.publish(ptl_topic(site, "U-NEW", PtlTopic.STATUS), b"offline")
        with edge.client("viewer") as viewer:
            (module,) = await wait_until(
                lambda: [x for x in viewer.get("/exceptions").json() if x["device"] == "U-NEW"],
                what="the new id folded in",
            )
            assert module["count"] == 2 * IDS + 1
            assert viewer.get("/events", params={"limit": 1}).json()["last_seq"] == seq_before + 3
    finally:
        edge.stop()
