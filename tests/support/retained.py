"""What a broker retains right now, read as the edge reads it, and retained commands planted by hand.

`retained_now` runs the edge's own retained scan (`floorgate.devices.mqtt.scan`) on a connection of its
own: subscribe, publish a marker, keep what arrives flagged retained before the marker comes back. `plant`
is `mosquitto_pub -r` itself (`mosquitto_pub` publishes without -r) (the mosquitto-clients package), as a person at the broker would do it.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from urllib.parse import urlsplit

from floorgate.devices.mqtt.connection import MqttConnection
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.mqtt.scan import RetainedScan
from floorgate.devices.mqtt.wire import Publish


async def retained_now(url: str, topic_filter: str, *, within: float = 10.0) -> dict[str, bytes]:
    """Topic -> payload of every message retained under `topic_filter` at `url`."""
    scans: list[RetainedScan] = []

    def on_message(message: Publish) -> None:
        if scans:
            scans[0].take(message)

    connection = await MqttConnection.open(
        MqttEndpoint.from_url(url), client_id=f"retained-{uuid.uuid4().hex[:10]}", on_message=on_message
    )
    try:
        scan = RetainedScan(topic_filter, f"test/retained/{uuid.uuid4().hex}")
        scans.append(scan)
        await scan.run(connection, within=within, broker=url)
        return dict(scan.found)
    finally:
        await connection.disconnect(2.0)


def plant(url: str, topic: str, payload: str) -> None:
    """Publish a retained message with `mosquitto_pub -r` (QoS 1, so it is stored before it returns)."""
    mosquitto_pub(url, topic, payload, retain=True)


def mosquitto_pub(url: str, topic: str, payload: str, *, retain: bool = False) -> None:
    """Publish one message at QoS 1 with `mosquitto_pub`, as a person (or a module) at the broker would."""
    binary = shutil.which("mosquitto_pub")
    if binary is None:
        raise RuntimeError("mosquitto_pub is not installed: apt-get install mosquitto-clients")
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", str(parts.port or 1883)
    subprocess.run(
        [binary, "-h", host, "-p", port, "-q", "1", *(["-r"] if retain else []), "-t", topic, "-m", payload],
        check=True,
        timeout=10,
        capture_output=True,
    )


async def plant_async(url: str, topic: str, payload: str) -> None:
    await asyncio.to_thread(plant, url, topic, payload)
