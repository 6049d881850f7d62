"""How long a floor's lights take to come back after the broker restarts without persistence.

    .venv/bin/python -m bench.broker_restart [--modules 10000] [--outage 10] [--rounds 3]

Seeds a store with `--modules` lit modules (as the restart phase does), runs a `floorgate run` edge on it
against mosquitto with its defaults (`persistence false`, stock queues), waits until the broker retains
every lit command, then stops the broker for `--outage` seconds and starts it again with nothing retained.
Prints, per round, the time from the broker's start, and from the edge's reconnect (its log), until the
broker retains every lit module's command again. The first includes the edge's reconnect backoff.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

from bench.restart import seed_restart_state
from tests.support.brokers import Mosquitto
from tests.support.edge_process import EdgeProcess
from tests.support.retained import retained_now


def logged_at(edge: EdgeProcess, message: str) -> float:
    """The wall-clock time of the edge's last JSON log line saying `message`."""
    times = []
    for line in edge.logs().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("msg") == message:
            times.append(datetime.fromisoformat(record["ts"]).timestamp())
    if not times:
        raise RuntimeError(f"the edge never logged {message!r}")
    return times[-1]


async def lit_retained(url: str, site: str) -> int:
    found = await retained_now(url, f"floorgate/{site}/ptl/+/cmd", within=30)
    return sum(1 for payload in found.values() if b'"color"' in payload)


async def wait_lit(url: str, site: str, lit: int, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while await lit_retained(url, site) < lit:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the broker did not retain {lit} lit commands within {within} s")
        await asyncio.sleep(0.05)


async def measure(modules: int, outage: float, rounds: int) -> list[dict[str, float]]:
    work = Path(tempfile.mkdtemp(prefix="fg-broker-restart-"))
    (work / "data").mkdir()
    lit = await asyncio.to_thread(seed_restart_state, work / "data", modules, modules, modules)
    broker = Mosquitto(persistence=False, stock_limits=True).start()
    site = f"b{uuid.uuid4().hex[:8]}"
    edge = EdgeProcess(workdir=work, site=site, mqtt_url=broker.url)
    results = []
    try:
        await asyncio.to_thread(edge.start, timeout=120)
        await wait_lit(broker.url, site, lit)
        for _ in range(rounds):
            await asyncio.to_thread(broker.stop)
            await asyncio.sleep(outage)  # the outage itself
            await asyncio.to_thread(broker.start)
            back = time.monotonic()
            await wait_lit(broker.url, site, lit)
            done, done_wall = time.monotonic(), time.time()
            reconnected = logged_at(edge, "MQTT connection restored")
            results.append(
                {
                    "from_broker_start_s": round(done - back, 2),
                    "from_reconnect_s": round(done_wall - reconnected, 2),
                }
            )
            print(f"{lit} lit modules: {results[-1]}", flush=True)
    finally:
        edge.stop()
        broker.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.broker_restart", description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=10_000)
    parser.add_argument("--outage", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(measure(args.modules, args.outage, args.rounds))


if __name__ == "__main__":
    main()
