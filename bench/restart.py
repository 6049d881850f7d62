"""The restart phase: an edge started on a store with the design's restart load, timed until every lit
module has its command again."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.floor import SITE, TOKEN
from bench.processes import Edge, free_port, mosquitto
from bench.progress import say


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
    say(f"restart: starting the edge on that store, waiting for {lit} lit modules' commands")
    timed = time_restart(workdir, data, lit)
    return {
        "modules": modules_count,
        "locations": locations,
        "open_orders": orders,
        "lit_modules": lit,
        "seed_s": round(seeded_s, 1),
        "healthy_s": round(timed.healthy_s, 2),
        "all_lights_resent_s": round(timed.relit_s, 2),
        "rss_mb": round(timed.rss / 2**20, 1),
    }


@dataclass(frozen=True)
class Restarted:
    healthy_s: float
    """From the process's start until /healthz answered 200."""
    relit_s: float
    """From the process's start until every lit module had been sent its lit command."""
    rss: int
    """The edge's RSS in bytes once every light was out."""


def time_restart(workdir: Path, data: Path, lit: int) -> Restarted:
    """Start `floorgate run` on the store in `data` (a fresh mosquitto beside it) and time it until all of
    `lit` modules have their lit command again."""
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

        try:
            healthy_s, relit_s = asyncio.run(measure())
            rss, _ = edge.sample()
        finally:
            edge.stop()
    return Restarted(healthy_s=healthy_s, relit_s=relit_s, rss=rss)


def main(argv: list[str] | None = None) -> None:
    """Seed one store, then restart an edge on a fresh copy of it each round; print each round and the median."""
    parser = argparse.ArgumentParser(prog="python -m bench.restart", description=__doc__)
    parser.add_argument("--modules", type=int, default=10_000)
    parser.add_argument("--locations", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--store",
        type=Path,
        help="a seeded floorgate.db to copy each round (seeded here and kept with --keep otherwise)",
    )
    parser.add_argument("--keep", type=Path, help="copy the store seeded here to this path")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="floorgate-restart-") as tmp:
        workdir = Path(tmp)
        seeded = workdir / "seed"
        seeded.mkdir()
        if args.store is not None:
            shutil.copyfile(args.store, seeded / "floorgate.db")
            lit = args.modules if args.orders >= args.modules else args.orders
        else:
            say(
                f"restart: seeding {args.modules} modules, {args.locations} locations, {args.orders} open orders"
            )
            started = time.monotonic()
            lit = seed_restart_state(seeded, args.modules, args.locations, args.orders)
            say(f"restart: seeded in {time.monotonic() - started:.1f} s, {lit} lit modules")
            if args.keep is not None:
                shutil.copyfile(seeded / "floorgate.db", args.keep)
        relit: list[float] = []
        for round_ in range(1, args.rounds + 1):
            data = workdir / f"round-{round_}"
            data.mkdir()
            shutil.copyfile(seeded / "floorgate.db", data / "floorgate.db")
            timed = time_restart(workdir, data, lit)
            relit.append(timed.relit_s)
            say(
                f"restart round {round_}: all lights resent {timed.relit_s:.2f} s, "
                f"healthy {timed.healthy_s:.2f} s, RSS {timed.rss / 2**20:.0f} MB"
            )
            shutil.rmtree(data)
        say(f"restart median over {len(relit)} rounds: all lights resent {statistics.median(relit):.2f} s")


if __name__ == "__main__":
    main()
