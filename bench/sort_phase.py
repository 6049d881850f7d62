"""The sort phase: scan at a put wall -> the cubby's light, at a fixed scan rate.

    .venv/bin/python -m bench.sort_phase [--rate 100] [--duration 30]     # this phase alone

Same processes as the other phases: mosquitto, a `floorgate run` edge in its own process, and here a
scanner over MQTT. The edge's site has one bin and a put wall of 24 cubbies whose scanner speaks MQTT. A
batch of 24 orders, one per cubby, each asking for enough units of the bin's SKU for every scan of the
phase, is picked through the API and a module press (one confirm of the batch's total). Then the scanner
publishes one scan of the SKU every 1/rate s; each scan lights the cubby of the oldest order still
needing a unit, showing the units on their way there (1, 2, 3, ...), so scan k is answered by cubby
k // units showing k % units + 1. The latency is from publishing the scan to that light command reaching
the subscriber's socket (the kernel's receive stamp, as in firmware_sim/loadgen.py), and to its Python
reading it. The sorter's confirms are left out: each scan is one more unit on its way to the cubby.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.floor import SITE, TOKEN
from bench.machine import MachineLoad, machine
from bench.processes import Edge, free_port, mosquitto
from bench.progress import say
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
    parse_ptl_topic,
    ptl_filter,
    ptl_topic,
)
from floorgate.devices.scanners.mqtt_scanner import encode_scan, scanner_topic
from floorgate.firmware_sim.loadgen import StampedSocket, percentiles_ms, stamped_connection

WALL = "W1"
CUBBIES = tuple(f"C{n:02d}" for n in range(1, 25))
BIN_MODULE = "MSORT"
SKU = "SSORT"
BATCH = "SORT-1"
BAR_MS, GOAL_MS = 20.0, 5.0


def sort_site(workdir: Path, broker: str, http_port: int) -> Path:
    cubbies = ", ".join(f'"{c}"' for c in CUBBIES)
    path = workdir / "sort-site.toml"
    path.write_text(
        f'[site]\nid = "{SITE}"\n[edge]\nid = "edge-1"\ndata_dir = "{workdir / "sort-data"}"\n'
        f'[mqtt]\nurl = "{broker}"\n[http]\nport = {http_port}\n'
        f'[[tokens]]\ntoken = "{TOKEN}"\nrole = "admin"\n[[zones]]\nid = "Z"\n'
        f'[[locations]]\ncode = "L-SORT"\nzone = "Z"\nmodule = "{BIN_MODULE}"\nsku = "{SKU}"\n'
        "on_hand = 10000000\n"
        f'[[walls]]\nid = "{WALL}"\ncubbies = [{cubbies}]\nscanner = {{ transport = "mqtt" }}\n'
    )
    return path


@dataclass
class ScanStats:
    sent_ns: list[int] = field(default_factory=list)  # wall clock of each scan's publish
    latencies: list[float] = field(default_factory=list)  # s, scan -> light at the socket
    seen_latencies: list[float] = field(default_factory=list)  # s, scan -> light in our Python
    answered: set[int] = field(default_factory=set)
    commands: int = 0
    unexpected: int = 0  # light commands that answer no scan sent (none on a healthy run)


class WallScanner:
    """The wall's scanner and a subscriber to its cubbies, on their own connections to the broker."""

    def __init__(self, broker: str, units_per_order: int) -> None:
        self.endpoint = MqttEndpoint.from_url(broker)
        self.units = units_per_order
        self.stats = ScanStats()
        self._seqs: dict[str, int] = {}
        self._sub: MqttConnection | None = None
        self._socket: StampedSocket | None = None
        self._sending = True
        self._all_answered = asyncio.Event()

    def _on_command(self, message: Publish) -> None:
        assert self._sub is not None
        assert self._socket is not None
        seen = time.time_ns()
        received = self._socket.received_ns or seen
        if message.qos:
            self._sub.ack(message.mid)
        parsed = parse_ptl_topic(SITE, message.topic)
        if parsed is None or parsed[1] is not PtlTopic.CMD:
            return
        module = parsed[0]
        try:
            command = decode_command(message.payload)
        except MalformedPayload:
            return
        self._sub.publish(ptl_topic(SITE, module, PtlTopic.ACK), encode_ack(command.seq))
        if command.seq <= self._seqs.get(module, -1):
            return  # a resend of what the cubby shows
        self._seqs[module] = command.seq
        self.stats.commands += 1
        if module not in CUBBIES or command.display is None or not command.display.isdigit():
            return
        scan = CUBBIES.index(module) * self.units + int(command.display) - 1
        if scan >= len(self.stats.sent_ns) or scan in self.stats.answered:
            self.stats.unexpected += 1
            return
        self.stats.answered.add(scan)
        self.stats.latencies.append((received - self.stats.sent_ns[scan]) / 1e9)
        self.stats.seen_latencies.append((seen - self.stats.sent_ns[scan]) / 1e9)
        if not self._sending and len(self.stats.answered) == len(self.stats.sent_ns):
            self._all_answered.set()

    async def run(self, rate: float, duration: float) -> ScanStats:
        self._socket = await stamped_connection(self.endpoint)
        self._sub = await MqttConnection.open(
            self.endpoint,
            client_id="bench-wall-cubbies",
            on_message=self._on_command,
            keepalive=60,
            sock=self._socket,
        )
        scanner = await MqttConnection.open(
            self.endpoint, client_id="bench-wall-scanner", on_message=lambda _m: None, keepalive=60
        )
        try:
            await self._sub.subscribe([(ptl_filter(SITE, PtlTopic.CMD), 1)])
            await asyncio.sleep(1.0)  # the retained lights of the bin and the cubbies, then quiet
            topic = scanner_topic(SITE, WALL)
            interval = 1.0 / rate
            next_at = time.monotonic()
            end = next_at + duration
            while next_at < end:
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                n = len(self.stats.sent_ns)
                self.stats.sent_ns.append(time.time_ns())
                scanner.publish(topic, encode_scan(f"bench-scan-{n}", SKU), qos=1)
                next_at += interval
            # The last scans' lights (for at most 5 s), then stop.
            self._sending = False
            if len(self.stats.answered) < len(self.stats.sent_ns):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5):
                        await self._all_answered.wait()
        finally:
            for connection in (scanner, self._sub):
                with contextlib.suppress(MqttError):
                    await connection.disconnect()
        return self.stats


