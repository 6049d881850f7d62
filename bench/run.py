"""The benchmark: mosquitto, a `floorgate run` edge in its own process, and loader processes.

    .venv/bin/python -m bench.run                      # everything, the design's sizes
    .venv/bin/python -m bench.run --quick              # a short run to see that it works

It measures, each in its own phase: what the loaders reach against a trivial echo (so the edge's
figure is not the loaders' limit), and their latency against it at the fixed rate (the share of the
press -> light figure that is the loaders, the broker and the two MQTT hops, not the edge); device
events per second through the whole write path, flat out;
button press -> next light command latency at a fixed rate (until the light reached the loader's
socket, and until the loader's Python read it); the edge's RSS and CPU; and the restart
time with 10k modules, 100k locations and 10k open orders until every lit module has its command
again; the delta lag of dashboard stream clients at a fixed press rate (bench/dashboard_lag.py); and a
webhook backlog drained to a local verifying receiver (bench/webhook_drain.py). It prints a table and
writes JSON to bench/results/, with the machine and the command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bench import dashboard_lag, webhook_drain
from floorgate.firmware_sim.loadgen import percentiles_ms

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-admin-token"
SITE = "bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(text: str) -> None:
    print(f"[bench] {text}", flush=True)


def machine() -> dict[str, Any]:
    cpu = ""
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mosquitto = subprocess.run(
        ["mosquitto", "-h"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "mosquitto": mosquitto[0] if mosquitto else "?",
    }


class MachineLoad:
    """How busy the whole machine was between `start()` and `stop()`: every process, not only the edge.

    On a shared virtual machine the same work can cost twice the CPU time from one run to the next
    (the host's other guests), and the latency tail moves with it; this puts that beside each figure.
    """

    def __init__(self) -> None:
        self._start: list[int] = []

    @staticmethod
    def _ticks() -> list[int]:
        with open("/proc/stat") as stat:
            return [int(x) for x in stat.readline().split()[1:]]

    def start(self) -> None:
        self._start = self._ticks()

    def stop(self) -> dict[str, float]:
        # user nice system idle iowait irq softirq steal ...
        delta = [b - a for a, b in zip(self._start, self._ticks(), strict=False)]
        total = sum(delta[:8]) or 1
        return {
            "machine_busy_percent": round(100 * (total - delta[3] - delta[4]) / total, 1),
            "machine_steal_percent": round(100 * delta[7] / total, 1),
        }


# Steal is CPU time the hypervisor gave other guests. Past this share of the latency phase, this 2-core
# machine's p99 has run 10-14 ms where a quiet host gives 5-9 ms (docs/benchmarks.md): the table says so.
STEAL_NOTICE_PERCENT = 2.0


def steal_notice(steal_percent: float) -> str:
    if steal_percent < STEAL_NOTICE_PERCENT:
        return ""
    return f"host steal >= {STEAL_NOTICE_PERCENT:g}%: the tail shows the host; compare a quieter run"


@contextmanager
def mosquitto(workdir: Path) -> Iterator[str]:
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n"
        "max_inflight_messages 1000\nmax_queued_messages 1000000\n"
    )
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    process = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def without_password(argument: str) -> str:
    """A command-line argument as the results may show it: a database URL's password hidden."""
    if "://" not in argument or "@" not in argument:
        return argument
    try:
        return make_url(argument).render_as_string(hide_password=True)
    except ArgumentError:
        return "<a URL that could not be read>"


def modules(count: int) -> list[str]:
    return [f"M{n:05d}" for n in range(1, count + 1)]


def site_file(
    workdir: Path,
    broker: str,
    http_port: int,
    module_names: list[str],
    extra_locations: int = 0,
    store_url: str | None = None,
) -> Path:
    parts = [
        textwrap.dedent(
            f"""\
            [site]
            id = "{SITE}"
            [edge]
            id = "edge-1"
            data_dir = "{workdir / "data"}"
            [mqtt]
            url = "{broker}"
            [http]
            port = {http_port}
            [[tokens]]
            token = "{TOKEN}"
            role = "admin"
            [[zones]]
            id = "Z"
            """
        )
    ]
    for name in module_names:
        parts.append(
            f'[[locations]]\ncode = "L{name[1:]}"\nzone = "Z"\nmodule = "{name}"\nsku = "S{name[1:]}"\non_hand = 1000000\n'
        )
    for n in range(extra_locations):
        parts.append(f'[[locations]]\ncode = "X{n:06d}"\nzone = "Z"\nsku = "SX{n:06d}"\non_hand = 1000\n')
    if store_url:
        parts.append(f'[store]\nurl = "{store_url}"\n')
    path = workdir / "site.toml"
    path.write_text("\n".join(parts))
    return path


@dataclass
class Edge:
    config: Path
    http_port: int
    process: subprocess.Popen[bytes] | None = None
    samples: list[tuple[float, int, float]] = field(default_factory=list)  # (t, rss bytes, cpu seconds)

    def start(self, log: Path) -> float:
        started = time.monotonic()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "floorgate.edge.cli",
                "--log-level",
                "WARNING",
                "run",
                "--config",
                str(self.config),
            ],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the edge exited: see {log}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError("the edge did not become healthy within 120 s")

    def sample(self) -> tuple[int, float]:
        assert self.process is not None
        pid = self.process.pid
        with open(f"/proc/{pid}/status") as status:
            rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS"))
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        self.samples.append((time.monotonic(), rss, cpu))
        return rss, cpu

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def metric(self, name: str) -> float:
        text = httpx.get(
            f"http://127.0.0.1:{self.http_port}/metrics",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        ).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0


