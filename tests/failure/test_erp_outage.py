"""The ERP's webhook receiver is down for a whole run: the floor does not wait for it, and nothing is lost.

Nothing listens on the receiver's port while orders are picked (every attempt is refused), so every
event piles up in the outbox. Then the receiver comes up on that port: the backlog drains to zero, each
event arrives under its own id, signed, and an order's events in seq order. The site file's
`[webhook_delivery]` keeps the retry waits short so the drain starts within half a second.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from pathlib import Path

import pytest

from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.edge.webhooks.signing import new_secret
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.brokers import Mosquitto, free_port, port_open
from tests.support.edge_process import EdgeProcess, webhook_site
from tests.support.floor_script import (
    ErpClient,
    PickerCrew,
    RunLedger,
    check_deliveries,
    floor_bins,
    new_site_id,
    random_order,
    wait_backlog_drained,
    wait_orders_picked,
    zones_of,
)
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.failure

ORDERS = 12
RETRY_MAX_S = 0.5
SHORT_RETRIES = f"""
[webhook_delivery]
max_attempts = 10000
retry_base_s = 0.05
retry_max_s = {RETRY_MAX_S}
timeout_s = 5
"""


async def test_the_floor_works_through_an_erp_outage_and_the_backlog_drains_in_order_once_it_is_back(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    rng = random.Random(20261124)
    site = new_site_id("erp")
    bins = floor_bins(per_zone=4)
    secret = new_secret()
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks/floorgate"
    edge = EdgeProcess(
        workdir=tmp_path,
        site=site,
        mqtt_url=mosquitto.url,
        extra_site=webhook_site(url=url, secret=secret) + SHORT_RETRIES,
    )
    await asyncio.to_thread(edge.start, timeout=60)
    try:
        async with (
            ErpClient(edge) as erp,
            ModuleBank(MqttEndpoint.from_url(mosquitto.url), site, [b.module for b in bins]) as bank,
        ):
            assert not port_open(port), f"something listens on {port}: the ERP is meant to be down"
            await erp.seed(bins)
            orders = {f"SO-{n:02d}": random_order(rng, f"SO-{n:02d}", bins) for n in range(1, ORDERS + 1)}
            async with PickerCrew(
                bank, bins, rng, seconds_per_pick=0.02, short_rate=0.1, mistake_rate=0.1
            ) as crew:
                for order_id, body in orders.items():
                    await erp.send_order(body)
                    for zone in zones_of(body, bins):
                        await erp.start_order(order_id, zone)
                await wait_orders_picked(erp, orders, timeout=60, crew=crew)

            # The floor did its work without the ERP: lights lit and answered, every pick on the books.
            assert bank.stats.cmds_applied >= sum(len(o["lines"]) for o in orders.values())
            outage = await RunLedger.read(erp)
            outage.check_floor(bins, orders)
            assert outage.count("pick.confirmed", "pick.short") == sum(
                len(o["lines"]) for o in orders.values()
            )

            # ... while every event waited in the outbox, the receiver's refusals recorded.
            pending = await erp.deliveries("pending")
            assert [d["event_seq"] for d in pending] == [e["seq"] for e in outage.events]
            tried = [d for d in pending if d["attempts"]]
            assert tried, "the relay never tried the receiver"
            # Nothing listens: every attempt fails connecting, whatever the HTTP client calls that.
            not_refused = {d["last_error"] for d in tried if "refused" not in (d["last_error"] or "").lower()}
            assert not not_refused, f"attempts that failed other than by a refused connection: {not_refused}"
            # The site file's [webhook_delivery] holds: however often refused, no delivery waits longer
            # than retry_max_s for its next attempt (the default would be minutes by now).
            now = time.time()
            waits = {
                d["event_seq"]: round(d["next_attempt_at"] - now, 3) for d in tried if d["attempts"] >= 3
            }
            assert waits, (
                f"no delivery was refused three times: {[(d['event_seq'], d['attempts']) for d in tried]}"
            )
            assert max(waits.values()) <= RETRY_MAX_S, (
                f"next attempts further off than {RETRY_MAX_S}s: {waits}"
            )
            metrics = await erp.metrics()
            assert metrics["floorgate_webhook_backlog"] == len(outage.events)
            assert metrics["floorgate_webhook_delivered_total"] == 0
            assert metrics["floorgate_webhook_attempts_failed_total"] >= len(tried)
            assert metrics["floorgate_webhook_oldest_pending_age_seconds"] > 0

            async with WebhookReceiver([secret], port=port) as receiver:
                drained = await wait_backlog_drained(erp, timeout=30)
                events = await erp.events()
                assert events == outage.events, "no event may be logged by delivering webhooks"
                await wait_until(
                    lambda: {e["id"] for e in events} <= set(receiver.accepted_ids()),
                    timeout=10,
                    what="every event accepted by the receiver",
                )
                check_deliveries(events, receiver)
                delivered = await erp.deliveries("delivered")
        assert sorted(d["event_seq"] for d in delivered) == [e["seq"] for e in events]
        assert {d["event_id"] for d in delivered} == {e["id"] for e in events}
        assert drained["floorgate_webhook_delivered_total"] == len(events)
        assert drained["floorgate_webhook_failed_total"] == 0
        assert drained["floorgate_webhook_oldest_pending_age_seconds"] == 0
        # An order's later events waited behind its first one the whole outage: sent once, when it was in.
        lanes: dict[str, list[dict[str, object]]] = defaultdict(list)
        for delivery in delivered:
            if delivery["order_id"] is not None:
                lanes[delivery["order_id"]].append(delivery)
        assert sorted(lanes) == sorted(orders)
        for order_id, lane in lanes.items():
            first, *later = sorted(lane, key=lambda d: d["event_seq"])
            assert first["attempts"] > 1, f"{order_id}: its first event was never refused: {first}"
            assert [d["attempts"] for d in later] == [1] * len(later), (
                f"{order_id}: later events sent early: {lane}"
            )
    finally:
        edge.stop()
