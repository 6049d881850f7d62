"""The webhook phase: a backlog built through the real write path, then drained to a local receiver.

    .venv/bin/python -m bench.webhook_drain                  # a backlog of 20,000 deliveries
    .venv/bin/python -m bench.webhook_drain --quick          # 3,000

mosquitto and a `floorgate run` edge as in `bench.run`. A webhook endpoint (every event type) is created
through the API and disabled, as an endpoint is while its ERP is away: the writer keeps writing its
outbox rows in each event's transaction. Orders are seeded and the loaders press flat out until the
backlog (`floorgate_webhook_backlog` in /metrics) reaches the size asked for. Then the receiver
(`bench.webhook_sink`, its own process, verifying every signature with `standardwebhooks`) starts and
its own capacity is measured against pre-signed requests; the endpoint is re-enabled, and the phase
times the first delivery and the backlog until /metrics says zero. It reports deliveries/s, the time to
the first delivery, the edge's CPU, and what the receiver checked: every event once, signatures valid,
each order's events in order.

With `--outage` the endpoint stays enabled and points at a port where nothing listens while the backlog
builds, as when the ERP is down: the relay retries and backs off, so the time from the receiver coming
up to the first delivery, and the drain, show the retry schedule as well as the relay's speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench import floor
from bench.contention import cpu_pressure, cpu_pressure_since
from bench.machine import machine
from bench.processes import ROOT, Edge, free_port, mosquitto, run_loaders
from bench.progress import say
from bench.webhook_sink import SECRET_ENV

# A first guess at how fast flat-out loaders grow the backlog; the first loading run measures it.
EXPECTED_PRESSES_PER_S = 800


def measure(
    workdir: Path,
    *,
    backlog: int,
    modules: int,
    loaders: int,
    lines: int,
    capacity_seconds: float,
    outage: bool = False,
) -> dict[str, Any]:
    from floorgate.edge.webhooks.signing import new_secret

    names = floor.modules(modules)
    phase_dir = workdir / "webhooks"
    phase_dir.mkdir(parents=True, exist_ok=True)
    secret = new_secret()
    with mosquitto(phase_dir) as broker:
        http_port = free_port()
        edge = Edge(floor.site_file(phase_dir, broker, http_port, names), http_port)
        say(f"webhooks: starting the edge with {modules} modules")
        sink_port = free_port()
        sink = Sink(sink_port, secret, phase_dir)
        try:
            edge.start(phase_dir / "edge.log")  # inside: an edge that never gets healthy is stopped too
            api = Api(http_port, floor.TOKEN)
            api.create_endpoint(f"http://127.0.0.1:{sink_port}/hooks", secret)
            if not outage:
                api.set_enabled(False)
            orders = int(1.3 * backlog / lines) + 1
            say(
                f"webhooks: endpoint {'enabled, nothing listening' if outage else 'disabled'}; "
                f"seeding {orders} orders x {lines} lines"
            )
            asyncio.run(floor.seed_orders(http_port, names, orders, lines))
            built = build_backlog(edge, broker, names, loaders, backlog, phase_dir)
            if outage:
                # The relay has been retrying (and backing off) all along: the receiver coming up is
                # what releases the backlog, and its capacity is measured once the backlog is gone.
                say(f"webhooks: backlog of {built:,.0f}; starting the receiver")
                drained = drain(edge, sink, built, release=sink.start)
                capacity = sink.capacity(capacity_seconds)
            else:
                say(f"webhooks: backlog of {built:,.0f}; starting the receiver, measuring it alone")
                sink.start()
                capacity = sink.capacity(capacity_seconds)
                drained = drain(edge, sink, built, release=lambda: api.set_enabled(True))
            say(f"webhooks: receiver alone: {capacity['per_second']:,.0f} verified requests/s")
        finally:
            sink.stop()
            edge.stop()
    return {
        "backlog": built,
        "released_by": "starting the receiver after an outage" if outage else "re-enabling the endpoint",
        "receiver_capacity": capacity,
        **drained,
    }


class Api:
    def __init__(self, http_port: int, token: str) -> None:
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{http_port}/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def create_endpoint(self, url: str, secret: str) -> None:
        response = self.client.post(
            "/webhooks/endpoints", json={"url": url, "secret": secret, "name": "bench", "events": ["*"]}
        )
        response.raise_for_status()

    def set_enabled(self, enabled: bool) -> None:
        self.client.patch("/webhooks/endpoints/bench", json={"enabled": enabled}).raise_for_status()


def build_backlog(
    edge: Edge, broker: str, names: list[str], loaders: int, target: int, workdir: Path
) -> float:
    """Press flat out until the backlog reaches `target`: a short first run measures how fast it grows
    here, the next ones are sized from that."""
    backlog = edge.metric("floorgate_webhook_backlog")
    per_second = float(EXPECTED_PRESSES_PER_S)
    run = 0
    while backlog < target:
        seconds = max(1.0, (target - backlog) / per_second)
        if run == 0:
            seconds = min(seconds, 3.0)
        say(f"webhooks: backlog {backlog:,.0f} of {target:,}; loaders flat out for {seconds:.0f} s")
        started = time.monotonic()
        run_loaders(broker, names, loaders, seconds, None, workdir, f"backlog-{run}")
        grown = edge.metric("floorgate_webhook_backlog") - backlog
        backlog += grown
        per_second = max(per_second / 4, grown / (time.monotonic() - started))
        run += 1
        if run >= 10:
            raise RuntimeError(f"the backlog stopped at {backlog:,.0f}: the seeded lines ran out")
    return float(backlog)


class Sink:
    """The receiver process."""

    def __init__(self, port: int, secret: str, workdir: Path) -> None:
        self.port = port
        self.env = {**os.environ, SECRET_ENV: secret}
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.webhook_sink", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.stats()
            except httpx.HTTPError:
                time.sleep(0.05)
            else:
                return
        raise TimeoutError("the webhook receiver did not answer within 30 s")

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.http.get("/stats").json()
        return result

    def capacity(self, seconds: float) -> dict[str, Any]:
        blast = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.webhook_sink",
                "blast",
                "--url",
                f"http://127.0.0.1:{self.port}/capacity",
                "--seconds",
                str(seconds),
            ],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            check=True,
            text=True,
            timeout=seconds + 60,
        )
        result: dict[str, Any] = json.loads(blast.stdout)
        return result

    def stop(self) -> None:
        self.http.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def drain(edge: Edge, sink: Sink, backlog: float, *, release: Callable[[], None]) -> dict[str, Any]:
    """Release the backlog (re-enable the endpoint, or start the receiver); time the first delivery
    and the backlog down to zero."""
    cpu0 = edge.sample()[1]
    pressure0 = cpu_pressure()
    delivered0 = edge.metric("floorgate_webhook_delivered_total")
    enabled_at = time.time()
    release()
    timeline: list[tuple[float, float]] = []
    deadline = time.monotonic() + max(120.0, backlog / 50)
    remaining = backlog
    while remaining > 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the backlog did not drain: {remaining:,.0f} deliveries still pending")
        time.sleep(0.25)
        remaining = edge.metric("floorgate_webhook_backlog")
        timeline.append((round(time.time() - enabled_at, 2), remaining))
    drained_at = time.time()
    _, cpu1 = edge.sample()
    contention = cpu_pressure_since(pressure0)
    stats = sink.stats()
    receiver = {k: v for k, v in stats.items() if k != "capacity_requests"}
    seconds = drained_at - enabled_at
    first = stats["first_at"]
    say(f"webhooks: {backlog:,.0f} drained in {seconds:.1f} s")
    return {
        "drain_s": round(seconds, 2),
        "deliveries_per_s": round(backlog / seconds, 1),
        "first_delivery_s": round(first - enabled_at, 3) if first else None,
        "receiver_rate_per_s": round(stats["distinct"] / (stats["last_at"] - first), 1)
        if first and stats["last_at"] > first
        else None,
        "relay_delivered": edge.metric("floorgate_webhook_delivered_total") - delivered0,
        "edge_cpu_percent": round(100 * (cpu1 - cpu0) / seconds, 1),
        "backlog_timeline": timeline[:: max(1, len(timeline) // 20)],
        "machine_contention": contention,
        "receiver": receiver,
    }


def row(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Rows for bench.run's table."""
    receiver = result["receiver"]
    return [
        (
            f"webhook backlog of {result['backlog']:,.0f} drained to a local receiver",
            f"{result['deliveries_per_s']:,.0f} deliveries/s ({result['drain_s']} s)",
            "bar 500/s · goal 2,000/s",
        ),
        (
            f"  first delivery after {result['released_by']} / edge CPU",
            f"{result['first_delivery_s']} s / {result['edge_cpu_percent']}%",
            "",
        ),
        (
            "  receiver alone (verifying) / checks",
            f"{result['receiver_capacity']['per_second']:,.0f}/s",
            f"{receiver['distinct']:,} distinct over {receiver['orders']:,} orders, {receiver['duplicates']} dup, "
            f"{receiver['unverified']} bad sig, {receiver['out_of_order']} out of order",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.webhook_drain", description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--modules", type=int, default=1000)
    parser.add_argument("--loaders", type=int, default=2)
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--capacity-seconds", type=float, default=5)
    parser.add_argument("--quick", action="store_true", help="a backlog of 3,000, 200 modules")
    parser.add_argument(
        "--outage",
        action="store_true",
        help="build the backlog against a port where nothing listens (retries back off), then start the receiver",
    )
    args = parser.parse_args()
    if args.quick:
        args.backlog, args.modules, args.lines, args.capacity_seconds = 3000, 200, 50, 2
    with tempfile.TemporaryDirectory(prefix="fg-webhooks-") as tmp:
        result = measure(
            Path(tmp),
            backlog=args.backlog,
            modules=args.modules,
            loaders=args.loaders,
            lines=args.lines,
            capacity_seconds=args.capacity_seconds,
            outage=args.outage,
        )
    result["command"] = " ".join([Path(sys.executable).name, "-m", "bench.webhook_drain", *sys.argv[1:]])
    result["machine"] = machine()
    print(json.dumps(result, indent=2))
    for name, value, target in row(result):
        say(f"{name}: {value} {target}")


if __name__ == "__main__":
    main()
