"""Weigh-verify end to end: a real `floorgate run` with a pack station's scale on a pty (or MQTT), per protocol.

The scale simulator runs in the test on the master side of a pseudo-terminal; the edge opens the slave
through a symlink named in its site file, like /dev/serial/by-id/... on a real floor. Orders are picked
with the PTL module simulator, scanned at the pack station through the API, and their cartons weighed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from floorgate.core.commands import Button
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.firmware_sim.ptl_modules import ModuleBank
from floorgate.firmware_sim.scales import MqttScale, Platform, PtyScale
from tests.support.brokers import Mosquitto
from tests.support.edge_process import EdgeProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

TARE_G = 100
UNIT_G = {"SKU-1": 250.0, "SKU-2": 40.0}
# (unit, division) each simulated scale shows its weight in: conversion to grams is part of the test.
DISPLAY = {
    "mt-sics": ("g", Decimal("0.1")),
    "toledo-continuous": ("kg", Decimal("0.001")),
    "nci": ("lb", Decimal("0.01")),
}


def pack_station_toml(scale: str) -> str:
    return f"""
[[stations]]
id = "PACK-1"
kind = "pack"
tolerance_g = 10
tolerance_pct = 0.5
tare_g = {TARE_G}
scale = {scale}
"""


def seed(api: httpx.Client) -> None:
    for sku, grams in UNIT_G.items():
        assert api.put(f"/items/{sku}", json={"description": sku, "unit_weight_g": grams}).status_code == 201
    for code, module, sku in [("A-01", "M-A-01", "SKU-1"), ("A-02", "M-A-02", "SKU-2")]:
        response = api.put(
            f"/locations/{code}", json={"zone": "A", "module": module, "sku": sku, "on_hand": 50}
        )
        assert response.status_code == 201, response.text


async def pick(api: httpx.Client, bank: ModuleBank, order_id: str, qty_1: int, qty_2: int) -> None:
    order = {
        "order_id": order_id,
        "tote": f"T-{order_id}",
        "lines": [
            {"line_id": "L1", "sku": "SKU-1", "qty": qty_1, "location": "A-01"},
            {"line_id": "L2", "sku": "SKU-2", "qty": qty_2, "location": "A-02"},
        ],
    }
    created = await asyncio.to_thread(api.post, "/orders", json=order)
    assert created.status_code == 201
    started = await asyncio.to_thread(
        api.post, f"/orders/{order_id}/start", json={"zone": "A", "operator": "ann"}
    )
    assert started.status_code == 200
    await wait_until(
        lambda: bank.state("M-A-01").display == str(qty_1) and bank.state("M-A-02").display == str(qty_2),
        what=f"{order_id} lit",
    )
    await bank.press("M-A-01", Button.CONFIRM)
    await bank.press("M-A-02", Button.CONFIRM)
    await wait_until(
        lambda: api.get(f"/orders/{order_id}").json()["status"] == "picked", what=f"{order_id} picked"
    )


def events_of(api: httpx.Client, kind: str) -> list[dict[str, Any]]:
    events = api.get("/events", params={"after": 0, "limit": 1000, "type": kind}).json()["events"]
    return [e for e in events if e["type"] == kind]


def station(api: httpx.Client) -> dict[str, Any]:
    return next(s for s in api.get("/stations").json() if s["id"] == "PACK-1")


async def weigh_and_judge(edge: EdgeProcess, bank: ModuleBank, platform: Platform) -> None:
    with edge.client("erp") as erp, edge.client("viewer") as viewer, edge.client("supervisor") as supervisor:
        seed(erp)
        await pick(erp, bank, "O-1", 2, 1)  # 2 x 250 + 1 x 40 + 100 tare = 640 g
        await pick(erp, bank, "O-2", 1, 2)  # 250 + 2 x 40 + 100 = 430 g

        # A correct carton is verified.
        scanned = erp.post("/stations/PACK-1/scan", json={"data": "]C1T-O-1"})
        assert scanned.status_code == 200, scanned.text
        assert scanned.json()["state"] == "weighing"
        assert scanned.json()["expected_g"] == 640.0
        platform.place(640.0)
        verified = await wait_until(
            lambda: events_of(viewer, "pack.verified"), timeout=10, what="pack.verified"
        )
        data = verified[0]["data"]
        assert (data["order"], data["station"], data["expected_g"]) == ("O-1", "PACK-1", 640.0)
        assert abs(data["measured_g"] - 640.0) <= 1
        assert viewer.get("/orders/O-1").json()["status"] == "packed"
        platform.remove()
        await wait_until(lambda: station(viewer)["state"] == "idle", what="station ready again")

        # A carton one SKU-2 short is rejected with expected, measured, delta and tolerance.
        assert erp.post("/stations/PACK-1/scan", json={"data": "O-2"}).status_code == 200
        platform.place(430.0 - UNIT_G["SKU-2"])
        rejected = await wait_until(
            lambda: events_of(viewer, "pack.rejected"), timeout=10, what="pack.rejected"
        )
        data = rejected[0]["data"]
        assert (data["order"], data["station"], data["expected_g"], data["tolerance_g"]) == (
            "O-2",
            "PACK-1",
            430.0,
            10.0,
        )
        assert abs(data["delta_g"] + 40.0) <= 1
        assert abs(data["measured_g"] - 390.0) <= 1
        assert viewer.get("/orders/O-2").json()["status"] == "picked"
        assert station(viewer)["verdict"] == "rejected"

        # Only a supervisor may override, and only with a reason.
        body = {"order_id": "O-2", "reason": "customer asked for one SKU-2 less"}
        assert erp.post("/stations/PACK-1/override", json=body).status_code == 403
        assert supervisor.post("/stations/PACK-1/override", json={"order_id": "O-2"}).status_code == 422
        overridden = supervisor.post("/stations/PACK-1/override", json=body)
        assert overridden.status_code == 200, overridden.text
        assert overridden.json()["events"] == ["pack.overridden"]
        data = events_of(viewer, "pack.overridden")[0]["data"]
        assert (data["order"], data["reason"], data["by"], data["expected_g"]) == (
            "O-2",
            "customer asked for one SKU-2 less",
            "supervisor",
            430.0,
        )
        assert viewer.get("/orders/O-2").json()["status"] == "packed"
        assert station(viewer)["verdict"] == "overridden"

        # The log holds the three verdicts in order, each once.
        kinds = [
            e["type"]
            for e in viewer.get("/events", params={"after": 0, "limit": 1000}).json()["events"]
            if e["type"].startswith("pack.")
        ]
        assert kinds == ["pack.verified", "pack.rejected", "pack.overridden"]


@contextlib.asynccontextmanager
async def edge_with(
    tmp_path: Path, mosquitto: Mosquitto, site: str, scale_toml: str
) -> AsyncIterator[EdgeProcess]:
    process = EdgeProcess(
        workdir=tmp_path, site=site, mqtt_url=mosquitto.url, extra_site=pack_station_toml(scale_toml)
    )
    await asyncio.to_thread(process.start)
    try:
        yield process
    finally:
        await asyncio.to_thread(process.stop)


@pytest.mark.parametrize("protocol", ["mt-sics", "toledo-continuous", "nci"])
async def test_a_pack_station_with_a_serial_scale_verifies_rejects_and_records_an_override(
    protocol: str, tmp_path: Path, mosquitto: Mosquitto, site: str, bank: ModuleBank
) -> None:
    unit, division = DISPLAY[protocol]
    platform = Platform(unit=unit, division=division, settle_s=0.4, noise_g=0.05)
    link = tmp_path / "ttyUSB-scale"
    async with PtyScale(protocol, platform, link=link, stream_interval=0.1) as _scale:
        scale_toml = f'{{ transport = "serial", port = "{link}", protocol = "{protocol}", baud = 9600 }}'
        async with edge_with(tmp_path, mosquitto, site, scale_toml) as edge:
            with edge.client("viewer") as viewer:
                await wait_until(
                    lambda: any(
                        d["id"] == "PACK-1-scale" and d["online"] and d["transport"] == "serial"
                        for d in viewer.get("/devices").json()
                    ),
                    timeout=10,
                    what="scale online in /devices",
                )
            await weigh_and_judge(edge, bank, platform)


async def test_a_pack_station_with_an_mqtt_scale_verifies_rejects_and_records_an_override(
    tmp_path: Path, mosquitto: Mosquitto, site: str, bank: ModuleBank
) -> None:
    platform = Platform(unit="g", division=Decimal("0.1"), settle_s=0.4, noise_g=0.05)
    scale = MqttScale(MqttEndpoint.from_url(mosquitto.url), site, "SCALE-7", platform, interval=0.1)
    async with edge_with(tmp_path, mosquitto, site, '{ transport = "mqtt", id = "SCALE-7" }') as edge:
        task = asyncio.create_task(scale.run())
        try:
            await weigh_and_judge(edge, bank, platform)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
