"""A real edge's /healthz/live, /healthz/ready and /metrics, read as a probe and as Prometheus read them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from floorgate.core.commands import Button
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.firmware_sim.ptl_modules import ModuleBank
from floorgate.web.metrics import SERIES
from tests.support.brokers import Mosquitto
from tests.support.edge_process import TOKENS, EdgeProcess
from tests.support.master_data import ORDER, seed_master_data
from tests.support.mqtt_observer import MqttObserver
from tests.support.prometheus import Exposition, read_exposition
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

EDGE_START_WITHIN = 60.0
# Generous: other work may load the machine, and the edge's reconnect backoff grows to 10 s.
RECONNECT_WITHIN = 40.0
# A pack station whose scanner and scale speak MQTT, so one test can feed every device class.
PACK_STATION = """
[[stations]]
id = "PACK-1"
kind = "pack"
scanner = { transport = "mqtt", id = "scan-1" }
scale = { transport = "mqtt", id = "scale-1" }
"""


def metrics(edge: EdgeProcess) -> Exposition:
    response = httpx.get(
        f"{edge.base_url}/metrics", headers={"Authorization": f"Bearer {TOKENS['viewer']}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return read_exposition(response.text)


def probe(edge: EdgeProcess, path: str) -> tuple[int, dict[str, object]]:
    response = httpx.get(f"{edge.base_url}{path}", timeout=10)
    return response.status_code, response.json()


async def test_metrics_describe_every_family_and_count_presses_scans_weights_and_malformed_frames(
    tmp_path: Path, mosquitto: Mosquitto, site: str
) -> None:
    edge = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=mosquitto.url, extra_site=PACK_STATION)
    await asyncio.to_thread(edge.start, timeout=EDGE_START_WITHIN)
    try:
        async with (
            ModuleBank(MqttEndpoint.from_url(mosquitto.url), site, ("M-A-01", "M-A-02")) as bank,
            MqttObserver(mosquitto.url, f"floorgate/{site}/+/+/cmd") as mqtt,
        ):
            with edge.client("erp") as erp:
                seed_master_data(erp)
                assert erp.post("/orders", json=ORDER).status_code == 201
                assert erp.post("/orders/O-1/start", json={"zone": "A"}).status_code == 200
            await wait_until(
                lambda: bank.state("M-A-01").display == "3" and bank.state("M-A-02").display == "2",
                timeout=20,
                what="both bins lit",
            )
            before = metrics(edge)
            # Every family the edge declares is published, and nothing it does not declare.
            assert before.declared() == set(SERIES), before.declared() ^ set(SERIES)
            assert before.value("floorgate_mqtt_connected") == 1

            await bank.press("M-A-01", Button.CONFIRM)
            await bank.press("M-A-02", Button.CONFIRM)
            prefix = f"floorgate/{site}"
            await mqtt.publish(f"{prefix}/scanner/scan-1/scan", '{"id": "s-1", "data": "O-1"}')
            await mqtt.publish(f"{prefix}/scanner/scan-1/scan", b"not json")
            await mqtt.publish(
                f"{prefix}/scale/scale-1/weight", '{"id": "w-1", "grams": 500, "stable": true}'
            )
            await mqtt.publish(f"{prefix}/ptl/M-A-03/event", b'{"id": "x", "button": "sneeze"}')

            def grown(sample: str, by: int, **labels: str) -> bool:
                return metrics(edge).value(sample, **labels) >= before.value(sample, **labels) + by

            await wait_until(
                lambda: (
                    grown("floorgate_press_to_light_seconds_count", 2)
                    and grown("floorgate_device_malformed_total", 1, **{"class": "scanner"})
                    and grown("floorgate_device_malformed_total", 1, **{"class": "ptl"})
                    and grown("floorgate_device_messages_total", 1, **{"class": "scale"})
                ),
                timeout=20,
                what="the presses, the scans, the weight and the malformed frames counted",
            )
            after = metrics(edge)
    finally:
        await asyncio.to_thread(edge.stop)

    def growth(sample: str, **labels: str) -> float:
        return after.value(sample, **labels) - before.value(sample, **labels)

    # Each press is answered once: a module's repeat of the same press is a duplicate, never a second light.
    assert growth("floorgate_press_to_light_seconds_count") == 2
    assert growth("floorgate_press_to_light_seconds_sum") > 0
    assert growth("floorgate_press_to_light_seconds_bucket", le="+Inf") == 2
    assert growth("floorgate_commit_seconds_count") >= 2
    # A module may send its press again until it sees the light: device messages count what arrived.
    assert growth("floorgate_device_messages_total", **{"class": "ptl"}) >= 3  # two presses, one fault
    assert growth("floorgate_device_messages_total", **{"class": "scanner"}) == 2  # a scan and a fault
    assert growth("floorgate_device_malformed_total", **{"class": "scanner"}) == 1
    assert growth("floorgate_device_malformed_total", **{"class": "scale"}) == 0
    assert growth("floorgate_events_total") > 0


async def test_with_the_broker_stopped_the_edge_is_live_but_not_ready_and_names_the_broker(
    tmp_path: Path, fresh_mosquitto: Mosquitto, site: str
) -> None:
    edge = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=fresh_mosquitto.url)
    await asyncio.to_thread(edge.start, timeout=EDGE_START_WITHIN)
    try:
        assert probe(edge, "/healthz/ready")[0] == 200
        assert probe(edge, "/healthz/live")[0] == 200

        await asyncio.to_thread(fresh_mosquitto.stop)
        _, ready = await wait_until(
            lambda: (answer := probe(edge, "/healthz/ready"))[0] == 503 and answer,
            timeout=RECONNECT_WITHIN,
            what="/healthz/ready answering 503 with the broker stopped",
        )
        assert ready["problems"] == ["mqtt: not connected"], ready
        assert ready["status"] == "degraded"
        # The first name answers as readiness does; both answer under /api/v1 as well.
        healthz_status, healthz = probe(edge, "/healthz")
        assert (healthz_status, healthz["problems"]) == (503, ready["problems"])
        assert probe(edge, "/api/v1/healthz/ready")[0] == 503
        live_status, live = probe(edge, "/healthz/live")
        assert live_status == 200, live
        assert live["status"] == "live"
        assert probe(edge, "/api/v1/healthz/live")[0] == 200
        assert metrics(edge).value("floorgate_mqtt_connected") == 0

        await asyncio.to_thread(fresh_mosquitto.start)
        await wait_until(
            lambda: probe(edge, "/healthz/ready")[0] == 200,
            timeout=RECONNECT_WITHIN,
            what="/healthz/ready answering 200 once the broker is back",
        )
        assert metrics(edge).value("floorgate_mqtt_connected") == 1
    finally:
        await asyncio.to_thread(edge.stop)
