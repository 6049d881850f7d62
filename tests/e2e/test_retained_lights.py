"""Retained light commands the edge did not write, planted with `mosquitto_pub -r`: a real `floorgate run`
makes each one its own at start and on every reconnect, and deletes those of modules no location has.

A module ignores a seq older than the one it shows, so a planted command whose seq is at or above the
floor's is outranked first (the floor moves that module's seq past it, in its store) and then replaced.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from floorgate.core.commands import Button
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.brokers import Mosquitto
from tests.support.edge_process import EdgeProcess
from tests.support.floor_script import Bin, ErpClient, RunLedger, new_site_id, wait_orders_picked
from tests.support.retained import plant_async, retained_now
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

EDGE_START_WITHIN = 60.0
PLANTED = '{"seq":999,"color":"red","blink":"fast","display":"88"}'
BINS = (
    Bin(code="A-01", zone="A", module="M-A-01", sku="SKU-1", on_hand=50),
    Bin(code="A-02", zone="A", module="M-A-02", sku="SKU-2", on_hand=50),
)
# The site file places the modules, so a fresh store knows them before anything is seeded.
LOCATIONS = "".join(
    f'[[locations]]\ncode = "{b.code}"\nzone = "{b.zone}"\nmodule = "{b.module}"\n' for b in BINS
)


def cmd_topic(site: str, module: str) -> str:
    return f"floorgate/{site}/ptl/{module}/cmd"


async def retained_cmds(url: str, site: str) -> dict[str, Any]:
    """Module -> the retained cmd the broker holds for it, as JSON."""
    found = await retained_now(url, cmd_topic(site, "+"))
    return {topic.split("/")[-2]: json.loads(payload) for topic, payload in found.items()}


async def wait_retained(url: str, site: str, expected: dict[str, Any], *, what: str) -> None:
    last: dict[str, Any] = {}

    async def matches() -> bool:
        nonlocal last
        last = await retained_cmds(url, site)
        return last == expected

    try:
        await wait_until(matches, timeout=20, interval=0.1, what=what)
    except AssertionError as err:
        raise AssertionError(f"{err}; the broker retains {last}") from None


def one_line(order_id: str, code: str, sku: str, qty: int) -> dict[str, Any]:
    return {"order_id": order_id, "lines": [{"line_id": "L1", "sku": sku, "qty": qty, "location": code}]}


async def test_commands_planted_before_a_fresh_edge_starts_are_outranked_replaced_or_deleted(
    tmp_path: Path, fresh_mosquitto: Mosquitto
) -> None:
    url = fresh_mosquitto.url
    site = new_site_id("ret")
    # Left over from an earlier run: a red "88" above any seq this store has, a green "5" on a module the
    # store has never lit, and a light on a module no location has.
    await plant_async(url, cmd_topic(site, "M-A-01"), PLANTED)
    await plant_async(
        url, cmd_topic(site, "M-A-02"), '{"seq":1,"color":"green","blink":"none","display":"5"}'
    )
    await plant_async(url, cmd_topic(site, "GHOST"), PLANTED)
    assert set(await retained_cmds(url, site)) == {"M-A-01", "M-A-02", "GHOST"}

    edge = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=url, extra_site=LOCATIONS)
    await asyncio.to_thread(edge.start, timeout=EDGE_START_WITHIN)
    try:
        await wait_retained(
            url,
            site,
            {"M-A-01": {"seq": 1000, "off": True}, "M-A-02": {"seq": 2, "off": True}},
            what="the planted commands made the floor's",
        )
        async with (
            ErpClient(edge) as erp,
            ModuleBank(MqttEndpoint.from_url(url), site, [b.module for b in BINS]) as bank,
        ):
            await wait_until(
                lambda: [bank.state(b.module).seq for b in BINS] == [1000, 2], what="the modules dark"
            )
            assert bank.lit() == {}
            # A confirm on a dark module changes nothing, but the module repeats it until a newer seq
            # answers it: the edge sends it its "off" again.
            await bank.press("M-A-02", Button.CONFIRM)
            await wait_until(lambda: not bank.unanswered(), what="the press on a dark module answered")
            assert bank.state("M-A-02").seq == 3
            # The floor's seq moved on for good: the next light outranks the planted one, and a pick works.
            await erp.seed(BINS)
            await erp.send_order(one_line("O-1", "A-01", "SKU-1", 2))
            await erp.start_order("O-1", "A")
            await wait_until(lambda: bank.state("M-A-01").display == "2", what="M-A-01 lit for O-1")
            assert bank.state("M-A-01").seq == 1001
            await bank.press("M-A-01", Button.CONFIRM)
            await wait_orders_picked(erp, ["O-1"], timeout=15)
            ledger = await RunLedger.read(erp)
        assert ledger.count("pick.rejected") == 0
        assert ledger.count("pick.confirmed") == 1
    finally:
        edge.stop()


async def test_commands_planted_while_the_edge_runs_are_corrected_on_its_next_connect(
    tmp_path: Path, fresh_mosquitto: Mosquitto
) -> None:
    url = fresh_mosquitto.url
    site = new_site_id("ret")
    edge = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=url, extra_site=LOCATIONS)
    await asyncio.to_thread(edge.start, timeout=EDGE_START_WITHIN)
    try:
        async with (
            ErpClient(edge) as erp,
            ModuleBank(MqttEndpoint.from_url(url), site, [b.module for b in BINS], reconnect_max=1.0) as bank,
        ):
            await erp.seed(BINS)
            await erp.send_order(one_line("O-1", "A-01", "SKU-1", 3))
            await erp.start_order("O-1", "A")
            await wait_until(lambda: bank.state("M-A-01").display == "3", what="M-A-01 lit for O-1")
            lit = await retained_cmds(url, site)

            await plant_async(url, cmd_topic(site, "M-A-01"), PLANTED)
            await plant_async(url, cmd_topic(site, "GHOST"), PLANTED)
            # The module takes the planted command: a picker would now see a red 88.
            await wait_until(lambda: bank.state("M-A-01").display == "88", what="M-A-01 showing the plant")

            # A reconnect (the broker restarted with its persistence: the edge's session is still there).
            await asyncio.to_thread(fresh_mosquitto.restart)
            wanted = {**lit["M-A-01"], "seq": 1000}
            await wait_retained(url, site, {"M-A-01": wanted}, what="the plant corrected after the reconnect")
            await wait_until(
                lambda: (bank.state("M-A-01").seq, bank.state("M-A-01").display) == (1000, "3"),
                timeout=20,
                what="M-A-01 showing O-1's light again",
            )
            await bank.press("M-A-01", Button.CONFIRM)
            await wait_orders_picked(erp, ["O-1"], timeout=15)
            metrics = await erp.metrics()
            ledger = await RunLedger.read(erp)
        assert ledger.count("pick.rejected") == 0
        assert metrics["floorgate_ptl_retained_corrected_total"] == 2
    finally:
        edge.stop()
