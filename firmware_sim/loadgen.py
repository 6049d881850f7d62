"""Load generator: many simulated PTL modules on a few connections, pressing confirm on lit modules.

Run as its own process (the bench starts several). Each press's latency is taken here, in the loader:
from publishing the button event to the module's next command (the light the edge sent after committing
the pick) reaching the loader's socket, by the kernel's receive stamp, as a module's own radio would have
it; and, beside that, to the loader's Python reading it, which adds the loader's own scheduling delays.
The loader speaks MQTT through the edge's own lean connection (`devices.mqtt_connection`), whose
per-message cost is a fraction of paho's, so that the loaders are not what the bench measures (the bench
shows that against a trivial echo). As the PTL contract asks, a press is sent again, with its id, while
no newer `cmd` has answered it (`--resend-after`, 2 s): on a healthy run none is.

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
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from floorgate.core.commands import Button
from floorgate.devices.mqtt.connection import MqttConnection, MqttError
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.mqtt.wire import Publish
from floorgate.devices.ptl.codec import (
    MalformedPayload,
    ModuleEvent,
    PtlTopic,
    decode_command,
    encode_ack,
    encode_event,
    ptl_topic,
)

log = logging.getLogger("loadgen")

# Seconds after which an unanswered press is sent again (docs/contract.md, "End to end").
RESEND_AFTER = 2.0

# Linux's SO_TIMESTAMPNS (SCM_TIMESTAMPNS in the ancillary data); Python's socket module lacks the name.
SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("@qq")


class StampedSocket(socket.socket):
    """A TCP socket that notes when the kernel received what each read returns (`received_ns`, the
    wall clock in ns, from SO_TIMESTAMPNS): when a light command reached the module, not when the
    loader's Python got round to reading it. The event loop's transport reads through `recv`.

    When one read returns several packets, the stamp is the last one's: never earlier than the truth. A
    read the kernel did not stamp leaves `received_ns` None (the reader then takes its own clock): Linux
    turns receive stamps on in deferred work, so the first packets after `enable_stamps` may have none.
    """

    received_ns: int | None = None

    def enable_stamps(self) -> None:
        self.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data, ancillary, _flags, _address = self.recvmsg(bufsize, 64, flags)
        self.received_ns = None  # never an earlier read's stamp: that would make a latency too short
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= _TIMESPEC.size:
                seconds, nanoseconds = _TIMESPEC.unpack_from(payload)
                self.received_ns = seconds * 1_000_000_000 + nanoseconds
        return data


async def stamped_connection(endpoint: MqttEndpoint) -> StampedSocket:
    """A non-blocking `StampedSocket` connected to the broker."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
    family, kind, proto, _, address = infos[0]
    sock = StampedSocket(family, kind, proto)
    try:
        sock.setblocking(False)
        sock.enable_stamps()
        await loop.sock_connect(sock, address)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass
class Module:
    name: str
    connection: int
    event_topic: str
    ack_topic: str
    seq: int = -1
    display: str | None = None
    lit: bool = False
    pressed_at: int | None = None  # wall clock, ns (as the kernel's receive stamps)
    pressed_seq: int = -1
    pressed_event: bytes = b""  # the press's event, sent again while it is unanswered
    sent_at: float = 0.0  # monotonic, its last sending


