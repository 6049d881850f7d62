"""Two edges share a site and its broker, each running its own zones with its own store: neither touches
the other's modules, and an order that spans both edges' zones is refused, naming the zone and the line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from floorgate.core.commands import Button
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.brokers import Mosquitto
from tests.support.edge_process import EdgeProcess
from tests.support.floor_script import Bin, ErpClient, floor_bins, new_site_id, wait_lights_agree
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

EDGE_START_WITHIN = 60.0


def locations_toml(bins: tuple[Bin, ...]) -> str:
    return "".join(
        f'[[locations]]\ncode = "{b.code}"\nzone = "{b.zone}"\nmodule = "{b.module}"\nsku = "{b.sku}"\n'
        f"on_hand = {b.on_hand}\n\n"
        for b in bins
    )


async def pick_one(erp: ErpClient, bank: ModuleBank, order_id: str, b: Bin) -> None:
    await erp.send_order(
        {"order_id": order_id, "lines": [{"line_id": "1", "sku": b.sku, "qty": 2, "location": b.code}]}
    )
    await erp.start_order(order_id, b.zone)
    await wait_until(lambda: bank.state(b.module).lit, timeout=30, what=f"{b.module} lit")
    await bank.press(b.module, Button.CONFIRM)

    async def picked() -> bool:
        return (await erp.get(f"/orders/{order_id}"))["status"] == "picked"

    await wait_until(picked, timeout=30, what=f"{order_id} picked")


async def test_two_edges_with_disjoint_zones_run_side_by_side_on_one_broker(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    site = new_site_id("split")
    bins = floor_bins(per_zone=2)
    edges = {
        zone: EdgeProcess(
            workdir=tmp_path / f"edge-{zone}",
            site=site,
            mqtt_url=mosquitto.url,
            edge_id=f"edge-{zone.lower()}",
            edge_settings=f'zones = ["{zone}"]',
            extra_site=locations_toml(bins),
        )
        for zone in ("A", "B")
    }
    for edge in edges.values():
        edge.workdir.mkdir()
    try:
        await asyncio.gather(*(asyncio.to_thread(e.start, timeout=EDGE_START_WITHIN) for e in edges.values()))
        async with (
            ErpClient(edges["A"]) as erp_a,
            ErpClient(edges["B"]) as erp_b,
            ModuleBank(MqttEndpoint.from_url(mosquitto.url), site, [b.module for b in bins]) as bank,
        ):
            erps = {"A": erp_a, "B": erp_b}
            for zone, erp in erps.items():
                own = [b for b in bins if b.zone == zone]
                for b in own:
                    item = await erp.call("PUT", f"/items/{b.sku}", body={"description": b.sku})
                    assert item.status_code in (200, 201), item.text
                # Each edge holds its own zone's locations only, though the site file names all of them.
                held = {loc["code"] for loc in await erp.get("/locations")}
                assert held == {b.code for b in own}

            a, b = (next(x for x in bins if x.zone == zone) for zone in ("A", "B"))
            await asyncio.gather(pick_one(erp_a, bank, "SO-A", a), pick_one(erp_b, bank, "SO-B", b))
            for zone, erp in erps.items():
                await wait_lights_agree(erp, bank, timeout=30)
                located = {e["data"]["location"] for e in await erp.events() if e["data"].get("location")}
                assert located <= {x.code for x in bins if x.zone == zone}, f"edge {zone} touched {located}"
            assert bank.lit() == {}

            # An order across both edges' zones goes to neither half-done: it is refused whole.
            spanning = {
                "order_id": "SO-AB",
                "lines": [
                    {"line_id": "1", "sku": a.sku, "qty": 1, "location": a.code},
                    {"line_id": "2", "sku": b.sku, "qty": 1, "location": b.code},
                ],
            }
            refused = await erp_a.call("POST", "/orders", body=spanning)
            assert refused.status_code == 422, refused.text
            assert f"location {b.code!r} is in zone 'B', which another edge of this site runs" in refused.text
            assert refused.json()["detail"][0]["loc"] == ["body", "lines", 1, "location"]
            assert (await erp_a.call("GET", "/orders/SO-AB")).status_code == 404
    finally:
        for edge in edges.values():
            edge.stop()