async def seed_orders(http_port: int, module_names: list[str], orders: int, lines: int) -> float:
    """Orders of `lines` lines on distinct modules, all started: each module gets a deep queue of lines,
    so every press lights the next line at once (the press -> next light command the bench measures)."""
    started = time.monotonic()
    operators = ["ann", "bob", "cat", "dan", "eve", "fay", "gus"]
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{http_port}/api/v1",
        headers={"Authorization": f"Bearer {TOKEN}"},
        limits=limits,
        timeout=60,
    ) as api:
        gate = asyncio.Semaphore(16)

        async def one(n: int) -> None:
            chosen = [module_names[(n * lines + i) % len(module_names)] for i in range(lines)]
            body = {
                "order_id": f"B{n:06d}",
                "lines": [
                    {"line_id": str(i), "sku": f"S{m[1:]}", "qty": 1, "location": f"L{m[1:]}"}
                    for i, m in enumerate(chosen)
                ],
            }
            async with gate:
                response = await api.post("/orders", json=body)
                response.raise_for_status()
                started_order = await api.post(
                    f"/orders/B{n:06d}/start", json={"zone": "Z", "operator": operators[n % len(operators)]}
                )
                started_order.raise_for_status()

        await asyncio.gather(*(one(n) for n in range(orders)))
    return time.monotonic() - started


def run_loaders(
    broker: str,
    module_names: list[str],
    loaders: int,
    duration: float,
    rate: float | None,
    workdir: Path,
    tag: str,
) -> dict[str, Any]:
    chunk = (len(module_names) + loaders - 1) // loaders
    processes = []
    outs = []
    for index in range(loaders):
        part = module_names[index * chunk : (index + 1) * chunk]
        out = workdir / f"{tag}-{index}.json"
        outs.append(out)
        command = [
            sys.executable,
            "-m",
            "floorgate.firmware_sim.loadgen",
            "--broker",
            broker,
            "--site",
            SITE,
            "--modules",
            f"{part[0]}-{part[-1]}",
            "--duration",
            str(duration),
            "--out",
            str(out),
        ]
        if rate:
            command += ["--rate", str(rate / loaders)]
        processes.append(subprocess.Popen(command, cwd=ROOT))
    for process in processes:
        process.wait(timeout=duration + 120)
    results = [json.loads(out.read_text()) for out in outs]
    answered = sum(r["answered"] for r in results)
    return {
        "loaders": loaders,
        "rate_offered": rate,
        "answered": answered,
        "per_second": round(answered / duration, 1),
        "latency_ms_by_loader": [r["latency_ms"] for r in results],
        # Percentiles over every press of every loader together: the light's arrival at the loader's
        # socket (the kernel's receive stamp) ...
        **pooled_percentiles(results, "latencies_us", "latency_ms"),
        # ... and when the loader's Python read it, which adds the loader's own scheduling delays.
        **pooled_percentiles(results, "seen_latencies_us", "seen_latency_ms"),
        "latency_ms_worst_loader_p99": max((r["latency_ms"]["p99"] or 0) for r in results),
    }


