"""A raw MQTT client that records what crosses the bus, for exact assertions on topics and payloads."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.firmware_sim.mqtt_client import make_client


@dataclass(frozen=True)
class Seen:
    topic: str
    payload: bytes
    retain: bool
    qos: int

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class MqttObserver:
    url: str
    topic_filter: str
    messages: list[Seen] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _client: aiomqtt.Client | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> MqttObserver:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), timeout=10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        async with make_client(MqttEndpoint.from_url(self.url)) as client:
            self._client = client
            await client.subscribe(self.topic_filter, qos=1)
            self._ready.set()
            async for message in client.messages:
                payload = (
                    message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
                )
                self.messages.append(
                    Seen(str(message.topic), payload, bool(message.retain), int(message.qos))
                )

    async def publish(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False) -> None:
        assert self._client is not None
        await self._client.publish(topic, payload, qos=qos, retain=retain)

    def on(self, topic: str) -> list[Seen]:
        return [m for m in self.messages if m.topic == topic]