@dataclass
class Stats:
    presses: int = 0
    answered: int = 0
    commands: int = 0
    malformed: int = 0
    resent: int = 0  # presses sent again for want of an answer
    latencies: list[float] = field(default_factory=list)  # press -> light at the loader's socket, s
    seen_latencies: list[float] = field(default_factory=list)  # press -> light in the loader's Python, s


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
        resend_after: float = RESEND_AFTER,
    ) -> None:
        self.endpoint = endpoint
        self.resend_after = resend_after
        # Modules with a press not answered yet: only these are looked at for re-sending.
        self._awaiting: dict[str, Module] = {}
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
        self._sockets: dict[int, StampedSocket] = {}
        self._ready: deque[str] = deque()
        self._ready_event = asyncio.Event()
        self._ids = 0

    async def run(self) -> Stats:
        try:
            for index in range(self.connections):
                sock = self._sockets[index] = await stamped_connection(self.endpoint)
                self._clients[index] = await MqttConnection.open(
                    self.endpoint,
                    client_id=f"loadgen-{os.getpid()}-{index}",
                    on_message=self._on_command,
                    keepalive=60,
                    sock=sock,
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
        resender = asyncio.get_running_loop().create_task(self._resend_loop(), name="loadgen-resends")
        try:
            lost = [asyncio.ensure_future(c.closed) for c in self._clients.values()]
            done, _ = await asyncio.wait(lost, timeout=self.duration, return_when=asyncio.FIRST_COMPLETED)
            if done:
                raise MqttError("the loader lost its broker connection mid-run")
        finally:
            for task in (presser, resender):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
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
        seen = time.time_ns()
        received = self._sockets[module.connection].received_ns or seen
        self.stats.commands += 1
        client.publish(module.ack_topic, encode_ack(command.seq))
        if command.seq == module.seq:
            return  # a resend of what we show
        module.seq = command.seq
        if module.pressed_at is not None and command.seq > module.pressed_seq:
            self.stats.answered += 1
            self.stats.latencies.append((received - module.pressed_at) / 1e9)
            self.stats.seen_latencies.append((seen - module.pressed_at) / 1e9)
            module.pressed_at = None
            self._awaiting.pop(module.name, None)
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
            module.pressed_seq = module.seq
            self.stats.presses += 1
            module.pressed_at = time.time_ns()
            module.pressed_event = encode_event(event)
            module.sent_at = time.monotonic()
            self._awaiting[name] = module
            # Not waiting for the PUBACK: that would make the loader do one round trip per press and
            # measure itself instead of the edge.
            self._clients[module.connection].publish(module.event_topic, module.pressed_event, qos=1)
            if not interval:
                await asyncio.sleep(0)  # flat out, but let the readers run

    async def _resend_loop(self) -> None:
        """Send each press again, with its id, while no newer cmd has answered it."""
        while True:
            await asyncio.sleep(self.resend_after / 2)
            now = time.monotonic()
            for module in list(self._awaiting.values()):
                if module.pressed_at is not None and now - module.sent_at >= self.resend_after:
                    module.sent_at = now
                    self.stats.resent += 1
                    self._clients[module.connection].publish(module.event_topic, module.pressed_event, qos=1)


def summary(stats: Stats, duration: float) -> dict[str, Any]:
    lat = sorted(stats.latencies)
    seen = sorted(stats.seen_latencies)
    return {
        "presses": stats.presses,
        "answered": stats.answered,
        "commands": stats.commands,
        "malformed": stats.malformed,
        "resent": stats.resent,
        "duration_s": duration,
        "answered_per_s": round(stats.answered / duration, 1),
        "latency_ms": percentiles_ms(lat),
        "seen_latency_ms": percentiles_ms(seen),
        # Every latency in microseconds, so that a bench running several loaders can take percentiles
        # over all presses together rather than the worst loader's.
        "latencies_us": [round(x * 1e6) for x in lat],
        "seen_latencies_us": [round(x * 1e6) for x in seen],
    }


def percentiles_ms(ordered: list[float]) -> dict[str, float | None]:
    """p50, p95, p99 and the max of latencies in seconds, sorted, in ms."""

    def pct(p: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 3) if ordered else None

    return {"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99), "max": pct(1.0)}


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
    parser.add_argument(
        "--resend-after",
        type=float,
        default=RESEND_AFTER,
        help="seconds after which an unanswered press is sent again",
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
        resend_after=args.resend_after,
    )
    stats = asyncio.run(generator.run())
    args.out.write_text(json.dumps(summary(stats, args.duration)))


if __name__ == "__main__":
    main()