def pooled_percentiles(results: list[dict[str, Any]], key: str, prefix: str) -> dict[str, float]:
    """Percentiles over the latencies (in microseconds, under `key`) of every loader together."""
    pooled = sorted(us / 1e6 for r in results for us in r.get(key, ()))
    return {f"{prefix}_{name}": value or 0.0 for name, value in percentiles_ms(pooled).items()}


def wait_for_line(stream: IO[str], expected: str, *, timeout: float) -> bool:
    """Whether `stream` printed the line `expected` within `timeout` s (False at once if it ended)."""
    settled = threading.Event()
    found: list[bool] = []

    def read() -> None:
        for line in stream:
            if line.strip() == expected:
                found.append(True)
                break
        settled.set()

    threading.Thread(target=read, daemon=True, name="wait-for-line").start()
    settled.wait(timeout)
    return bool(found)


def echo_baseline(
    broker: str,
    module_names: list[str],
    loaders: int,
    duration: float,
    workdir: Path,
    rate: float | None = None,
) -> dict[str, Any]:
    """The loaders against a trivial echo: flat out, their own limit; at a fixed rate, the latency that
    the loaders, the broker and two MQTT hops add to any edge's (the floor under the edge's figure)."""
    echo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.echo",
            "--broker",
            broker,
            "--site",
            SITE,
            "--light",
            f"{module_names[0]}-{module_names[-1]}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert echo.stdout is not None
        ready = wait_for_line(echo.stdout, "ready", timeout=30)
        if not ready:
            raise RuntimeError(f"the trivial echo did not come up within 30 s (exit code {echo.poll()})")
        return run_loaders(broker, module_names, loaders, duration, rate, workdir, "echo")
    finally:
        echo.terminate()
        echo.wait(timeout=10)


def seed_restart_state(data_dir: Path, modules_count: int, locations: int, orders: int) -> int:
    """Write the design's restart load straight into a store, through the real writer and floor:
    `locations` locations (the first `modules_count` with a module) and `orders` open orders, each
    started so one bin per order is lit. Returns how many modules are lit."""
    from floorgate.core import commands as cmd
    from floorgate.edge.store import Store, make_engine
    from floorgate.edge.writer import Writer

    async def seed() -> int:
        store = Store(make_engine(f"sqlite:///{data_dir / 'floorgate.db'}"))
        store.create_schema()
        loaded = store.load()
        writer = Writer(store=store, floor=loaded.floor, last_seq=loaded.last_seq, max_batch=5000)
        task = asyncio.create_task(writer.run())
        await writer.execute(cmd.DefineZone(zone="Z"))
        for n in range(locations):
            module = f"M{n + 1:05d}" if n < modules_count else None
            await writer.submit(
                cmd.UpsertLocation(
                    code=f"L{n + 1:06d}", zone="Z", module=module, sku=f"S{n + 1}", on_hand=100
                )
            )
        for n in range(orders):
            code = f"L{n % modules_count + 1:06d}"
            line = cmd.NewOrderLine(line_id="1", sku=f"S{n % modules_count + 1}", qty=1, location=code)
            await writer.submit(cmd.ReceiveOrder(order_id=f"R{n:06d}", lines=(line,)))
            await writer.submit(cmd.StartOrder(order_id=f"R{n:06d}", zone="Z", operator=f"p{n % 7}"))
        await writer.execute(cmd.DefineZone(zone="Z"))  # returns once everything before it is committed
        lit = len(writer.floor.lit_commands())
        task.cancel()
        store.close()
        return lit

    return asyncio.run(seed())


