"""Putaway and a blind count through a real `floorgate run` on mosquitto: by the API and `mosquitto_pub`,
by the simulated modules, and by a serial scanner on a pty at a putaway station; webhooks verified with
`standardwebhooks` in a real HTTP receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from floorgate.core.commands import Button
from floorgate.edge.webhooks.signing import new_secret
from floorgate.firmware_sim.ptl_modules import ModuleBank
from floorgate.firmware_sim.scanners import PtySerialScanner
from tests.support.brokers import Mosquitto
from tests.support.edge_process import EdgeProcess, webhook_site
from tests.support.event_log import event_data
from tests.support.module_keys import key_in
from tests.support.mqtt_observer import MqttObserver
from tests.support.retained import mosquitto_pub
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

GTIN_1 = "4006381333931"
TASK_TYPES = {"putaway.received", "putaway.confirmed", "inventory.adjusted", "count.started"} | {
    "count.recorded",
    "count.completed",
    "exception.raised",
}


def events_of(api: Any) -> list[dict[str, Any]]:
    return [
        {"type": e["type"], **e["data"]}
        for e in api.get("/events", params={"after": 0, "limit": 1000}).json()["events"]
        if e["type"] in TASK_TYPES
    ]


async def test_twelve_put_away_and_counted_blind_as_eleven_by_the_api_and_mosquitto_pub_reach_the_erp(
    tmp_path: Path, mosquitto: Mosquitto, site: str
) -> None:
    secret = new_secret()
    async with WebhookReceiver([secret]) as erp:
        edge = EdgeProcess(
            workdir=tmp_path,
            site=site,
            mqtt_url=mosquitto.url,
            extra_site=webhook_site(url=erp.url, secret=secret),
        ).start()
        event_topic = f"floorgate/{site}/ptl/M-A-01/event"
        cmd_topic = f"floorgate/{site}/ptl/M-A-01/cmd"
        try:
            async with MqttObserver(mosquitto.url, cmd_topic) as observer:
                with edge.client("erp") as api, edge.client("supervisor") as supervisor:
                    assert api.put("/items/SKU-1", json={"description": "bolts"}).status_code == 201
                    placed = api.put(
                        "/locations/A-01",
                        json={"zone": "A", "module": "M-A-01", "sku": "SKU-1", "on_hand": 0},
                    )
                    assert placed.status_code == 201, placed.text

                    task = {"task_id": "P-1", "sku": "SKU-1", "qty": 12, "location": "A-01"}
                    created = api.post("/putaways", json=task)
                    assert created.status_code == 201, created.text
                    assert created.json()["status"] == "lit"
                    assert api.post("/putaways", json=task).status_code == 200
                    assert api.post("/putaways", json={**task, "qty": 11}).status_code == 409
                    await wait_until(
                        lambda: any(m.json().get("display") == "12" for m in observer.on(cmd_topic)),
                        what="the bin lit with 12",
                    )
                    mosquitto_pub(
                        mosquitto.url,
                        event_topic,
                        json.dumps({"id": "put-1", "button": "confirm", "display": "12"}),
                    )
                    await wait_until(
                        lambda: api.get("/putaways/P-1").json()["status"] == "put", what="put away"
                    )

                    started = supervisor.post(
                        "/counts", json={"count_id": "C-1", "locations": ["A-01"], "blind": True}
                    )
                    assert started.status_code == 201, started.text
                    await wait_until(
                        lambda: (
                            (m := observer.on(cmd_topic)[-1].json()).get("display") == "0"
                            and m.get("blink") == "slow"
                        ),
                        what="the bin lit for a blind count",
                    )
                    mosquitto_pub(
                        mosquitto.url,
                        event_topic,
                        json.dumps({"id": "count-1", "button": "confirm", "display": "11"}),
                    )
                    counted = await wait_until(
                        lambda: (c := api.get("/counts/C-1").json())["status"] == "completed" and c,
                        what="the count completed",
                    )

                    assert counted["bins"][0] | {"counted_at": None} == {
                        "location": "A-01",
                        "sku": "SKU-1",
                        "status": "counted",
                        "expected": 12,
                        "counted": 11,
                        "variance": -1,
                        "adjusted": -1,
                        "recounts": 0,
                        "counted_at": None,
                    }
                    assert on_hand(api, "A-01") == 11
                    assert api.get("/putaways/P-1").json()["put"] == 12
                    (variance,) = [x for x in api.get("/exceptions").json() if x["kind"] == "count_variance"]
                    assert variance["location"] == "A-01"
                    assert events_of(api) == [
                        {
                            "type": "inventory.adjusted",
                            "location": "A-01",
                            "sku": "SKU-1",
                            "on_hand": 0,
                            "previous": None,
                            "reason": "set",
                        },
                        {
                            "type": "putaway.received",
                            "task_id": "P-1",
                            "sku": "SKU-1",
                            "qty": 12,
                            "location": "A-01",
                            "zone": "A",
                            "station": None,
                            "lit": True,
                        },
                        {
                            "type": "putaway.confirmed",
                            "task_id": "P-1",
                            "sku": "SKU-1",
                            "location": "A-01",
                            "zone": "A",
                            "qty": 12,
                            "put": 12,
                            "on_hand": 12,
                            "station": None,
                            "operator": None,
                        },
                        {
                            "type": "inventory.adjusted",
                            "location": "A-01",
                            "sku": "SKU-1",
                            "on_hand": 12,
                            "previous": 0,
                            "reason": "putaway",
                        },
                        {
                            "type": "count.started",
                            "count_id": "C-1",
                            "zone": None,
                            "blind": True,
                            "locations_lit": ["A-01"],
                            "locations_queued": [],
                            "by": "supervisor",
                        },
                        {
                            "type": "count.recorded",
                            "count_id": "C-1",
                            "location": "A-01",
                            "sku": "SKU-1",
                            "expected": 12,
                            "counted": 11,
                            "variance": -1,
                            "blind": True,
                            "recount": 0,
                        },
                        {
                            "type": "inventory.adjusted",
                            "location": "A-01",
                            "sku": "SKU-1",
                            "on_hand": 11,
                            "previous": 12,
                            "reason": "cycle_count",
                        },
                        {
                            "type": "exception.raised",
                            "exception_id": variance["id"],
                            "kind": "count_variance",
                            "message": variance["message"],
                            "order": None,
                            "location": "A-01",
                            "device": None,
                            "detail": {
                                "count_id": "C-1",
                                "sku": "SKU-1",
                                "expected": 12,
                                "counted": 11,
                                "variance": -1,
                                "variance_pct": 8.33,
                                "threshold_pct": 5.0,
                            },
                        },
                        {
                            "type": "count.completed",
                            "count_id": "C-1",
                            "zone": None,
                            "bins": 1,
                            "bins_with_variance": 1,
                            "net_adjustment": -1,
                        },
                    ]

                    logged = api.get("/events", params={"after": 0, "limit": 1000}).json()["events"]
                    # Every event logged so far reaches the ERP, verified (a module that never acks may
                    # add a device.offline meanwhile: delivered too, later).
                    logged_ids = {e["id"] for e in logged}
                    await wait_until(
                        lambda: logged_ids <= set(erp.accepted_ids()),
                        timeout=30,
                        what="every event delivered",
                    )
                    assert erp.unverified == []
                    bodies = delivered_bodies(erp)
                    assert bodies["count.recorded"][0]["data"]["counted"] == 11
                    # Events of no order may be delivered side by side: compare them by seq.
                    adjusted = sorted(bodies["inventory.adjusted"], key=lambda b: b["seq"])
                    assert [b["data"]["reason"] for b in adjusted] == ["set", "putaway", "cycle_count"]
                    assert adjusted[-1]["data"] | {"previous": 12, "on_hand": 11} == adjusted[-1]["data"]
                    assert bodies["putaway.confirmed"][0]["data"]["put"] == 12
                    assert len(bodies["count.completed"]) == 1
        finally:
            edge.stop()


def on_hand(api: Any, code: str) -> int | None:
    (location,) = [loc for loc in api.get("/locations").json() if loc["code"] == code]
    return location["on_hand"]  # type: ignore[no-any-return]


def delivered_bodies(erp: WebhookReceiver) -> dict[str, list[dict[str, Any]]]:
    """The bodies the ERP took (each verified), by event type, once each."""
    seen: set[str] = set()
    bodies: dict[str, list[dict[str, Any]]] = {}
    for request in erp.requests:
        webhook_id = request.headers.get("webhook-id", "")
        if webhook_id in seen or webhook_id not in erp.accepted_ids():
            continue
        seen.add(webhook_id)
        body = json.loads(request.body)
        bodies.setdefault(body["type"], []).append(body)
    return bodies


@pytest.fixture
def scanner(tmp_path: Path) -> Iterator[PtySerialScanner]:
    scanner = PtySerialScanner(link=tmp_path / "put-scanner")
    scanner.plug()
    yield scanner
    scanner.unplug()


@pytest.fixture
def putaway_edge(
    tmp_path: Path, mosquitto: Mosquitto, site: str, scanner: PtySerialScanner
) -> Iterator[EdgeProcess]:
    station = (
        f'[[stations]]\nid = "PUT-A"\nkind = "zone"\nzone = "A"\nmode = "putaway"\n'
        f'scanner = {{ transport = "serial", port = "{scanner.path}" }}\n'
    )
    process = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=mosquitto.url, extra_site=station)
    yield process.start()
    process.stop()


async def test_a_putaway_by_the_api_waits_for_the_pick_in_its_bin_and_the_stocker_confirms_what_was_put(
    edge: EdgeProcess, bank: ModuleBank
) -> None:
    with edge.client("erp") as api:
        assert api.put("/items/SKU-1", json={"description": "bolts"}).status_code == 201
        assert (
            api.put(
                "/locations/A-01", json={"zone": "A", "module": "M-A-01", "sku": "SKU-1", "on_hand": 10}
            ).status_code
            == 201
        )
        order = {
            "order_id": "O-1",
            "lines": [{"line_id": "L1", "sku": "SKU-1", "qty": 3, "location": "A-01"}],
        }
        assert api.post("/orders", json=order).status_code == 201
        assert api.post("/orders/O-1/start", json={"zone": "A"}).status_code == 200
        await wait_until(lambda: bank.state("M-A-01").display == "3", what="the pick lit")

        waiting = api.post("/putaways", json={"task_id": "P-1", "sku": "SKU-1", "qty": 6})
        assert waiting.status_code == 201, waiting.text
        assert (waiting.json()["status"], waiting.json()["location"]) == ("queued", "A-01")

        await bank.press("M-A-01", Button.CONFIRM)
        await wait_until(lambda: bank.state("M-A-01").display == "6", what="the putaway lit after the pick")
        assert bank.state("M-A-01").color == "white"
        await key_in(bank, "M-A-01", 5)  # one unit did not fit
        await bank.press("M-A-01", Button.CONFIRM)
        await wait_until(lambda: api.get("/putaways/P-1").json()["status"] == "put", what="put away")
        await wait_until(lambda: bank.state("M-A-01").color is None, what="the bin dark")

        assert api.get("/putaways/P-1").json()["put"] == 5
        assert on_hand(api, "A-01") == 10 - 3 + 5
        assert [(e["put"], e["on_hand"]) for e in event_data(api, "putaway.confirmed")] == [(5, 12)]
        assert [e["reason"] for e in event_data(api, "inventory.adjusted")] == ["set", "putaway"]
        assert [p["task_id"] for p in api.get("/putaways", params={"status": "put"}).json()] == ["P-1"]


async def test_an_item_scan_at_a_putaway_station_lights_the_bin_and_a_case_adds_its_count(
    putaway_edge: EdgeProcess, bank: ModuleBank, scanner: PtySerialScanner
) -> None:
    with putaway_edge.client("erp") as api:
        assert api.put("/items/SKU-1", json={"description": "bolts", "gtins": [GTIN_1]}).status_code == 201
        assert (
            api.put(
                "/locations/A-01", json={"zone": "A", "module": "M-A-01", "sku": "SKU-1", "on_hand": 10}
            ).status_code
            == 201
        )
        (station,) = [s for s in api.get("/stations").json() if s["id"] == "PUT-A"]
        assert station["mode"] == "putaway"
        await wait_until(
            lambda: any(d["id"] == "PUT-A-scanner" and d["online"] for d in api.get("/devices").json()),
            timeout=10,
            what="the scanner online",
        )

        await scanner.scan("OP:sam")
        await scanner.scan(GTIN_1)
        await wait_until(lambda: bank.state("M-A-01").display == "1", timeout=10, what="the bin lit with 1")
        await scanner.scan(f"]C101{GTIN_1.zfill(14)}3011")  # a case of 11
        await wait_until(lambda: bank.state("M-A-01").display == "12", timeout=10, what="the bin asking 12")
        await bank.press("M-A-01", Button.CONFIRM)
        await wait_until(lambda: api.get("/putaways/PUT-A-1").json()["status"] == "put", what="put away")

        (confirmed,) = event_data(api, "putaway.confirmed")
        assert confirmed == {
            "task_id": "PUT-A-1",
            "sku": "SKU-1",
            "location": "A-01",
            "zone": "A",
            "qty": 12,
            "put": 12,
            "on_hand": 22,
            "station": "PUT-A",
            "operator": "sam",
        }
        assert on_hand(api, "A-01") == 22

        await scanner.scan("96385074")  # a GTIN no item has
        # (The bank's other modules are on no location: the open `unknown_module` says so.)
        (unexpected,) = await wait_until(
            lambda: [x for x in api.get("/exceptions").json() if x["kind"] != "unknown_module"],
            timeout=10,
            what="the unknown item an exception",
        )
        assert (unexpected["kind"], unexpected["detail"]["data"]) == ("unexpected_scan", "96385074")
        assert [p["task_id"] for p in api.get("/putaways").json()] == ["PUT-A-1"]


async def test_bad_putaways_are_refused_naming_the_field_and_change_nothing(edge: EdgeProcess) -> None:
    with edge.client("erp") as api, edge.client("viewer") as viewer, edge.client("supervisor") as supervisor:
        assert api.put("/items/SKU-1", json={"description": "bolts"}).status_code == 201
        assert (
            api.put(
                "/locations/A-01", json={"zone": "A", "module": "M-A-01", "sku": "SKU-1", "on_hand": 10}
            ).status_code
            == 201
        )
        before = api.get("/events", params={"after": 0}).json()["last_seq"]
        cases = [
            ({"task_id": "P-1", "sku": "SKU-1", "qty": -2, "location": "A-01"}, 422, "qty"),
            ({"task_id": "P-1", "sku": "SKU-1", "qty": 10_000_000, "location": "A-01"}, 422, "qty"),
            ({"task_id": "P-1", "sku": "NOPE", "qty": 2}, 422, "sku"),
            ({"task_id": "P-1", "sku": "SKU-1", "qty": 2, "location": "Z-9"}, 422, "location"),
            ({"task_id": "P-1", "sku": "SKU-1", "qty": 2, "zone": "B"}, 422, "sku"),
        ]
        for body, code, field in cases:
            answer = api.post("/putaways", json=body)
            assert answer.status_code == code, (body, answer.text)
            assert answer.json()["detail"][0]["loc"][-1] == field, answer.text
        assert viewer.post("/putaways", json={"task_id": "P-1", "sku": "SKU-1", "qty": 2}).status_code == 403
        assert (
            supervisor.post("/putaways", json={"task_id": "P-1", "sku": "SKU-1", "qty": 2}).status_code == 403
        )
        assert api.get("/putaways/P-1").status_code == 404
        assert api.get("/putaways").json() == []
        assert api.get("/events", params={"after": 0}).json()["last_seq"] == before
        assert on_hand(api, "A-01") == 10
