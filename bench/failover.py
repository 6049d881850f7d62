"""The failover phase: an active/standby pair on PostgreSQL, the active edge killed with kill -9 round after
round while simulated pickers press; timed from the kill to the first light command the new active edge
sends, and to the last lit module sent its command again; presses lost or applied twice counted at the end.

    python -m bench.failover [--rounds 10] [--store-url postgresql+psycopg://...] [--out bench/results]

Without `--store-url` a throwaway PostgreSQL cluster is started (as the tests do), with a mosquitto that
keeps its state. The pair, the pickers and the checks are the failure tests' own (tests/support/).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.machine import machine
from floorgate.devices.mqtt.connection import MqttConnection
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.mqtt.wire import Publish
from floorgate.devices.ptl.codec import PtlTopic, parse_ptl_topic, ptl_filter
from floorgate.edge.webhooks.signing import new_secret
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.brokers import Mosquitto
from tests.support.edge_pair import ReadyFront, pair_edges, wait_active
from tests.support.edge_process import webhook_site
from tests.support.floor_script import (
    PRESS_OUTCOMES,
    ErpClient,
    OrderFeeder,
    PickerCrew,
    RunLedger,
    floor_bins,
    new_site_id,
    wait_lights_agree,
    wait_orders_picked,
)
from tests.support.postgres import PostgresServer
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver

ROOT = Path(__file__).resolve().parent.parent


class CommandClock:
    """When each module was last sent a light command, live (not a retained copy): the floor's pulse."""

    def __init__(self, broker: str, site: str) -> None:
        self._broker = broker
        self._site = site
        self.sent: dict[str, float] = {}
        self._connection: MqttConnection | None = None

    async def __aenter__(self) -> CommandClock:
        self._connection = await MqttConnection.open(
            MqttEndpoint.from_url(self._broker),
            client_id=f"bench-failover-{self._site}",
            on_message=self._seen,
        )
        await self._connection.subscribe([(ptl_filter(self._site, PtlTopic.CMD), 0)])
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._connection is not None:
            await self._connection.disconnect()

    def _seen(self, message: Publish) -> None:
        parsed = parse_ptl_topic(self._site, message.topic)
        if parsed is not None and not message.retain and message.payload:
            self.sent[parsed[0]] = time.monotonic()

    def first_since(self, moment: float) -> float | None:
        after = [at for at in self.sent.values() if at > moment]
        return min(after) - moment if after else None

    def all_since(self, moment: float, modules: set[str]) -> float | None:
        times = [self.sent.get(module, 0.0) for module in modules]
        return max(times) - moment if times and all(at > moment for at in times) else None


