"""Load generator: many simulated PTL modules on a few connections, pressing confirm on lit modules.

Run as its own process (the bench starts several). Each press's latency is taken here, in the loader:
from publishing the button event to receiving the module's next command (the light the edge sent after
committing the pick). The loader speaks MQTT through the edge's own lean connection
(`devices.mqtt_connection`), whose per-message cost is a fraction of paho's, so that the loaders are not
what the bench measures (the bench shows that against a trivial echo).

    python -m firmware_sim.loadgen --broker mqtt://127.0.0.1:1883 --site bench --modules M00001-M01000 \
        --rate 250 --duration 30 --out result.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.commands import Button
from devices.mqtt_connection import MqttConnection, MqttError
from devices.mqtt_transport import MqttEndpoint
from devices.mqtt_wire import Publish
from devices.ptl.codec import (
    MalformedPayload,
    ModuleEvent,
    PtlTopic,
    decode_command,
    encode_ack,
    encode_event,
    ptl_topic,
)

log = logging.getLogger("loadgen")


@dataclass
class Module:
    name: str
    connection: int
    event_topic: str
    ack_topic: str
    seq: int = -1
    display: str | None = None
    lit: bool = False
    pressed_at: float | None = None
    pressed_seq: int = -1


@dataclass
class Stats:
    presses: int = 0
    answered: int = 0
    commands: int = 0
    malformed: int = 0
    latencies: list[float] = field(default_factory=list)
    first_press: float | None = None
    last_answer: float | None = None


def module_names(spec: str) -> list[str]:
    """`M00001-M01000` (a numbered range with a common prefix) or a comma list."""
    if "," in spec or "-" not in spec:
        return [m for m in spec.split(",") if m]
    first, last = spec.split("-", 1)
    prefix = first.rstrip("0123456789")
    width = len(first) - len(prefix)
    return [f"{prefix}{n:0{width}d}" for n in range(int(first[len(prefix) :]), int(last[len(prefix) :]) + 1)]


class LoadGenerator:
    def __init__(
        self,
        *,
        endpoint: MqttEndpoint,
        site: str,
        modules: list[str],
        connections: int,
        rate: float | None,
        duration: float,
        settle: float = 1.0,
    ) -> None:
        self.endpoint = endpoint
        self.settle = settle
        self.site = site
        self.modules = {
            name: Module(
                name,
                i % connections,
                event_topic=ptl_topic(site, name, PtlTopic.EVENT),
                ack_topic=ptl_topic(site, name, PtlTopic.ACK),
            )
            for i, name in enumerate(modules)
        }
        self._by_cmd_topic = {ptl_topic(site, m.name, PtlTopic.CMD): m for m in self.modules.values()}
        self.connections = connections
        self.rate = rate
        self.duration = duration
        self.stats = Stats()
        self._clients: dict[int, MqttConnection] = {}
        self._ready: deque[str] = deque()
        self._ready_event = asyncio.Event()
        self._ids = 0

    async def run(self) -> Stats:
        try:
            for index in range(self.connections):
                self._clients[index] = await MqttConnection.open(
                    self.endpoint,
                    client_id=f"loadgen-{os.getpid()}-{index}",
                    on_message=self._on_command,
                    keepalive=60,
                )
            await self._measure()
        finally:
            for client in self._clients.values():
                with contextlib.suppress(MqttError):
                    await client.disconnect()
        return self.stats

    async def _measure(self) -> None:
        for index, client in self._clients.items():
            topics = [
                (ptl_topic(self.site, m.name, PtlTopic.CMD), 1)
                for m in self.modules.values()
                if m.connection == index
            ]
            for start in range(0, len(topics), 500):
                await client.subscribe(topics[start : start + 500])
        announced = [
            self._clients[module.connection].publish(
                ptl_topic(self.site, module.name, PtlTopic.STATUS),
                b"online",
                qos=1,
                retain=True,
                want_ack=True,
            )
            for module in self.modules.values()
        ]
        await asyncio.gather(*(a for a in announced if a is not None))
        # Every module announcing itself at once is a burst of status events the edge commits; presses
        # start once it has taken them, so the rate phase measures presses, not a start-up storm.
        await asyncio.sleep(self.settle)
        started = time.monotonic()
        presser = asyncio.get_running_loop().create_task(self._press_loop(started), name="loadgen-presses")
        try:
            lost = [asyncio.ensure_future(c.closed) for c in self._clients.values()]
            done, _ = await asyncio.wait(lost, timeout=self.duration, return_when=asyncio.FIRST_COMPLETED)
            if done:
                raise MqttError("the loader lost its broker connection mid-run")
        finally:
            presser.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await presser
        # Let the last presses' answers arrive so they are counted, then stop.
        await asyncio.sleep(min(2.0, self.duration / 5))

    def _on_command(self, message: Publish) -> None:
        module = self._by_cmd_topic.get(message.topic)
        if module is None:
            return
        client = self._clients[module.connection]
        if message.qos:
            client.ack(message.mid)
        try:
            command = decode_command(message.payload)
        except MalformedPayload:
            self.stats.malformed += 1
            return
        if command.seq < module.seq:
            return
        now = time.monotonic()
        self.stats.commands += 1
        client.publish(module.ack_topic, encode_ack(command.seq))
        if command.seq == module.seq:
            return  # a resend of what we show
        module.seq = command.seq
        if module.pressed_at is not None and command.seq > module.pressed_seq:
            self.stats.answered += 1
            self.stats.latencies.append(now - module.pressed_at)
            self.stats.last_answer = now
            module.pressed_at = None
        module.lit = not command.off and command.color != "red"
        module.display = command.display
        if module.lit and module.pressed_at is None:
            self._ready.append(module.name)
            self._ready_event.set()

    async def _press_loop(self, started: float) -> None:
        interval = 1.0 / self.rate if self.rate else 0.0
        next_at = started
        while True:
            if not self._ready:
                self._ready_event.clear()
                await self._ready_event.wait()
            if interval:
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            name = self._ready.popleft()
            module = self.modules[name]
            if not module.lit or module.pressed_at is not None:
                continue
            self._ids += 1
            event = ModuleEvent(
                id=f"{os.getpid()}-{self._ids}", button=Button.CONFIRM, display=module.display
            )
            module.pressed_at = time.monotonic()
            module.pressed_seq = module.seq
            self.stats.presses += 1
            if self.stats.first_press is None:
                self.stats.first_press = module.pressed_at
            # Not waiting for the PUBACK: that would make the loader do one round trip per press and
            # measure itself instead of the edge.
            self._clients[module.connection].publish(module.event_topic, encode_event(event), qos=1)
            if not interval:
                await asyncio.sleep(0)  # flat out, but let the readers run


def summary(stats: Stats, duration: float) -> dict[str, Any]:
    lat = sorted(stats.latencies)

    def pct(p: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 3) if lat else None

    return {
        "presses": stats.presses,
        "answered": stats.answered,
        "commands": stats.commands,
        "malformed": stats.malformed,
        "duration_s": duration,
        "answered_per_s": round(stats.answered / duration, 1),
        "latency_ms": {
            "p50": pct(0.50),
            "p95": pct(0.95),
            "p99": pct(0.99),
            "max": pct(1.0) if lat else None,
        },
        # Every latency in microseconds, so that a bench running several loaders can take percentiles
        # over all presses together rather than the worst loader's.
        "latencies_us": [round(x * 1e6) for x in lat],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="loadgen", description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True)
    parser.add_argument("--site", required=True)
    parser.add_argument("--modules", required=True, help="M00001-M01000 or a comma list")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rate", type=float, help="presses per second (omit: flat out)")
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument(
        "--settle", type=float, default=1.0, help="seconds between announcing the modules and the first press"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    generator = LoadGenerator(
        endpoint=MqttEndpoint.from_url(args.broker),
        site=args.site,
        modules=module_names(args.modules),
        connections=args.connections,
        rate=args.rate,
        duration=args.duration,
        settle=args.settle,
    )
    stats = asyncio.run(generator.run())
    args.out.write_text(json.dumps(summary(stats, args.duration)))


if __name__ == "__main__":
    main()
