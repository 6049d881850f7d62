"""An active/standby pair on one PostgreSQL store: kill -9 the active edge again and again while pickers
work, and pause one until the other takes over.

Real processes all through: two `floorgate run` edges whose site files differ only in `[edge] id`, a
throwaway PostgreSQL cluster, a real mosquitto, simulated modules and pickers, an ERP talking to the pair
through one address that follows `/healthz/ready` (as a load balancer does), and a receiver verifying
every webhook. FLOORGATE_CRASH_SEED=<seed> replays a run's moments.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

import httpx
import pytest

from floorgate.core.commands import Button
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.edge.webhooks.signing import new_secret
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.brokers import Mosquitto
from tests.support.edge_pair import ReadyFront, pair_edges, readiness, start_pair, wait_active
from tests.support.edge_process import TOKENS, EdgeProcess, webhook_site
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
from tests.support.postgres import PostgresServer
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.failure

# Kill rounds go on for about this long (and at least MIN_ROUNDS): the bench runs ten and times them.
ROUNDS_FOR_S = 60.0
MIN_ROUNDS = 3
# Generous: the bar (5 s from kill -9 to the lights re-sent) is the bench's to measure, not a slow CI's.
TAKEOVER_WITHIN = 45.0
EDGE_START_WITHIN = 60.0


def crash_seed() -> int:
    seed = int(os.environ.get("FLOORGATE_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"standby pair seed {seed}: replay with FLOORGATE_CRASH_SEED={seed}")
    return seed


async def test_killing_the_active_edge_round_after_round_hands_the_floor_over_losing_and_doubling_nothing(
    tmp_path: Path, mosquitto: Mosquitto, postgres_server: PostgresServer
) -> None:
    seed = crash_seed()
    rng = random.Random(seed)
    site = new_site_id("pair")
    bins = floor_bins(per_zone=5)
    secret = new_secret()
    async with WebhookReceiver([secret]) as receiver:
        edges = pair_edges(
            tmp_path,
            site=site,
            mqtt_url=mosquitto.url,
            store_url=postgres_server.create_database(),
            extra_site=webhook_site(url=receiver.url, secret=secret),
        )
        active = await start_pair(edges, timeout=EDGE_START_WITHIN)
        assert active is edges[0]
        takers: list[str] = [active.edge_id]
        try:
            async with (
                ReadyFront(edges) as front,
                ErpClient(front) as erp,
                ModuleBank(MqttEndpoint.from_url(mosquitto.url), site, [b.module for b in bins]) as bank,
            ):
                await erp.seed(bins)
                feeder = OrderFeeder(erp, bins, rng, in_flight=4)
                pressed_in_gaps = 0
                started = time.monotonic()
                async with PickerCrew(
                    bank, bins, rng, seconds_per_pick=0.05, short_rate=0.1, mistake_rate=0.05
                ) as crew:
                    feeder.start()
                    while len(takers) <= MIN_ROUNDS or time.monotonic() - started < ROUNDS_FOR_S:
                        await asyncio.sleep(rng.uniform(0.2, 1.2))  # the moment to die: drawn, not waited for
                        crew.check_working()
                        before = bank.stats.events_sent
                        active.kill9()
                        taker = await wait_active(edges, timeout=TAKEOVER_WITHIN, other_than=active)
                        pressed_in_gaps += bank.stats.events_sent - before
                        takers.append(taker.edge_id)
                        # The edge that died comes back as the standby of the one that took over.
                        await asyncio.to_thread(active.start, timeout=EDGE_START_WITHIN)
                        active = taker
                        print(f"round {len(takers) - 1}: {taker.edge_id} active; {crew.summary()}")
                    orders = await feeder.finish()
                    await wait_orders_picked(erp, orders, timeout=90, crew=crew)
                    await wait_lights_agree(erp, bank, timeout=30)
                    await wait_until(
                        lambda: all(p.working_on is None for p in crew.pickers),
                        timeout=15,
                        what="pickers idle",
                    )
                    ledger = await RunLedger.read(erp)

                context = f"seed {seed}, {len(orders)} orders, {len(ledger.events)} events, {crew.summary()}"
                assert pressed_in_gaps > 0, f"no key pressed while an edge was taking over; {context}"
                assert bank.lit() == {}, f"modules still lit after every order was picked; {context}"
                # A gap-free event log with no id twice, every line finished once, on-hand as picked.
                ledger.check_floor(bins, orders)
                assert bank.unanswered() == [], context
                assert ledger.count(*PRESS_OUTCOMES) == crew.finishing_presses, (
                    f"{ledger.count(*PRESS_OUTCOMES)} pick events for {crew.finishing_presses} finishing "
                    f"presses; {context}"
                )
                assert ledger.count("pick.rejected") == sum(p.mistakes for p in crew.pickers), context
                # Every takeover is on the record, alternating between the two edges, one epoch each.
                took_over = [e["data"] for e in ledger.events if e["type"] == "edge.took_over"]
                assert [t["edge"] for t in took_over] == takers, f"took over: {took_over}; {context}"
                assert [t["epoch"] for t in took_over] == list(range(1, len(takers) + 1)), context
                assert [t["previous"] for t in took_over] == [None, *takers[:-1]], context

                await wait_until(
                    lambda: {e["id"] for e in ledger.events} <= set(receiver.accepted_ids()),
                    timeout=60,
                    what="every logged event taken by the receiver",
                )
                check_deliveries(ledger.events, receiver)
                await wait_backlog_drained(erp, timeout=30)
        finally:
            for edge in edges:
                edge.stop()
    print(f"standby pair: {len(takers) - 1} takeovers in {time.monotonic() - started:.1f}s; seed {seed}")


async def post_order_to(edge: EdgeProcess, order: dict[str, object]) -> httpx.Response | str:
    """POST an order straight to one edge; what it answered, or why it did not."""
    async with httpx.AsyncClient(
        base_url=f"{edge.base_url}/api/v1", headers={"Authorization": f"Bearer {TOKENS['erp']}"}
    ) as client:
        try:
            return await client.post("/orders", json=order, timeout=120)
        except httpx.HTTPError as err:
            return f"{type(err).__name__}: {err}"


async def test_a_paused_active_edge_that_comes_back_commits_nothing_and_turns_standby(
    tmp_path: Path, mosquitto: Mosquitto, postgres_server: PostgresServer
) -> None:
    site = new_site_id("pause")
    bins = floor_bins(per_zone=2)
    edges = pair_edges(
        tmp_path, site=site, mqtt_url=mosquitto.url, store_url=postgres_server.create_database()
    )
    paused, other = edges
    assert await start_pair(edges, timeout=EDGE_START_WITHIN) is paused
    try:
        async with (
            ReadyFront(edges) as front,
            ErpClient(front) as erp,
            ModuleBank(MqttEndpoint.from_url(mosquitto.url), site, [b.module for b in bins]) as bank,
        ):
            await erp.seed(bins)
            first = bins[0]
            await erp.send_order(
                {"order_id": "SO-1", "lines": [{"line_id": "1", "sku": first.sku, "qty": 1}]}
            )
            await erp.start_order("SO-1", first.zone)
            await wait_until(lambda: bank.state(first.module).lit, timeout=30, what=f"{first.module} lit")

            paused.pause()
            try:
                # Sent while the edge is paused: its socket takes the request, the edge reads it only
                # once it runs again, after the other edge took the lease.
                stale = asyncio.create_task(
                    post_order_to(
                        paused,
                        {"order_id": "SO-STALE", "lines": [{"line_id": "1", "sku": first.sku, "qty": 1}]},
                    )
                )
                assert await wait_active(edges, timeout=TAKEOVER_WITHIN, other_than=paused) is other
                # The floor goes on under the new active edge: the lit bin is picked there.
                await bank.press(first.module, Button.CONFIRM)
                await wait_until(
                    lambda: _picked(erp, "SO-1"), timeout=30, what="SO-1 picked through the new active edge"
                )
            finally:
                paused.resume()

            answer = await stale
            async with httpx.AsyncClient() as client:
                await wait_until(
                    lambda: _standby(paused, client), timeout=60, what=f"{paused.edge_id} standby again"
                )
                assert await readiness(other, client) == 200
            assert not (isinstance(answer, httpx.Response) and answer.is_success), (
                f"the paused edge took an order after it lost the lease: {answer.status_code} {answer.text}"
            )
            missing = await erp.call("GET", "/orders/SO-STALE")
            assert missing.status_code == 404, f"the paused edge committed SO-STALE: {missing.text}"
            await wait_lights_agree(erp, bank, timeout=30)
            ledger = await RunLedger.read(erp)
            took_over = [e["data"] for e in ledger.events if e["type"] == "edge.took_over"]
            assert [(t["edge"], t["epoch"]) for t in took_over] == [(paused.edge_id, 1), (other.edge_id, 2)]
            assert "turns standby" in paused.logs(), paused.logs()[-3000:]
    finally:
        for edge in edges:
            edge.stop()


async def _picked(erp: ErpClient, order_id: str) -> bool:
    return (await erp.get(f"/orders/{order_id}"))["status"] == "picked"


async def _standby(edge: EdgeProcess, client: httpx.AsyncClient) -> bool:
    try:
        live = await client.get(f"{edge.base_url}/healthz/live", timeout=1)
        ready = await client.get(f"{edge.base_url}/healthz/ready", timeout=1)
    except httpx.HTTPError:
        return False
    return (live.status_code, ready.status_code, live.json().get("role")) == (200, 503, "standby")
