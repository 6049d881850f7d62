"""The dashboard phase: N stream clients in their own process while the loaders press at a fixed rate.

    .venv/bin/python -m bench.dashboard_lag                     # 50 clients at 500 presses/s, 30 s
    .venv/bin/python -m bench.dashboard_lag --clients 200       # the design's goal
    .venv/bin/python -m bench.dashboard_lag --quick

mosquitto, a `floorgate run` edge and the loaders as in `bench.run`; the WebSocket clients
(`bench.stream_clients`) run in processes of their own, each client reading and parsing every message.
Lag is commit -> client: the event's `timestamp` in the delta (the edge's `time.time()` as the writer
applies the press, just before the commit) against the client's `time.time()` when the delta arrives,
one machine, one clock. Reports p50/p95/p99/max over every (event, client) pair, the clients the edge
resynced or dropped, and the CPU of the edge and of the client processes during the load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import floor
from bench.contention import cpu_pressure, cpu_pressure_since
from bench.machine import machine
from bench.processes import ROOT, Edge, free_port, mosquitto, run_loaders
from bench.progress import say
from bench.stream_clients import LagHistogram

CLIENTS_PER_PROCESS = 50


def measure(
    workdir: Path,
    *,
    clients: int,
    rate: float,
    duration: float,
    modules: int,
    loaders: int,
    lines: int,
    deflate: bool = True,
) -> dict[str, Any]:
    names = floor.modules(modules)
    phase_dir = workdir / f"dash-{clients}"
    phase_dir.mkdir(parents=True, exist_ok=True)
    with mosquitto(phase_dir) as broker:
        http_port = free_port()
        edge = Edge(floor.site_file(phase_dir, broker, http_port, names), http_port)
        say(f"dashboard: starting the edge with {modules} modules")
        try:
            edge.start(phase_dir / "edge.log")  # inside: an edge that never gets healthy is stopped too
            orders = int(1.5 * duration * rate / lines) + 1
            say(f"dashboard: seeding {orders} orders x {lines} lines")
            asyncio.run(floor.seed_orders(http_port, names, orders, lines))
            say(f"dashboard: connecting {clients} stream clients")
            url = f"ws://127.0.0.1:{http_port}/api/v1/stream?token={floor.TOKEN}"
            group = ClientGroup(url, clients, phase_dir, deflate=deflate)
            connecting = time.monotonic()
            group.start()
            try:
                connected = group.wait_connected(timeout=120)
                connect_s = time.monotonic() - connecting
                stream0 = _stream_metrics(edge)
                cpu0, t0 = edge.sample()[1], time.monotonic()
                pressure0 = cpu_pressure()
                say(f"dashboard: {rate:g} presses/s for {duration:g} s with {connected} clients")
                loaded = run_loaders(broker, names, loaders, duration, rate, phase_dir, "loader")
                rss, cpu1 = edge.sample()
                elapsed = time.monotonic() - t0
                contention = cpu_pressure_since(pressure0)
                time.sleep(1.0)  # the last coalescing windows reach the clients
                stream1 = _stream_metrics(edge)
            finally:
                results = group.stop()
        finally:
            edge.stop()
    return summarise(
        clients=clients,
        connected=connected,
        deflate=deflate,
        connect_s=connect_s,
        rate=rate,
        duration=duration,
        loaded=loaded,
        results=results,
        edge_cpu_percent=round(100 * (cpu1 - cpu0) / elapsed, 1),
        edge_rss_mb=round(rss / 2**20, 1),
        stream=(stream0, stream1),
        contention=contention,
    )


class ClientGroup:
    """The client processes: `CLIENTS_PER_PROCESS` clients each, so one process's CPU is not the limit."""

    def __init__(self, url: str, clients: int, workdir: Path, *, deflate: bool) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.deflate = deflate
        self.url = url
        self.workdir = workdir
        sizes = [CLIENTS_PER_PROCESS] * (clients // CLIENTS_PER_PROCESS)
        if clients % CLIENTS_PER_PROCESS:
            sizes.append(clients % CLIENTS_PER_PROCESS)
        self.sizes = sizes
        self.processes: list[subprocess.Popen[bytes]] = []

    def _paths(self, index: int) -> tuple[Path, Path]:
        return self.workdir / f"clients-{index}.json", self.workdir / f"clients-{index}.ready"

    def start(self) -> None:
        for index, size in enumerate(self.sizes):
            out, ready = self._paths(index)
            self.processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bench.stream_clients",
                        "--url",
                        self.url,
                        "--clients",
                        str(size),
                        "--out",
                        str(out),
                        "--ready",
                        str(ready),
                        *([] if self.deflate else ["--no-deflate"]),
                    ],
                    cwd=ROOT,
                )
            )

    def wait_connected(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            readies = [self._paths(i)[1] for i in range(len(self.sizes))]
            if all(r.exists() for r in readies):
                return sum(int(r.read_text()) for r in readies)
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a stream client process exited with {process.returncode}")
            time.sleep(0.1)
        raise TimeoutError(f"the stream clients did not all get a snapshot within {timeout:g} s")

    def stop(self) -> list[dict[str, Any]]:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        return [
            json.loads(self._paths(i)[0].read_text())
            for i in range(len(self.sizes))
            if self._paths(i)[0].exists()
        ]


def _stream_metrics(edge: Edge) -> dict[str, float]:
    return {
        name: edge.metric(f"floorgate_stream_{name}")
        for name in ("clients", "overflows_total", "resyncs_total", "messages_total")
    }


def summarise(
    *,
    clients: int,
    connected: int,
    deflate: bool,
    connect_s: float,
    rate: float,
    duration: float,
    loaded: dict[str, Any],
    results: list[dict[str, Any]],
    edge_cpu_percent: float,
    edge_rss_mb: float,
    stream: tuple[dict[str, float], dict[str, float]],
    contention: dict[str, float],
) -> dict[str, Any]:
    lags = LagHistogram()
    records: list[dict[str, Any]] = []
    for result in results:
        lags.merge(LagHistogram.from_json(result["lags"]))
        records += result["records"]
    before, after = stream
    events = [r["events"] for r in records]
    return {
        "clients": clients,
        "connected": connected,
        "deflate_offered": deflate,
        "deflate_negotiated": sum(1 for r in records if r["deflate"]),  # clients the edge compressed for
        "all_snapshots_s": round(connect_s, 2),  # from starting the clients to every client's snapshot
        "rate_offered": rate,
        "presses_per_s": loaded["per_second"],
        "press_to_light_p99_ms": loaded["latency_ms_p99"],
        "lag_definition": "event timestamp (writer, before commit) -> client receives the delta; time.time() on one machine",
        "lag_ms": {
            "p50": lags.percentile(0.50),
            "p95": lags.percentile(0.95),
            "p99": lags.percentile(0.99),
            "max": round(lags.max_ms, 1),
        },
        "samples": lags.total,
        "events_per_client": {"min": min(events, default=0), "max": max(events, default=0)},
        "deltas_per_client_per_s": round(
            sum(r["deltas"] for r in records) / max(1, len(records)) / duration, 1
        ),
        "mb_per_client": round(sum(r["bytes"] for r in records) / max(1, len(records)) / 2**20, 2),
        "resynced_clients": sum(1 for r in records if r["snapshots"] > 1),
        "dropped_clients": sum(1 for r in records if r["closed"]),
        # Why they were dropped (the edge's close code and reason, or the client's own error), and how many.
        "dropped_reasons": dict(Counter(r["closed"] for r in records if r["closed"])),
        "seq_gaps": sum(r["seq_gaps"] for r in records),
        "edge_overflows": after["overflows_total"] - before["overflows_total"],
        "edge_resyncs": after["resyncs_total"] - before["resyncs_total"],
        "edge_cpu_percent": edge_cpu_percent,
        "edge_rss_mb": edge_rss_mb,
        "client_processes": len(results),
        "client_cpu_percent": [r["cpu_percent"] for r in results],
        # One client process far behind the others points at the clients, not at the edge.
        "lag_ms_p99_by_client_process": [LagHistogram.from_json(r["lags"]).percentile(0.99) for r in results],
        "machine_contention": contention,
    }


def row(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Rows for bench.run's table."""
    lag = result["lag_ms"]
    measured = (
        f"{lag['p50']:.0f} / {lag['p95']:.0f} / {lag['p99']:.0f} / {lag['max']:.0f} ms"
        if result["samples"]
        else "no delta reached a client"
    )
    return [
        (
            f"dashboard delta lag p50/p95/p99/max, {result['clients']} clients at {result['rate_offered']:g}/s",
            measured,
            "bar 50 clients p99 250 ms · goal 200, 100 ms",
        ),
        (
            "  resynced / dropped clients, edge CPU",
            f"{result['resynced_clients']} / {result['dropped_clients']}, {result['edge_cpu_percent']}%",
            f"clients' CPU {'+'.join(str(c) for c in result['client_cpu_percent'])}%",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.dashboard_lag", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--modules", type=int, default=1000)
    parser.add_argument("--loaders", type=int, default=2)
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="8 s, 200 modules")
    parser.add_argument(
        "--no-deflate", action="store_true", help="clients do not offer permessage-deflate (browsers do)"
    )
    args = parser.parse_args()
    if args.quick:
        args.duration, args.modules, args.lines = 8, 200, 50
    with tempfile.TemporaryDirectory(prefix="fg-dash-") as tmp:
        result = measure(
            Path(tmp),
            clients=args.clients,
            rate=args.rate,
            duration=args.duration,
            modules=args.modules,
            loaders=args.loaders,
            lines=args.lines,
            deflate=not args.no_deflate,
        )
    result["command"] = " ".join([Path(sys.executable).name, "-m", "bench.dashboard_lag", *sys.argv[1:]])
    result["machine"] = machine()
    print(json.dumps(result, indent=2))
    for name, value, target in row(result):
        say(f"{name}: {value} ({target})")


if __name__ == "__main__":
    main()