async def count_lit(broker: str, lit: int, ready: asyncio.Event, done: asyncio.Event) -> float:
    """The time at which every one of `lit` modules has been sent a lit command (acking each, as modules do)."""
    from floorgate.devices.mqtt.connection import MqttConnection
    from floorgate.devices.mqtt.endpoint import MqttEndpoint
    from floorgate.devices.mqtt.wire import Publish
    from floorgate.devices.ptl.codec import (
        PtlTopic,
        decode_command,
        encode_ack,
        parse_ptl_topic,
        ptl_filter,
        ptl_topic,
    )

    seen: set[str] = set()
    finished = asyncio.get_running_loop().create_future()
    connection: MqttConnection | None = None

    def on_command(message: Publish) -> None:
        assert connection is not None
        if message.qos:
            connection.ack(message.mid)
        parsed = parse_ptl_topic(SITE, message.topic)
        if parsed is None:
            return
        command = decode_command(message.payload)
        connection.publish(ptl_topic(SITE, parsed[0], PtlTopic.ACK), encode_ack(command.seq))
        if not command.off:
            seen.add(parsed[0])
            if len(seen) >= lit and not finished.done():
                finished.set_result(time.monotonic())

    connection = await MqttConnection.open(
        MqttEndpoint.from_url(broker), client_id="bench-restart-watch", on_message=on_command
    )
    try:
        await connection.subscribe([(ptl_filter(SITE, PtlTopic.CMD), 1)])
        ready.set()
        at: float = await finished
        done.set()
        return at
    finally:
        await connection.disconnect()


