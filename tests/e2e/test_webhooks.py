"""Signed webhooks from a real edge: the ERP down for a while, the edge killed mid-delivery, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from floorgate.core.commands import Button
from floorgate.edge.webhooks.signing import new_secret
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.brokers import Mosquitto
from tests.support.edge_process import EdgeProcess
from tests.support.master_data import ORDER, seed_master_data
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import Reply, WebhookReceiver

pytestmark = pytest.mark.e2e


async def test_every_event_reaches_a_recovering_erp_verified_and_in_order_even_across_a_kill_9(
    tmp_path: Path, mosquitto: Mosquitto, site: str, bank: ModuleBank
) -> None:
    secret = new_secret()
    accepting = False
    async with WebhookReceiver([secret], script=lambda r: Reply(204) if accepting else Reply(503)) as erp:
        webhook = f'[[webhooks]]\nname = "erp"\nurl = "{erp.url}"\nsecret = "{secret}"\nevents = ["*"]\n'
        edge = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=mosquitto.url, extra_site=webhook).start()
        try:
            with edge.client("erp") as api:
                seed_master_data(api)
                assert api.post("/orders", json=ORDER).status_code == 201
                assert api.post("/orders/O-1/start", json={"zone": "A", "operator": "ann"}).status_code == 200
            await wait_until(lambda: bank.state("M-A-01").display == "3", what="lit")
            await bank.press("M-A-01", Button.CONFIRM)
            await wait_until(lambda: bank.state("M-A-01").color is None, what="confirmed")
            await wait_until(lambda: len(erp.requests) >= 3, what="the ERP refusing deliveries")

            edge.kill9()  # deliveries are pending in the outbox, the ERP has taken none of them
            assert erp.accepted == []
            edge.start()
            accepting = True
            await bank.press("M-A-02", Button.CONFIRM)

            with edge.client("viewer") as viewer:
                await wait_until(
                    lambda: viewer.get("/orders/O-1").json()["status"] == "picked", what="picked"
                )
                events = viewer.get("/events", params={"limit": 1000}).json()["events"]
                # Every event's id taken (a delivery may be taken twice: at least once is the promise, and
                # the webhook-id lets the ERP drop the second), not merely as many deliveries as events.
                event_ids = {e["id"] for e in events}
                await wait_until(
                    lambda: event_ids <= set(erp.accepted_ids()), timeout=30, what="every event delivered"
                )
                assert sorted(set(erp.accepted_ids())) == sorted(e["id"] for e in events)
                assert erp.unverified == []
                order_events = [r.seq for r in erp.accepted if r.order == "O-1"]
                assert order_events == sorted(order_events)
                assert [r.type for r in erp.accepted if r.order == "O-1"][-1] == "order.picked"
                assert viewer.get("/webhooks/deliveries", params={"status": "pending"}).json() == []
                delivered = viewer.get(
                    "/webhooks/deliveries", params={"status": "delivered", "limit": 1000}
                ).json()
                assert len(delivered) == len(events)
                assert any(d["attempts"] > 1 for d in delivered)
        finally:
            edge.stop()


async def test_failed_deliveries_are_listed_and_replayed_through_the_api(
    tmp_path: Path, mosquitto: Mosquitto, site: str
) -> None:
    secret = new_secret()
    async with WebhookReceiver([secret]) as erp:
        edge = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=mosquitto.url).start()
        try:
            with edge.client("admin") as admin:
                created = admin.post(
                    "/webhooks/endpoints",
                    json={"url": erp.url, "events": ["order.*"], "secret": secret, "name": "erp"},
                )
                assert created.status_code == 201, created.text
                assert created.json()["secret"] == secret
                assert "secret" not in admin.get("/webhooks/endpoints").json()[0]
                assert (
                    admin.patch("/webhooks/endpoints/erp", json={"enabled": False}).json()["enabled"] is False
                )
                seed_master_data(admin)
                assert admin.post("/orders", json=ORDER).status_code == 201
                pending = admin.get("/webhooks/deliveries", params={"status": "pending"}).json()
                assert [d["event_type"] for d in pending] == ["order.received"]
                assert admin.patch("/webhooks/endpoints/erp", json={"enabled": True}).status_code == 200
                await wait_until(lambda: erp.accepted, what="delivered once re-enabled")
                delivery = pending[0]["id"]
            with edge.client("erp") as erp_role:
                assert erp_role.get("/webhooks/endpoints").status_code == 403
                assert erp_role.post(f"/webhooks/deliveries/{delivery}/replay").status_code == 403
            with edge.client("supervisor") as supervisor:
                replay = supervisor.post(f"/webhooks/deliveries/{delivery}/replay")
                assert replay.status_code == 200, replay.text
                await wait_until(lambda: len(erp.accepted) == 2, what="the replayed delivery")
                assert erp.accepted[0].id == erp.accepted[1].id  # the same webhook-id: the ERP can dedupe
                assert supervisor.post("/webhooks/deliveries/nope.1/replay").status_code == 404
        finally:
            edge.stop()
