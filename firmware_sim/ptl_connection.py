"""One MQTT connection of a simulated module bank (firmware_sim/ptl_modules.py) and the modules it carries."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import aiomqtt

from floorgate.devices.cancellation import raise_if_cancelling

# QoS 1 publishes in flight per connection. aiomqtt scans every pending call on each publish, so an
# unbounded burst (thousands of acks or statuses) turns quadratic and floods its "pending publish
# calls" warning (shown above 10); paho keeps at most 20 QoS 1 messages in flight anyway.
PUBLISH_WINDOW = 10


@dataclass(kw_only=True, slots=True)
class BankConnection:
    """One MQTT connection and the modules it carries; its will covers `modules[0]` only."""

    index: int
    identifier: str
    modules: tuple[str, ...]
    members: frozenset[str]
    client: aiomqtt.Client | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # connected, subscribed, announced
    alive: asyncio.Event = field(default_factory=asyncio.Event)  # cleared by kill(), set by revive()
    window: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(PUBLISH_WINDOW))
    killed: bool = False
    task: asyncio.Task[None] | None = None

    @property
    def label(self) -> str:
        first = self.modules[0]
        return first if len(self.modules) == 1 else f"c{self.index} ({first} +{len(self.modules) - 1})"

    async def publish(
        self, client: aiomqtt.Client, topic: str, payload: bytes, *, retain: bool = False
    ) -> None:
        """Publish at QoS 1 within the connection's window; the broker's PUBACK ends the wait."""
        async with self.window:
            await client.publish(topic, payload, qos=1, retain=retain)
        raise_if_cancelling()