def restart_phase(workdir: Path, modules_count: int, locations: int, orders: int) -> dict[str, Any]:
    data = workdir / "restart-data"
    data.mkdir()
    say(f"restart: seeding {modules_count} modules, {locations} locations, {orders} open orders")
    started = time.monotonic()
    lit = seed_restart_state(data, modules_count, locations, orders)
    seeded_s = time.monotonic() - started
    with mosquitto(workdir) as broker:
        http_port = free_port()
        config = workdir / "restart.toml"
        config.write_text(
            f'[site]\nid = "{SITE}"\n[edge]\nid = "edge-1"\ndata_dir = "{data}"\n[mqtt]\nurl = "{broker}"\n'
            f'[http]\nport = {http_port}\n[[tokens]]\ntoken = "{TOKEN}"\nrole = "admin"\n[[zones]]\nid = "Z"\n'
        )
        edge = Edge(config, http_port)

        async def measure() -> tuple[float, float]:
            ready, done = asyncio.Event(), asyncio.Event()
            watcher = asyncio.create_task(count_lit(broker, lit, ready, done))
            await ready.wait()
            spawned = time.monotonic()
            healthy = await asyncio.to_thread(edge.start, workdir / "restart-edge.log")
            all_lit_at = await asyncio.wait_for(watcher, timeout=120)
            return healthy, all_lit_at - spawned

        say(f"restart: starting the edge on that store, waiting for {lit} lit modules' commands")
        try:
            healthy_s, relit_s = asyncio.run(measure())
            rss, _ = edge.sample()
        finally:
            edge.stop()
    return {
        "modules": modules_count,
        "locations": locations,
        "open_orders": orders,
        "lit_modules": lit,
        "seed_s": round(seeded_s, 1),
        "healthy_s": round(healthy_s, 2),
        "all_lights_resent_s": round(relit_s, 2),
        "rss_mb": round(rss / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.run", description="FloorGate benchmark")
    parser.add_argument("--modules", type=int, default=1000)
    parser.add_argument("--loaders", type=int, default=2)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--rate", type=float, default=500, help="fixed press rate for the latency phase")
    parser.add_argument("--orders", type=int, default=600)
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="short phases, small sizes")
    parser.add_argument("--restart-modules", type=int, default=10_000)
    parser.add_argument("--restart-locations", type=int, default=100_000)
    parser.add_argument("--restart-orders", type=int, default=10_000)
    parser.add_argument("--skip-restart", action="store_true", help="leave out the restart phase")
    parser.add_argument(
        "--dashboard-clients",
        type=int,
        nargs="+",
        default=[50],
        help="stream clients in the dashboard phase, one run per number (e.g. 50 200)",
    )
    parser.add_argument("--skip-dashboard", action="store_true", help="leave out the dashboard phase")
    parser.add_argument("--webhook-backlog", type=int, default=20_000)
    parser.add_argument("--skip-webhooks", action="store_true", help="leave out the webhook drain phase")
    parser.add_argument(
        "--store-url",
        help="the store of the throughput and latency phases, an empty database (e.g. postgresql+psycopg://"
        "user@host/db); default an SQLite file in the bench's folder. The other phases keep SQLite",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    if args.quick:
        args.modules, args.duration, args.orders, args.lines = 200, 8, 60, 50
        args.restart_modules, args.restart_locations, args.restart_orders = 1000, 10_000, 1000
        args.webhook_backlog = 3000
    command = " ".join([Path(sys.executable).name, "-m", "bench.run", *map(without_password, sys.argv[1:])])
    result: dict[str, Any] = {
        "command": command,
        "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    names = modules(args.modules)
    with tempfile.TemporaryDirectory(prefix="fg-bench-") as tmp:
        workdir = Path(tmp)
        with mosquitto(workdir) as broker:
            say(f"echo baseline: {args.loaders} loaders flat out against a trivial echo, {args.duration:g} s")
            result["echo"] = echo_baseline(broker, names, args.loaders, args.duration, workdir)
        with mosquitto(workdir) as broker:
            say(
                f"echo latency: the same loaders at {args.rate:g} presses/s against the echo, {args.duration:g} s"
            )
            load = MachineLoad()
            load.start()
            result["echo_latency"] = echo_baseline(
                broker, names, args.loaders, args.duration, workdir, rate=args.rate
            )
            result["echo_latency"].update(load.stop())
        with mosquitto(workdir) as broker:
            http_port = free_port()
            edge = Edge(site_file(workdir, broker, http_port, names, store_url=args.store_url), http_port)
            say(
                f"starting the edge with {args.modules} modules"
                + (" on --store-url" if args.store_url else "")
            )
            result["edge_start_s"] = round(edge.start(workdir / "edge.log"), 2)
            try:
                # Enough queued lines that the loaders never run dry: what they can press against the echo,
                # for both phases, with a margin.
                lines_needed = 1.5 * args.duration * (result["echo"]["per_second"] + args.rate)
                orders = max(args.orders, int(lines_needed / args.lines) + 1)
                say(f"seeding {orders} orders x {args.lines} lines through the API")
                result["seed_s"] = round(asyncio.run(seed_orders(http_port, names, orders, args.lines)), 2)
                cpu0 = edge.sample()[1]
                events0 = edge.metric("floorgate_events_total")
                t0 = time.monotonic()
                say(f"throughput: {args.loaders} loaders flat out, {args.duration:g} s")
                result["throughput"] = run_loaders(
                    broker, names, args.loaders, args.duration, None, workdir, "flat"
                )
                rss, cpu1 = edge.sample()
                elapsed = time.monotonic() - t0
                result["throughput"]["edge_events_per_s"] = round(
                    (edge.metric("floorgate_events_total") - events0) / elapsed, 1
                )
                result["throughput"]["edge_cpu_percent"] = round(100 * (cpu1 - cpu0) / elapsed, 1)
                result["throughput"]["edge_rss_mb"] = round(rss / 2**20, 1)
                say(f"latency: {args.rate:g} presses/s for {args.duration:g} s")
                cpu0, t0 = edge.sample()[1], time.monotonic()
                load = MachineLoad()
                load.start()
                result["latency"] = run_loaders(
                    broker, names, args.loaders, args.duration, args.rate, workdir, "rate"
                )
                result["latency"].update(load.stop())
                rss, cpu1 = edge.sample()
                result["latency"]["edge_cpu_percent"] = round(
                    100 * (cpu1 - cpu0) / (time.monotonic() - t0), 1
                )
                result["latency"]["edge_rss_mb"] = round(rss / 2**20, 1)
            finally:
                edge.stop()
        if not args.skip_dashboard:
            result["dashboard"] = [
                dashboard_lag.measure(
                    workdir,
                    clients=clients,
                    rate=args.rate,
                    duration=args.duration,
                    modules=args.modules,
                    loaders=args.loaders,
                    lines=args.lines,
                )
                for clients in args.dashboard_clients
            ]
        if not args.skip_webhooks:
            result["webhooks"] = webhook_drain.measure(
                workdir,
                backlog=args.webhook_backlog,
                modules=args.modules,
                loaders=args.loaders,
                lines=args.lines,
                capacity_seconds=2 if args.quick else 5,
            )
        if not args.skip_restart:
            result["restart"] = restart_phase(
                workdir, args.restart_modules, args.restart_locations, args.restart_orders
            )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"bench-{int(time.time())}.json"
    path.write_text(json.dumps(result, indent=2))
    print_table(result)
    say(f"written to {path}")


def print_table(result: dict[str, Any]) -> None:
    m = result["machine"]
    print(
        f"\nFloorGate bench — {m['cores']} cores {m['cpu']}, {m['memory_gib']} GiB, Python {m['python']}, {m['mosquitto']}"
    )
    print(f"command: {result['command']}\n")
    rows = [
        ("loaders vs trivial echo (loader limit)", f"{result['echo']['per_second']:,.0f} presses/s", ""),
        (
            "device events/s through the write path",
            f"{result['throughput']['per_second']:,.0f} presses/s",
            "bar 2,000 · goal 10,000",
        ),
        ("  events committed/s (event log)", f"{result['throughput']['edge_events_per_s']:,.0f}", ""),
        (
            "  edge CPU / RSS flat out",
            f"{result['throughput']['edge_cpu_percent']}% / {result['throughput']['edge_rss_mb']} MB",
            "",
        ),
        (
            f"press -> next light p50/p95/p99 at {result['latency']['rate_offered']:g}/s",
            f"{result['latency']['latency_ms_p50']} / {result['latency']['latency_ms_p95']} / {result['latency']['latency_ms_p99']} ms",
            "bar p99 10 ms · goal 2 ms",
        ),
        (
            "  as the loaders' Python read it",
            f"{result['latency']['seen_latency_ms_p50']} / {result['latency']['seen_latency_ms_p95']}"
            f" / {result['latency']['seen_latency_ms_p99']} ms",
            "+ the loaders' own delays",
        ),
        ("  achieved rate", f"{result['latency']['per_second']:,.0f} presses/s", ""),
        (
            "  edge CPU / machine busy / steal",
            f"{result['latency']['edge_cpu_percent']}% / {result['latency']['machine_busy_percent']}%"
            f" / {result['latency']['machine_steal_percent']}%",
            steal_notice(result["latency"]["machine_steal_percent"]),
        ),
        (
            f"  the same loaders vs trivial echo at {result['echo_latency']['rate_offered']:g}/s",
            f"{result['echo_latency']['latency_ms_p50']} / {result['echo_latency']['latency_ms_p95']}"
            f" / {result['echo_latency']['latency_ms_p99']} ms",
            "the harness's own share",
        ),
        (
            "    as the loaders' Python read it",
            f"{result['echo_latency']['seen_latency_ms_p50']} / {result['echo_latency']['seen_latency_ms_p95']}"
            f" / {result['echo_latency']['seen_latency_ms_p99']} ms",
            "",
        ),
        ("edge start until healthy", f"{result['edge_start_s']} s", ""),
    ]
    for dashboard in result.get("dashboard", []):
        rows += dashboard_lag.row(dashboard)
    if "webhooks" in result:
        rows += webhook_drain.row(result["webhooks"])
    if "restart" in result:
        r = result["restart"]
        rows += [
            (
                f"restart with {r['modules']:,} modules / {r['locations']:,} locations / {r['open_orders']:,} orders",
                f"{r['all_lights_resent_s']} s to re-send {r['lit_modules']:,} lights",
                "bar 5 s · goal 1 s",
            ),
            (
                "  healthy after / RSS with that state",
                f"{r['healthy_s']} s / {r['rss_mb']} MB",
                "RSS goal <= 250 MB",
            ),
        ]
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<28} {target}")
    print()


if __name__ == "__main__":
    main()
