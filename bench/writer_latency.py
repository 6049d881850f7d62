"""The single writer on its own: submit -> commit latency at a fixed press rate, no MQTT, no HTTP.

    .venv/bin/python -m bench.writer_latency [--rate 500] [--presses 2000]

Seeds a floor through the real Writer and SQLite store (WAL, synchronous=FULL) in a temporary folder,
then submits confirm presses at the given rate and times each from submit to the callback the writer
makes once the press is committed. Isolates the write path from the MQTT side of the edge.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from floorgate.core import commands as cmd
from floorgate.edge.store import Store, make_engine
from floorgate.edge.writer import Writer

MODULES = 200
LINES_PER_ORDER = 50


async def measure(rate: float, presses: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="fg-writer-") as tmp:
        store = Store(make_engine(f"sqlite:///{Path(tmp) / 'floorgate.db'}"))
        store.create_schema()
        writer = Writer(store=store, floor=store.load().floor, last_seq=0)
        task = asyncio.create_task(writer.run())
        await writer.execute(cmd.DefineZone(zone="Z"))
        await asyncio.gather(
            *(
                writer.execute(
                    cmd.UpsertLocation(code=f"L{i}", zone="Z", module=f"M{i}", sku=f"S{i}", on_hand=10**6)
                )
                for i in range(MODULES)
            )
        )
        orders = presses // LINES_PER_ORDER + MODULES // LINES_PER_ORDER + 1
        for n in range(orders):
            lines = tuple(
                cmd.NewOrderLine(
                    line_id=str(i),
                    sku=f"S{(n * LINES_PER_ORDER + i) % MODULES}",
                    qty=1,
                    location=f"L{(n * LINES_PER_ORDER + i) % MODULES}",
                )
                for i in range(LINES_PER_ORDER)
            )
            await writer.execute(cmd.ReceiveOrder(order_id=f"O{n}", lines=lines))
            await writer.execute(cmd.StartOrder(order_id=f"O{n}", zone="Z", operator=f"p{n % 7}"))
        latencies: list[float] = []
        finished = asyncio.Event()
        next_at = time.perf_counter()
        for k in range(presses):
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            module = f"M{k % MODULES}"
            submitted = time.perf_counter()

            def committed(submitted: float = submitted) -> None:
                latencies.append(time.perf_counter() - submitted)
                if len(latencies) == presses:
                    finished.set()

            light = writer.floor.lights.get(module)
            display = light.display if light is not None and light.display else "1"
            await writer.submit(
                cmd.PressButton(
                    message_id=f"p{k}", module=module, button=cmd.Button.CONFIRM, display=display
                ),
                on_commit=committed,
            )
        await asyncio.wait_for(finished.wait(), timeout=60)
        task.cancel()
        store.close()
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)

    return {
        "rate": rate,
        "presses": presses,
        "p50_ms": pct(0.5),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": pct(1.0),
        "batches": writer.stats.batches,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.writer_latency")
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--presses", type=int, default=2000)
    args = parser.parse_args()
    result = asyncio.run(measure(args.rate, args.presses))
    print(
        f"writer submit -> commit at {result['rate']:g} presses/s: p50 {result['p50_ms']} ms, "
        f"p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms "
        f"({result['presses']} presses in {result['batches']} batches)"
    )


if __name__ == "__main__":
    main()
