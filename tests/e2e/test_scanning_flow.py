"""Scanners through a real `floorgate run`: serial scanners on ptys at zone start stations, PTL modules
simulated on mosquitto. A scan starts an order and lights its bins; in a scan-verify zone the item scan
(GS1-128 with lot and serial) lets the confirm through and a wrong item is rejected."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

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

GS = "\x1d"
GTIN_1 = "4006381333931"
GTIN_2 = "5901234123457"
GTIN_ELSEWHERE = "96385074"
MODULES = ("M-A-01", "M-A-02", "M-V-01", "M-V-02")


def stations_toml(port_a: Path, port_v: Path) -> str:
    return f"""
[[zones]]
id = "V"
scan_verify = true

[[stations]]
id = "ZS-A"
kind = "zone"
zone = "A"
scanner = {{ transport = "serial", port = "{port_a}" }}

[[stations]]
id = "ZS-V"
kind = "zone"
zone = "V"
scanner = {{ transport = "serial", port = "{port_v}", prefix = "\\u0002", suffix = "\\r\\n" }}
"""


@pytest.fixture
def scanner_a(tmp_path: Path) -> Iterator[PtySerialScanner]:
    scanner = PtySerialScanner(link=tmp_path / "scanner-a")
    scanner.plug()
    yield scanner
    scanner.unplug()


@pytest.fixture
def scanner_v(tmp_path: Path) -> Iterator[PtySerialScanner]:
    scanner = PtySerialScanner(
        link=tmp_path / "scanner-v", prefix=b"\x02", suffix=b"\r\n", chars_per_second=2000
    )
    scanner.plug()
    yield scanner
    scanner.unplug()


@pytest.fixture
def scanning_edge(
    tmp_path: Path, mosquitto: Mosquitto, site: str, scanner_a: PtySerialScanner, scanner_v: PtySerialScanner
) -> Iterator[EdgeProcess]:
    process = EdgeProcess(
        workdir=tmp_path,
        site=site,
        mqtt_url=mosquitto.url,
        extra_site=stations_toml(Path(scanner_a.path), Path(scanner_v.path)),
    )
    yield process.start()
    process.stop()


@pytest.fixture
async def modules(mosquitto: Mosquitto, site: str) -> AsyncIterator[ModuleBank]:
    async with ModuleBank(MqttEndpoint.from_url(mosquitto.url), site, MODULES) as bank:
        yield bank


def seed(api: httpx.Client) -> None:
    for sku, gtin in [("SKU-1", GTIN_1), ("SKU-2", GTIN_2), ("SKU-9", GTIN_ELSEWHERE)]:
        response = api.put(f"/items/{sku}", json={"description": sku, "gtins": [gtin], "unit_weight_g": 100})
        assert response.status_code in (200, 201), response.text
    for code, zone, module, sku in [
        ("A-01", "A", "M-A-01", "SKU-1"),
        ("A-02", "A", "M-A-02", "SKU-2"),
        ("V-01", "V", "M-V-01", "SKU-1"),
        ("V-02", "V", "M-V-02", "SKU-2"),
    ]:
        response = api.put(
            f"/locations/{code}", json={"zone": zone, "module": module, "sku": sku, "on_hand": 20}
        )
        assert response.status_code == 201, response.text


def scanner_status(api: httpx.Client, device: str) -> bool | None:
    for entry in api.get("/devices").json():
        if entry["id"] == device:
            return bool(entry["online"])
    return None


async def test_a_serial_scan_at_a_zone_station_lights_the_order_and_the_scanner_reports_its_health(
    scanning_edge: EdgeProcess, modules: ModuleBank, scanner_a: PtySerialScanner
) -> None:
    with scanning_edge.client("admin") as api:
        seed(api)
        order = {
            "order_id": "O-1",
            "tote": "T-9",
            "lines": [
                {"line_id": "L1", "sku": "SKU-1", "qty": 3, "location": "A-01"},
                {"line_id": "L2", "sku": "SKU-2", "qty": 2, "location": "A-02"},
            ],
        }
        assert api.post("/orders", json=order).status_code == 201
        await wait_until(
            lambda: scanner_status(api, "ZS-A-scanner") is True, timeout=10, what="scanner online"
        )

        await scanner_a.scan("OP:ann")
        await scanner_a.scan("T-9")  # the tote label bound to the order
        await wait_until(
            lambda: modules.state("M-A-01").display == "3" and modules.state("M-A-02").display == "2",
            timeout=10,
            what="the order's bins lit",
        )
        assert api.get("/orders/O-1").json()["status"] == "picking"
        (started,) = event_data(api, "order.started")
        assert (started["zone"], started["operator"], started["tote"]) == ("A", "ann", "T-9")

        await scanner_a.scan("NOT-AN-ORDER")
        exceptions = await wait_until(
            lambda: [x for x in api.get("/exceptions").json() if x["kind"] == "unexpected_scan"],
            what="an exception for the unexpected scan",
        )
        assert "NOT-AN-ORDER" in exceptions[0]["message"]

        scanner_a.unplug()
        await wait_until(
            lambda: scanner_status(api, "ZS-A-scanner") is False, timeout=10, what="scanner offline"
        )
        scanner_a.plug()
        await wait_until(
            lambda: scanner_status(api, "ZS-A-scanner") is True, timeout=10, what="scanner online again"
        )
        offline = event_data(api, "device.offline")
        assert [e["device"] for e in offline] == ["ZS-A-scanner"]


async def test_in_a_scan_verify_zone_the_item_scan_arms_the_confirm_with_its_lot_and_a_wrong_item_is_rejected(
    scanning_edge: EdgeProcess, modules: ModuleBank, scanner_v: PtySerialScanner
) -> None:
    with scanning_edge.client("admin") as api:
        seed(api)
        order = {
            "order_id": "O-2",
            "lines": [
                {"line_id": "L1", "sku": "SKU-1", "qty": 2, "location": "V-01"},
                {"line_id": "L2", "sku": "SKU-2", "qty": 1, "location": "V-02"},
            ],
        }
        assert api.post("/orders", json=order).status_code == 201
        await wait_until(
            lambda: scanner_status(api, "ZS-V-scanner") is True, timeout=10, what="scanner online"
        )
        await scanner_v.scan("OP:bea")
        await scanner_v.scan("O-2")
        await wait_until(lambda: modules.state("M-V-01").display == "2", timeout=10, what="bin lit")
        picker_color = modules.state("M-V-01").color

        # A confirm before any item scan does not count.
        await modules.press("M-V-01", Button.CONFIRM)
        rejected = await wait_until(lambda: event_data(api, "pick.rejected"), what="scan_required")
        assert [(r["line"], r["reason"]) for r in rejected] == [("L1", "scan_required")]
        await wait_until(lambda: modules.state("M-V-01").color == "red", what="red flash")

        # Another item's GTIN is the wrong item.
        await scanner_v.scan("]E4" + GTIN_ELSEWHERE)
        await wait_until(
            lambda: (
                {(r["line"], r["reason"]) for r in event_data(api, "pick.rejected")}
                >= {("L1", "wrong_item"), ("L2", "wrong_item")}
            ),
            what="wrong_item rejections",
        )
        assert api.get("/orders/O-2").json()["lines"][0]["status"] == "lit"

        # The right item, GS1-128 with lot and serial, arms the line; the confirm then counts.
        await scanner_v.scan(f"]C101{GTIN_1.zfill(14)}10LOT-7{GS}21SN42")
        await wait_until(lambda: modules.state("M-V-01").color == picker_color, what="picker colour back")
        await modules.press("M-V-01", Button.CONFIRM)
        confirmed = await wait_until(lambda: event_data(api, "pick.confirmed"), what="pick confirmed")
        assert confirmed[0]["line"] == "L1"
        assert (confirmed[0]["lot"], confirmed[0]["serial"], confirmed[0]["picked"]) == ("LOT-7", "SN42", 2)
        (scanned,) = event_data(api, "pick.scanned")
        assert (scanned["gtin"], scanned["station"], scanned["operator"]) == (GTIN_1.zfill(14), "ZS-V", "bea")
        lines = api.get("/orders/O-2").json()["lines"]
        assert [(ln["line_id"], ln["status"]) for ln in lines] == [("L1", "picked"), ("L2", "lit")]
