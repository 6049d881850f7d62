"""Kill -9 the edge at random moments of a busy floor, again and again: nothing confirmed is lost or doubled.

A real mosquitto, a real `floorgate run` keeping its data folder across restarts, simulated modules and
pickers pressing through every crash (the broker keeps their QoS 1 presses for the edge's persistent
session, and each module sends a confirm or short again until the edge answers it with a newer seq), an
ERP feeding orders over the API, and a receiver verifying every webhook. Presses are counted where they
are made, on the modules, not from what the broker acknowledged. The moments are
drawn from a seeded random generator: the seed is printed, and FLOORGATE_CRASH_SEED=<seed> replays it.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

import pytest

from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.edge.webhooks.signing import new_secret
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.brokers import Mosquitto
from tests.support.edge_process import EdgeProcess, webhook_site
from tests.support.floor_script import (
    PRESS_OUTCOMES,
    ErpClient,
    OrderFeeder,
    PickerCrew,
    RunLedger,
    check_deliveries,
    floor_bins,
    new_site_id,
    wait_backlog_drained,
    wait_lights_agree,
    wait_orders_picked,
)
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.failure

ROUNDS = 10
# Generous: a loaded machine has been seen to take 13 s to start the edge.
EDGE_START_WITHIN = 60.0


def crash_seed() -> int:
    seed = int(os.environ.get("FLOORGATE_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"crash rounds seed {seed}: replay with FLOORGATE_CRASH_SEED={seed}")
    return seed


async def test_ten_kill_9s_at_random_moments_lose_no_pick_apply_none_twice_and_deliver_every_event(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    seed = crash_seed()
    rng = random.Random(seed)
    site = new_site_id("crash")
    bins = floor_bins(per_zone=5)
    secret = new_secret()
    started = time.monotonic()
    async with WebhookReceiver([secret]) as receiver:
        edge = EdgeProcess(
            workdir=tmp_path,
            site=site,
            mqtt_url=mosquitto.url,
            extra_site=webhook_site(url=receiver.url, secret=secret),
        )
        await asyncio.to_thread(edge.start, timeout=EDGE_START_WITHIN)
        try:
            async with (
                ErpClient(edge) as erp,
                ModuleBank(MqttEndpoint.from_url(mosquitto.url), site, [b.module for b in bins]) as bank,
            ):
                await erp.seed(bins)
                feeder = OrderFeeder(erp, bins, rng, in_flight=4)
                pressed_while_down = 0
                async with PickerCrew(
                    bank, bins, rng, seconds_per_pick=0.05, short_rate=0.1, mistake_rate=0.05
                ) as crew:
                    feeder.start()
                    for round_no in range(1, ROUNDS + 1):
                        await asyncio.sleep(rng.uniform(0.2, 1.2))  # the moment to die: drawn, not waited for
                        crew.check_working()
                        edge.kill9()
                        before = bank.stats.events_sent
                        # Dead for a while: pickers keep pressing; the broker keeps their presses for the edge.
                        await asyncio.sleep(rng.uniform(0.0, 0.8))
                        await asyncio.to_thread(edge.start, timeout=EDGE_START_WITHIN)
                        pressed_while_down += bank.stats.events_sent - before
                        print(
                            f"round {round_no}: restarted; {len(feeder.sent)} orders sent, {crew.summary()}"
                        )
                    orders = await feeder.finish()
                    await wait_orders_picked(erp, orders, timeout=60, crew=crew)
                    await wait_lights_agree(erp, bank, timeout=15)
                    await wait_until(
                        lambda: all(p.working_on is None for p in crew.pickers),
                        timeout=10,
                        what="pickers idle",
                    )
                    ledger = await RunLedger.read(erp)

                context = f"seed {seed}, {len(orders)} orders, {len(ledger.events)} events, {crew.summary()}"
                # Not a run where the pickers happened to idle through every crash.
                assert pressed_while_down > 0, f"no key pressed while the edge was down; {context}"
                assert bank.lit() == {}, f"modules still lit after every order was picked; {context}"
                ledger.check_floor(bins, orders)
                # Every confirm or short a picker made became exactly one pick event, whether the edge was
                # alive, dead or starting when it was pressed; and every module saw its press answered.
                assert bank.unanswered() == [], context
                assert ledger.count(*PRESS_OUTCOMES) == crew.finishing_presses, (
                    f"{ledger.count(*PRESS_OUTCOMES)} pick events for {crew.finishing_presses} finishing presses; "
                    + context
                )
                assert ledger.count("pick.rejected") == sum(p.mistakes for p in crew.pickers), context

                await wait_until(
                    lambda: {e["id"] for e in ledger.events} <= set(receiver.accepted_ids()),
                    timeout=30,
                    what="every logged event taken by the receiver",
                )
                check_deliveries(ledger.events, receiver)
                await wait_backlog_drained(erp, timeout=15)
        finally:
            edge.stop()
    print(
        f"crash rounds: {ROUNDS} kills in {time.monotonic() - started:.1f}s; seed {seed}; "
        f"{bank.stats.events_resent} presses sent again by their modules"
    )
