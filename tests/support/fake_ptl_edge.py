"""A fake of the edge's end of the PTL topics, on a raw aiomqtt client: it publishes cmds as the edge does
and records every message the modules send, so simulator tests check the wire contract itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt

from floorgate.devices.ptl.codec import PtlTopic, parse_ptl_topic, ptl_topic


@dataclass(frozen=True, kw_only=True)
class Received:
    module: str
    kind: PtlTopic
    payload: bytes
    qos: int

    def json(self) -> Any:
        return json.loads(self.payload)


class FakeEdge:
    """The edge's end of the PTL topics on a raw client: sends cmds, records every module message.

    It subscribes at QoS 2, so a recorded `qos` is exactly the QoS the module published with.
    `react`, when set, is called for every button event (the picker tests answer confirms with it).
    """

    def __init__(self, client: aiomqtt.Client, site: str) -> None:
        self.client = client
        self.site = site
        self.received: list[Received] = []
        self.seq: dict[str, int] = {}
        self.react: Callable[[str, dict[str, Any]], Any] | None = None

    async def pump(self) -> None:
        async for message in self.client.messages:
            parsed = parse_ptl_topic(self.site, message.topic.value)
            if parsed is None or parsed[1] is PtlTopic.CMD:
                continue
            assert isinstance(message.payload, bytes)
            item = Received(module=parsed[0], kind=parsed[1], payload=message.payload, qos=message.qos)
            self.received.append(item)
            if item.kind is PtlTopic.EVENT and self.react is not None:
                await self.react(item.module, item.json())

    def of(self, module: str, kind: PtlTopic) -> list[Received]:
        return [r for r in self.received if r.module == module and r.kind is kind]

    def acks(self, module: str) -> list[int]:
        return [int(r.json()["seq"]) for r in self.of(module, PtlTopic.ACK)]

    def events(self, module: str) -> list[dict[str, Any]]:
        return [r.json() for r in self.of(module, PtlTopic.EVENT)]

    def statuses(self, module: str) -> list[str]:
        return [r.payload.decode() for r in self.of(module, PtlTopic.STATUS)]

    def next_seq(self, module: str) -> int:
        self.seq[module] = self.seq.get(module, 0) + 1
        return self.seq[module]

    async def send(self, module: str, body: dict[str, Any] | bytes) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        await self.client.publish(ptl_topic(self.site, module, PtlTopic.CMD), payload, qos=1, retain=True)

    async def light(
        self, module: str, color: str, display: str, blink: str = "none", seq: int | None = None
    ) -> int:
        seq = self.next_seq(module) if seq is None else seq
        await self.send(module, {"seq": seq, "color": color, "blink": blink, "display": display})
        return seq

    async def clear(self, module: str, seq: int | None = None) -> int:
        seq = self.next_seq(module) if seq is None else seq
        await self.send(module, {"seq": seq, "off": True})
        return seq
