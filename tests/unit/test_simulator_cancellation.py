"""Simulators stop when cancelled, even when the MQTT client's publish swallows the cancellation.

aiomqtt's `publish` waits with Python 3.11's `wait_for`, which loses a cancellation that arrives as the
broker's acknowledgement does. A simulated scale then published for ever under the test that had cancelled
it, and the test hung until pytest's timeout.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.firmware_sim import scales
from floorgate.firmware_sim.scales import MqttScale, Platform
from tests.support.swallowing_mqtt_client import SwallowingClient

pytestmark = pytest.mark.unit


async def test_a_simulated_scale_stops_when_cancelled_even_if_its_publish_swallowed_the_cancellation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = SwallowingClient()
    monkeypatch.setattr(scales, "make_client", lambda endpoint, identifier=None: client)
    platform = Platform(unit="g", division=Decimal("0.1"), settle_s=0.0, noise_g=0.0)
    scale = MqttScale(MqttEndpoint(host="127.0.0.1", port=1883), "site", "SCALE-1", platform, interval=0.01)
    task = asyncio.create_task(scale.run())
    await asyncio.wait_for(client.publishing.wait(), timeout=2.0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2.0)
    if task not in done:  # leave nothing running behind the failure
        client.swallow = False
        task.cancel()
        await asyncio.wait({task}, timeout=2.0)
    assert task in done, "the simulated scale went on publishing after it was cancelled"
    assert task.cancelled()