async def failover(workdir: Path, *, rounds: int, store_url: str, broker: str, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    site = new_site_id("failover")
    bins = floor_bins(per_zone=10)
    secret = new_secret()
    first_light: list[float] = []
    every_light: list[float] = []
    lease_taken: list[float] = []
    died: list[float] = []
    async with WebhookReceiver([secret]) as receiver:
        edges = pair_edges(
            workdir,
            site=site,
            mqtt_url=broker,
            store_url=store_url,
            extra_site=webhook_site(url=receiver.url, secret=secret),
        )
        await asyncio.to_thread(edges[0].start, timeout=120)
        active = await wait_active(edges, timeout=120)
        await asyncio.to_thread(edges[1].start, timeout=120)
        try:
            async with (
                ReadyFront(edges) as front,
                ErpClient(front) as erp,
                ModuleBank(MqttEndpoint.from_url(broker), site, [b.module for b in bins]) as bank,
                CommandClock(broker, site) as clock,
            ):
                await erp.seed(bins)
                feeder = OrderFeeder(erp, bins, rng, in_flight=8)
                async with PickerCrew(bank, bins, rng, seconds_per_pick=0.1, short_rate=0.1) as crew:
                    feeder.start()
                    for round_no in range(1, rounds + 1):
                        await asyncio.sleep(rng.uniform(1.0, 3.0))
                        lit = set(bank.lit())
                        killed_at, killed_wall = time.monotonic(), time.time()
                        active.kill9()
                        died.append(time.monotonic() - killed_at)  # the kernel's part: the process gone
                        taker = await wait_active(edges, timeout=60, other_than=active)
                        first = await _wait_for_light(clock, killed_at, set())
                        every = await _wait_for_light(clock, killed_at, lit)
                        first_light.append(first)
                        every_light.append(every)
                        lease_taken.append(_lease_taken_at(taker.logs()) - killed_wall)
                        print(
                            f"round {round_no}: dead after {died[-1]:.3f} s, {taker.edge_id} took the lease {lease_taken[-1]:.3f} s, "
                            f"first light {first:.3f} s, "
                            f"all {len(lit)} lit modules {every:.3f} s"
                        )
                        await asyncio.to_thread(active.start, timeout=120)
                        active = taker
                    orders = await feeder.finish()
                    await wait_orders_picked(erp, orders, timeout=120, crew=crew)
                    await wait_lights_agree(erp, bank, timeout=30)
                    ledger = await RunLedger.read(erp)
                applied = ledger.count(*PRESS_OUTCOMES)
                pressed = crew.finishing_presses
                ids = [e["id"] for e in ledger.events]
                await wait_until(
                    lambda: set(ids) <= set(receiver.accepted_ids()),
                    timeout=120,
                    what="every event delivered",
                )
        finally:
            for edge in edges:
                edge.stop()
    return {
        "rounds": rounds,
        "seed": seed,
        "process_gone_s": {"p50": statistics.median(died), "max": max(died)},
        "lease_taken_s": {"p50": statistics.median(lease_taken), "max": max(lease_taken)},
        "first_light_s": {"p50": statistics.median(first_light), "max": max(first_light)},
        "every_lit_light_s": {"p50": statistics.median(every_light), "max": max(every_light)},
        "presses": pressed,
        "presses_lost": max(0, pressed - applied),
        "presses_doubled": max(0, applied - pressed),
        "events": len(ids),
        "duplicate_event_ids": len(ids) - len(set(ids)),
        "orders": len(orders),
    }


async def _wait_for_light(clock: CommandClock, since: float, modules: set[str]) -> float:
    """Seconds from `since` to the first light command (no `modules`), or to the last of `modules`'."""

    def seen() -> float | None:
        return clock.all_since(since, modules) if modules else clock.first_since(since)

    found: float | None = await wait_until(seen, timeout=60, what="lights sent again")
    assert found is not None  # wait_until returns a truthy value or raises
    return found


def _lease_taken_at(log: str) -> float:
    """When the edge's log last says it took the lease (wall clock, from its JSON log line)."""
    line = next(line for line in reversed(log.splitlines()) if "lease taken" in line)
    return datetime.fromisoformat(json.loads(line)["ts"]).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.failover", description="FloorGate failover benchmark")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--store-url", help="a PostgreSQL database to use (default: a throwaway cluster)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the edges' logs (and the database's)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    server = None if args.store_url else PostgresServer().start()
    broker = Mosquitto().start()
    try:
        store_url = args.store_url or server.create_database()  # type: ignore[union-attr]
        workdir = Path(tempfile.mkdtemp(prefix="fg-failover-"))
        result = asyncio.run(
            failover(workdir, rounds=args.rounds, store_url=store_url, broker=broker.url, seed=seed)
        )
        if args.keep:
            print(f"the edges' logs are in {workdir}")
        else:
            shutil.rmtree(workdir)  # kept when the run fails: the edges' logs are in it
    finally:
        broker.stop()
        if server is not None:
            if args.keep:
                shutil.copy(
                    server.workdir / "server.log", ROOT / "bench" / "results" / "failover-postgres.log"
                )
            server.close()
    result["machine"] = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"failover-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
