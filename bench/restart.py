"""The restart phase: an edge started on a store with the design's restart load, timed until every lit
module has its command again."""

from __future__ import annotations

import asyncio
import time
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