async def press_batch_picked(broker: str, display: str) -> None:
    """The batch picker's confirm on the bin, with the batch's total, as its module sends it."""
    connection = await MqttConnection.open(
        MqttEndpoint.from_url(broker), client_id="bench-bin-module", on_message=lambda _m: None, keepalive=60
    )
    try:
        event = ModuleEvent(id=f"bench-{os.getpid()}-pick", button=Button.CONFIRM, display=display)
        acked = connection.publish(
            ptl_topic(SITE, BIN_MODULE, PtlTopic.EVENT), encode_event(event), qos=1, want_ack=True
        )
        if acked is not None:
            await acked
    finally:
        with contextlib.suppress(MqttError):
            await connection.disconnect()


def seed_batch(api: httpx.Client, units: int) -> None:
    """The SKU, 24 orders of `units` units each, and their batch, started in zone Z."""
    api.put(f"/items/{SKU}", json={"description": "sorted item"}).raise_for_status()
    for n, _cubby in enumerate(CUBBIES, 1):
        body = {
            "order_id": f"SO-{n:02d}",
            "lines": [{"line_id": "1", "sku": SKU, "qty": units, "location": "L-SORT"}],
        }
        api.post("/orders", json=body).raise_for_status()
    orders = [f"SO-{n:02d}" for n in range(1, len(CUBBIES) + 1)]
    api.post("/batches", json={"batch_id": BATCH, "order_ids": orders, "wall": WALL}).raise_for_status()
    api.post(f"/batches/{BATCH}/start", json={"zone": "Z", "operator": "bench"}).raise_for_status()


def wait_for(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(0.1)


def measure(workdir: Path, *, rate: float, duration: float) -> dict[str, Any]:
    # Units enough for every scan of the phase, with a margin, spread over the cubbies' orders.
    units = int(rate * duration * 1.2 / len(CUBBIES)) + 1
    total = units * len(CUBBIES)
    with mosquitto(workdir) as broker:
        http_port = free_port()
        edge = Edge(sort_site(workdir, broker, http_port), http_port)
        say(f"sort: a put wall of {len(CUBBIES)} cubbies, {rate:g} scans/s for {duration:g} s")
        edge.start(workdir / "sort-edge.log")
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{http_port}/api/v1",
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=30,
            ) as api:
                seed_batch(api, units)
                asyncio.run(press_batch_picked(broker, str(total)))
                wait_for(
                    lambda: api.get(f"/batches/{BATCH}").json()["status"] == "picked", "the batch picked"
                )
                cpu0, t0 = edge.sample()[1], time.monotonic()
                load = MachineLoad()
                load.start()
                stats = asyncio.run(WallScanner(broker, units).run(rate, duration))
                machine_load = load.stop()
                cpu = 100 * (edge.sample()[1] - cpu0) / (time.monotonic() - t0)
                puts_lit = sum(1 for c in api.get(f"/walls/{WALL}").json()["cubbies"] if c["state"] != "free")
        finally:
            edge.stop()
    return {
        "rate_offered": rate,
        "duration_s": duration,
        "cubbies": len(CUBBIES),
        "scans": len(stats.sent_ns),
        "answered": len(stats.answered),
        "unexpected_commands": stats.unexpected,
        "cubbies_in_use": puts_lit,
        **{f"latency_ms_{k}": v for k, v in percentiles_ms(sorted(stats.latencies)).items()},
        **{f"seen_latency_ms_{k}": v for k, v in percentiles_ms(sorted(stats.seen_latencies)).items()},
        "edge_cpu_percent": round(cpu, 1),
        **machine_load,
    }


def rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The phase's lines in the bench's table."""
    return [
        (
            f"scan -> cubby light p50/p95/p99 at {result['rate_offered']:g} scans/s",
            f"{result['latency_ms_p50']} / {result['latency_ms_p95']} / {result['latency_ms_p99']} ms",
            f"bar p99 {BAR_MS:g} ms · goal {GOAL_MS:g} ms",
        ),
        (
            "  scans answered / edge CPU",
            f"{result['answered']:,} of {result['scans']:,} / {result['edge_cpu_percent']}%",
            "",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.sort_phase", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--duration", type=float, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fg-sort-") as tmp:
        result = measure(Path(tmp), rate=args.rate, duration=args.duration)
    print(json.dumps({**result, "machine": machine()}))


if __name__ == "__main__":
    main()
