"""A loop that catches its client's errors still stops when its task is cancelled (raise_if_cancelling)."""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest

from floorgate.devices.cancellation import raise_if_cancelling

pytestmark = pytest.mark.unit


async def test_a_reconnect_loop_stops_when_its_cancellation_surfaces_as_an_mqtt_error() -> None:
    reconnects = 0

    async def reconnect_loop() -> None:
        nonlocal reconnects
        # One round at most, so that a loop which swallows the cancellation ends by itself and this
        # test fails instead of hanging.
        while reconnects < 1:
            try:
                try:
                    await asyncio.Event().wait()
                finally:
                    # What aiomqtt's __aexit__ does when a cancelled client's disconnect fails.
                    raise aiomqtt.MqttError("disconnected while stopping")
            except aiomqtt.MqttError:
                raise_if_cancelling()
                reconnects += 1

    task = asyncio.create_task(reconnect_loop())
    await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert task in done
    assert task.cancelled()
    assert reconnects == 0
