"""The latency phase alone, on a floor of the size you choose: how press -> light depends on the floor.

    .venv/bin/python -m bench.latency_probe [--orders 151] [--lines 100] [--flat 0] [--duration 20]

`bench.run` seeds enough lines for 1.5 times what its loaders could press in both its phases (about
4,000 orders of 100 lines) and runs the latency phase after a flat-out phase. This probe seeds exactly
`--orders` orders (at least enough for the presses it makes), optionally presses flat out for `--flat`
seconds first, then presses at `--rate` for `--duration` seconds, and prints one line with p50/p95/p99,
the edge's CPU and the machine. Same processes as the bench: mosquitto, `floorgate run`, loaders.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from bench.floor import modules, seed_orders, site_file
from bench.machine import MachineLoad, machine
from bench.processes import Edge, free_port, mosquitto, run_loaders
from bench.progress import say


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.latency_probe", description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=1000)
    parser.add_argument("--loaders", type=int, default=2)
    parser.add_argument("--orders", type=int, default=0, help="orders to seed (0: just enough)")
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--flat", type=float, default=0.0, help="seconds flat out before the latency run")
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--store-url", help="an empty database for the edge's store (default: SQLite)")
    args = parser.parse_args()
    # Lines for the presses this probe makes (flat out at most ~5,000/s on this machine), with a margin.
    needed = int(1.5 * (args.duration * args.rate + args.flat * 5000) / args.lines) + 1
    orders = max(args.orders, needed)
    with tempfile.TemporaryDirectory(prefix="fg-probe-") as tmp:
        workdir = Path(tmp)
        names = modules(args.modules)
        with mosquitto(workdir) as broker:
            http_port = free_port()
            edge = Edge(site_file(workdir, broker, http_port, names, store_url=args.store_url), http_port)
            edge.start(workdir / "edge.log")
            try:
                say(f"seeding {orders} orders x {args.lines} lines")
                asyncio.run(seed_orders(http_port, names, orders, args.lines))
                if args.flat:
                    say(f"flat out for {args.flat:g} s")
                    run_loaders(broker, names, args.loaders, args.flat, None, workdir, "flat")
                say(f"{args.rate:g} presses/s for {args.duration:g} s")
                cpu0, t0 = edge.sample()[1], time.monotonic()
                load = MachineLoad()
                load.start()
                result = run_loaders(broker, names, args.loaders, args.duration, args.rate, workdir, "rate")
                machine_load = load.stop()
                cpu = 100 * (edge.sample()[1] - cpu0) / (time.monotonic() - t0)
            finally:
                edge.stop()
    summary = {
        "orders": orders,
        "lines": args.lines,
        "flat_s": args.flat,
        "rate": args.rate,
        "p50_ms": result["latency_ms_p50"],
        "p95_ms": result["latency_ms_p95"],
        "p99_ms": result["latency_ms_p99"],
        "max_ms": result["latency_ms_max"],
        "seen_p99_ms": result["seen_latency_ms_p99"],
        "edge_cpu_percent": round(cpu, 1),
        **machine_load,
        "machine": machine(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
