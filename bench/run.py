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
webhook backlog drained to a local verifying receiver (bench/webhook_drain.py); and, beside the edge, the
same loaders against a Node-RED flow that only echoes an event into a light (bench/node_red_phase.py,
skipped with a line saying why where node is missing); and scan -> cubby light at a put wall at a fixed
scan rate (bench/sort_phase.py). It prints a table and
writes JSON to bench/results/, with the machine and the command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bench import dashboard_lag, node_red_phase, sort_phase, webhook_drain
from bench.floor import SITE, modules, seed_orders, site_file
from bench.machine import MachineLoad, machine, steal_notice
from bench.processes import ROOT, Edge, free_port, mosquitto, run_loaders, wait_for_line
from bench.progress import say
from bench.restart import restart_phase
from bench.wal_watch import WalWatch


def without_password(argument: str) -> str:
    """A command-line argument as the results may show it: a database URL's password hidden."""
    if "://" not in argument or "@" not in argument:
        return argument
    try:
        return make_url(argument).render_as_string(hide_password=True)
    except ArgumentError:
        return "<a URL that could not be read>"


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
    parser.add_argument(
        "--skip-node-red", action="store_true", help="leave out the Node-RED echo flow beside the edge"
    )
    parser.add_argument("--sort-rate", type=float, default=100, help="scans per second in the sort phase")
    parser.add_argument("--skip-sort", action="store_true", help="leave out the put wall's sort phase")
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
        if not args.skip_node_red:
            result["node_red"] = node_red_phase.measure(
                workdir, names=names, loaders=args.loaders, duration=args.duration, rate=args.rate
            )
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
                database = workdir / "data" / "floorgate.db"
                with WalWatch(database) as wal:
                    result["throughput"] = run_loaders(
                        broker, names, args.loaders, args.duration, None, workdir, "flat"
                    )
                if not args.store_url:
                    result["throughput"]["wal_largest_mb"] = wal.largest_mb
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
                with WalWatch(database) as wal:
                    result["latency"] = run_loaders(
                        broker, names, args.loaders, args.duration, args.rate, workdir, "rate"
                    )
                if not args.store_url:
                    result["latency"]["wal_largest_mb"] = wal.largest_mb
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
        if not args.skip_sort:
            result["sort"] = sort_phase.measure(workdir, rate=args.sort_rate, duration=args.duration)
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
    ]
    if "wal_largest_mb" in result["throughput"]:
        rows.append(
            (
                "  write-ahead log's largest file, flat out / at the fixed rate",
                f"{result['throughput']['wal_largest_mb']} / {result['latency']['wal_largest_mb']} MB",
                "bounded: 64 MB limit + one batch",
            )
        )
    rows += [
        (
            # The edge's CPU is a share of one core; the machine's, of all its cores (both from /proc).
            "  edge CPU (of one core) / machine busy, steal (of all cores)",
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
    if "node_red" in result:
        rows += node_red_phase.rows(result["node_red"], result)
    for dashboard in result.get("dashboard", []):
        rows += dashboard_lag.row(dashboard)
    if "sort" in result:
        rows += sort_phase.rows(result["sort"])
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
