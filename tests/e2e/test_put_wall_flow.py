"""Batch picking and the put wall through a real `floorgate run`: mosquitto, simulated PTL modules for the
bins and the cubbies, and the wall's serial scanner on a real pty. A batch of three orders sharing SKUs
is picked with one short, sorted into its cubbies (a wrong item refused), survives a kill -9 mid-sort,
and every order is sorted exactly once with the on-hand and the event log exact."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from floorgate.core.commands import Button
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.firmware_sim.ptl_modules import ModuleBank
from floorgate.firmware_sim.scanners import PtySerialScanner
from tests.support.brokers import Mosquitto
from tests.support.edge_process import EdgeProcess
from tests.support.event_log import event_data
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

GTINS = {"SKU-1": "4006381333931", "SKU-2": "5901234123457", "SKU-9": "96385074"}
CUBBIES = ("W1-01", "W1-02", "W1-03", "W1-04")
MODULES = ("M-A-01", "M-A-02", *CUBBIES)
WAIT = 15.0  # seconds: generous, for a loaded machine
ORDERS = {
    "O-1": [("L1", "SKU-1", 2, "A-01"), ("L2", "SKU-2", 1, "A-02")],
    "O-2": [("L1", "SKU-1", 1, "A-01")],
    "O-3": [("L1", "SKU-1", 3, "A-01"), ("L2", "SKU-2", 2, "A-02")],
}


@pytest.fixture
def wall_scanner(tmp_path: Path) -> Iterator[PtySerialScanner]:
    scanner = PtySerialScanner(link=tmp_path / "wall-scanner")
    scanner.plug()
    yield scanner
    scanner.unplug()


@pytest.fixture
def wall_edge(
    tmp_path: Path, mosquitto: Mosquitto, site: str, wall_scanner: PtySerialScanner
) -> Iterator[EdgeProcess]:
    cubbies = ", ".join(f'"{c}"' for c in CUBBIES)
    wall = f'[[walls]]\nid = "W1"\ncubbies = [{cubbies}]\nscanner = {{ transport = "serial", port = "{wall_scanner.path}" }}\n'
    process = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=mosquitto.url, extra_site=wall)
    yield process.start()
    process.stop()


@pytest.fixture
async def modules(mosquitto: Mosquitto, site: str) -> AsyncIterator[ModuleBank]:
    async with ModuleBank(MqttEndpoint.from_url(mosquitto.url), site, MODULES) as bank:
        yield bank


def seed(api: httpx.Client) -> None:
    for sku, gtin in GTINS.items():
        response = api.put(f"/items/{sku}", json={"description": sku, "gtins": [gtin]})
        assert response.status_code in (200, 201), response.text
    for code, sku in (("A-01", "SKU-1"), ("A-02", "SKU-2")):
        body = {"zone": "A", "module": f"M-{code}", "sku": sku, "on_hand": 20}
        assert api.put(f"/locations/{code}", json=body).status_code == 201
    for order_id, lines in ORDERS.items():
        body = {
            "order_id": order_id,
            "lines": [{"line_id": lid, "sku": s, "qty": q, "location": loc} for lid, s, q, loc in lines],
        }
        assert api.post("/orders", json=body).status_code == 201


def scanner_online(api: httpx.Client) -> bool:
    return any(d["id"] == "W1-scanner" and d["online"] for d in api.get("/devices").json())


def cubby(api: httpx.Client, module: str) -> dict[str, Any]:
    return next(c for c in api.get("/walls/W1").json()["cubbies"] if c["cubby"] == module)


async def put(
    api: httpx.Client, modules: ModuleBank, scanner: PtySerialScanner, sku: str, into: str, n: int
) -> None:
    """Scan `n` units of the item, see its cubby show `n`, and confirm it there, as the sorter does."""
    for shown in range(1, n + 1):
        await scanner.scan(GTINS[sku])
        await wait_until(
            lambda expected=str(shown): modules.state(into).display == expected,
            timeout=WAIT,
            what=f"{into} showing {shown}",
        )
    puts = len(event_data(api, "put.confirmed"))
    await modules.press(into, Button.CONFIRM)
    await wait_until(
        lambda: len(event_data(api, "put.confirmed")) == puts + 1, timeout=WAIT, what=f"the put into {into}"
    )


async def take_out(api: httpx.Client, modules: ModuleBank, into: str) -> None:
    await wait_until(lambda: modules.state(into).display == "done", timeout=WAIT, what=f"{into} done")
    await modules.press(into, Button.CONFIRM)
    await wait_until(lambda: cubby(api, into)["state"] == "free", timeout=WAIT, what=f"{into} free again")


async def test_a_batch_is_picked_with_a_short_sorted_through_a_kill_9_and_every_order_sorted_once(
    wall_edge: EdgeProcess, modules: ModuleBank, wall_scanner: PtySerialScanner
) -> None:
    with wall_edge.client("admin") as api:
        seed(api)
        batch = {"batch_id": "B-1", "order_ids": list(ORDERS), "wall": "W1"}
        assert api.post("/batches", json=batch).status_code == 201
        assert api.post("/batches", json=batch).status_code == 200
        started = api.post("/batches/B-1/start", json={"zone": "A", "operator": "ann"})
        assert started.status_code == 200, started.text

        # Each bin lit once, for the batch's total; one unit of SKU-1 is missing.
        await wait_until(
            lambda: modules.state("M-A-01").display == "6" and modules.state("M-A-02").display == "3",
            timeout=WAIT,
            what="the batch's bins lit with their totals",
        )
        await modules.press("M-A-01", Button.MINUS)
        await wait_until(
            lambda: modules.state("M-A-01").display == "5", timeout=WAIT, what="the picker's count"
        )
        await modules.press("M-A-01", Button.SHORT)
        await modules.press("M-A-02", Button.CONFIRM)
        await wait_until(
            lambda: api.get("/batches/B-1").json()["status"] == "picked", timeout=WAIT, what="batch picked"
        )
        lines = {o: api.get(f"/orders/{o}").json()["lines"] for o in ORDERS}
        assert [(ln["picked"], ln["status"]) for ln in lines["O-3"]] == [(2, "short"), (2, "picked")]
        assert [(ln["picked"], ln["status"]) for ln in lines["O-1"]] == [(2, "picked"), (1, "picked")]

        await wait_until(lambda: scanner_online(api), timeout=WAIT, what="the wall's scanner online")
        await put(api, modules, wall_scanner, "SKU-1", "W1-01", 2)
        await wall_scanner.scan(GTINS["SKU-9"])  # no order of the batch has it
        await wait_until(
            lambda: event_data(api, "put.rejected"), timeout=WAIT, what="the wrong item rejected"
        )
        assert api.get("/walls/W1").json()["screen"]["error"] is True
        await put(api, modules, wall_scanner, "SKU-2", "W1-01", 1)
        await put(api, modules, wall_scanner, "SKU-1", "W1-02", 1)
        await put(api, modules, wall_scanner, "SKU-1", "W1-03", 1)
        # One more unit on its way to O-3's cubby when the edge dies.
        await wall_scanner.scan(GTINS["SKU-1"])
        await wait_until(
            lambda: modules.state("W1-03").display == "1", timeout=WAIT, what="W1-03 lit for the next unit"
        )

    wall_edge.kill9()
    wall_edge.start()
    with wall_edge.client("admin") as api:
        assert cubby(api, "W1-03")["light"]["display"] == "1"
        assert [c["state"] for c in api.get("/walls/W1").json()["cubbies"]] == [
            "done",
            "done",
            "filling",
            "free",
        ]
        await wait_until(lambda: scanner_online(api), timeout=WAIT, what="the wall's scanner back")
        await modules.press("W1-03", Button.CONFIRM)
        await wait_until(
            lambda: len(event_data(api, "put.confirmed")) == 5, timeout=WAIT, what="the put after the restart"
        )
        await put(api, modules, wall_scanner, "SKU-2", "W1-03", 2)
        for into in ("W1-01", "W1-02", "W1-03"):
            await take_out(api, modules, into)
        await wait_until(
            lambda: api.get("/batches/B-1").json()["status"] == "sorted", timeout=WAIT, what="batch sorted"
        )

        puts = [(p["order"], p["cubby"], p["sku"], p["qty"]) for p in event_data(api, "put.confirmed")]
        assert puts == [
            ("O-1", "W1-01", "SKU-1", 2),
            ("O-1", "W1-01", "SKU-2", 1),
            ("O-2", "W1-02", "SKU-1", 1),
            ("O-3", "W1-03", "SKU-1", 1),
            ("O-3", "W1-03", "SKU-1", 1),
            ("O-3", "W1-03", "SKU-2", 2),
        ]
        assert [(s["order"], s["cubby"]) for s in event_data(api, "order.sorted")] == [
            ("O-1", "W1-01"),
            ("O-2", "W1-02"),
            ("O-3", "W1-03"),
        ]
        assert [r["reason"] for r in event_data(api, "put.rejected")] == ["not_needed"]
        on_hand = {loc["code"]: loc["on_hand"] for loc in api.get("/locations").json()}
        assert on_hand == {"A-01": 15, "A-02": 17}
        events = api.get("/events", params={"after": 0, "limit": 1000}).json()["events"]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        batch_facts = [e["type"] for e in events if e["type"].startswith("batch.")]
        assert batch_facts == [
            "batch.received",
            "batch.started",
            "batch.picked",
            "batch.sort_started",
            "batch.sorted",
        ]
        shorts = [(s["order"], s["short"]) for s in event_data(api, "pick.short")]
        assert shorts == [("O-3", 1)]
        await wait_until(
            lambda: all(modules.state(c).color is None for c in CUBBIES), timeout=WAIT, what="the wall dark"
        )
