"""The broker stopped and restarted under a working floor: the edge reconnects, no press is lost or doubled,
and every module ends up showing what the edge says it should.

The edge reaches the broker through a gate (tests/support/broker_gate.py), so the test can hold the edge
off after the broker is back: modules then publish while the edge's link is still reconnecting, which is
what the edge's persistent session must keep for it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from floorgate.core.commands import Button
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.firmware_sim.ptl_modules import ModuleBank, ModuleOffline
from tests.support.broker_gate import BrokerGate
from tests.support.brokers import Mosquitto
from tests.support.edge_process import EdgeProcess
from tests.support.floor_script import (
    ErpClient,
    HeldPresses,
    RunLedger,
    floor_bins,
    new_site_id,
    wait_lights_agree,
    wait_orders_picked,
)
from tests.support.mqtt_observer import MqttObserver
from tests.support.waiting import wait_until

pytestmark = pytest.mark.failure

MQTT_DOWN = "mqtt: not connected"
# Generous: other work may load the machine, and the edge's reconnect backoff grows to 10 s.
RECONNECT_WITHIN = 40.0
EDGE_START_WITHIN = 60.0

BINS = floor_bins(per_zone=4, on_hand=50)


def order(order_id: str, *lines: tuple[str, int]) -> dict[str, Any]:
    sku = {b.code: b.sku for b in BINS}
    return {
        "order_id": order_id,
        "lines": [
            {"line_id": f"L{n}", "sku": sku[code], "qty": qty, "location": code}
            for n, (code, qty) in enumerate(lines, 1)
        ],
    }


async def wait_health(erp: ErpClient, *, mqtt_up: bool) -> dict[str, Any]:
    """Wait until /api/v1/healthz says the MQTT link is up (200) or down (503 naming it)."""
    seen: dict[str, Any] = {}

    async def reports() -> bool:
        status, body = await erp.health()
        seen.update(status=status, body=body)
        down = MQTT_DOWN in body["problems"]
        return (status == 200 and not down) if mqtt_up else (status == 503 and down)

    state = "up" if mqtt_up else "down"
    try:
        await wait_until(
            reports, timeout=RECONNECT_WITHIN, interval=0.1, what=f"health reporting MQTT {state}"
        )
    except AssertionError as err:
        raise AssertionError(f"{err}; health said {seen}") from None
    return seen["body"]


async def line_statuses(erp: ErpClient, order_id: str) -> list[tuple[str, str]]:
    return [(ln["line_id"], ln["status"]) for ln in (await erp.get(f"/orders/{order_id}"))["lines"]]


async def send_and_start(erp: ErpClient, body: dict[str, Any], zone: str) -> None:
    await erp.send_order(body)
    await erp.start_order(body["order_id"], zone)


async def test_a_broker_restart_loses_no_press_applies_none_twice_and_every_module_gets_its_light_back(
    tmp_path: Path, fresh_mosquitto: Mosquitto
) -> None:
    site = new_site_id("brk")
    async with BrokerGate(fresh_mosquitto.port) as gate:
        edge = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=gate.url)
        await asyncio.to_thread(edge.start, timeout=EDGE_START_WITHIN)
        try:
            async with (
                ErpClient(edge) as erp,
                # Modules that do not send a press again: this test is about the broker's persistent session
                # keeping presses for the edge (tests/failure/test_broker_restart_without_persistence.py
                # is about modules that do).
                ModuleBank(
                    MqttEndpoint.from_url(fresh_mosquitto.url),
                    site,
                    [b.module for b in BINS],
                    reconnect_max=1.0,
                    resend_every=None,
                ) as bank,
            ):
                await erp.seed(BINS)
                orders = {
                    "O-1": (order("O-1", ("A-01", 2), ("A-02", 1)), "A"),
                    "O-2": (order("O-2", ("A-03", 3)), "A"),
                    "O-3": (order("O-3", ("B-02", 2)), "B"),  # cancelled while the broker is down
                    "O-5": (order("O-5", ("A-04", 2)), "A"),  # its module loses power during the outage
                    "O-6": (order("O-6", ("B-01", 1)), "B"),
                }
                for body, zone in orders.values():
                    await send_and_start(erp, body, zone)
                await wait_lights_agree(erp, bank, timeout=15)
                assert set(bank.lit()) == {"M-A-01", "M-A-02", "M-A-03", "M-A-04", "M-B-01", "M-B-02"}
                await bank.press("M-A-01", Button.CONFIRM)
                await wait_until(lambda: not bank.state("M-A-01").lit, timeout=10, what="M-A-01 confirmed")

                # The broker goes away. The edge says so; the modules cannot report.
                await asyncio.to_thread(fresh_mosquitto.stop)
                await wait_health(erp, mqtt_up=False)
                await wait_until(
                    lambda: not any(bank.online(m) for m in bank.modules), timeout=15, what="modules offline"
                )
                with pytest.raises(ModuleOffline):
                    await bank.press("M-A-02", Button.CONFIRM)
                held = HeldPresses(bank)
                held.press("M-A-02", Button.CONFIRM)
                held.press("M-B-01", Button.CONFIRM)
                # The ERP keeps working: a cancel clears a light, a new order lights one; both wait for MQTT.
                cancelled = await erp.call("POST", "/orders/O-3/cancel")
                assert cancelled.status_code == 200, cancelled.text
                orders["O-4"] = (order("O-4", ("B-03", 1)), "B")
                await send_and_start(erp, *orders["O-4"])
                bank.kill("M-A-04")  # a power cut while the broker is away: it forgets its light

                # The broker comes back, but the edge is held off: modules report to a broker without it.
                gate.shut()
                await asyncio.to_thread(fresh_mosquitto.start)
                await asyncio.wait_for(bank.wait_ready(), timeout=RECONNECT_WITHIN)
                sent_while_away = await held.send(fresh_mosquitto.url)
                bank.revive("M-A-04")
                await wait_until(
                    lambda: bank.state("M-A-04").display == "2",
                    timeout=15,
                    what="M-A-04 lit from the retained cmd",
                )
                await bank.press("M-A-03", Button.CONFIRM)
                await bank.press("M-A-04", Button.CONFIRM)
                await wait_until(
                    lambda: gate.refused, timeout=RECONNECT_WITHIN, what="the edge trying to reconnect"
                )
                status, _ = await erp.health()
                assert status == 503, "the edge must still be away while the gate is shut"
                assert await line_statuses(erp, "O-1") == [("L1", "picked"), ("L2", "lit")]
                assert bank.state("M-B-02").lit, (
                    "the cancel cannot have reached the module while the edge is away"
                )
                assert not bank.state("M-B-03").lit

                gate.open()
                await wait_health(erp, mqtt_up=True)
                await wait_orders_picked(erp, ["O-1", "O-2", "O-5", "O-6"], timeout=RECONNECT_WITHIN)
                await wait_lights_agree(erp, bank, timeout=15)
                assert set(bank.lit()) == {"M-B-03"}, "only the order started during the outage is lit"
                await bank.press("M-B-03", Button.CONFIRM)
                await wait_orders_picked(erp, ["O-4"], timeout=15)
                await wait_lights_agree(erp, bank, timeout=15)

                # A held press sent again (a module that never got the broker's ack) is applied once.
                duplicates = (await erp.metrics())["floorgate_commands_duplicate_total"]
                async with MqttObserver(fresh_mosquitto.url, f"floorgate/{site}/ptl/+/ack") as replayer:
                    held_event = sent_while_away[0]
                    await replayer.publish(
                        f"floorgate/{site}/ptl/M-A-02/event",
                        f'{{"id": "{held_event.id}", "button": "confirm", "display": "1"}}',
                    )

                async def replay_seen() -> bool:
                    return (await erp.metrics())["floorgate_commands_duplicate_total"] > duplicates

                await wait_until(replay_seen, timeout=15, what="the replayed press judged a duplicate")
                ledger = await RunLedger.read(erp)

            sent = {order_id: body for order_id, (body, _) in orders.items() if order_id != "O-3"}
            ledger.check_floor(BINS, sent)
            assert ledger.count("pick.confirmed") == 6  # and B-01 held, A-03, A-04, B-03
            assert [e["data"]["order"] for e in ledger.events if e["type"] == "order.cancelled"] == ["O-3"]
        finally:
            edge.stop()


async def test_a_light_changed_while_the_broker_was_down_reaches_its_module_across_an_edge_restart(
    tmp_path: Path, fresh_mosquitto: Mosquitto
) -> None:
    # The broker keeps the last command of each module (retained). A light cleared while the broker was
    # away, by an edge that then died, is known only to the edge's store: the restarted edge must send
    # it, or the module stays lit for a pick that is over.
    site = new_site_id("brk")
    edge = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=fresh_mosquitto.url)
    await asyncio.to_thread(edge.start, timeout=EDGE_START_WITHIN)
    try:
        async with (
            ErpClient(edge) as erp,
            ModuleBank(
                MqttEndpoint.from_url(fresh_mosquitto.url), site, [b.module for b in BINS], reconnect_max=1.0
            ) as bank,
        ):
            await erp.seed(BINS)
            picked = {"O-2": order("O-2", ("A-02", 1)), "O-3": order("O-3", ("A-03", 2))}
            await send_and_start(erp, order("O-1", ("A-01", 1)), "A")
            await send_and_start(erp, picked["O-2"], "A")
            await wait_lights_agree(erp, bank, timeout=15)

            await asyncio.to_thread(fresh_mosquitto.stop)
            await wait_health(erp, mqtt_up=False)
            # Committed while no light command can go out: A-01 must go dark, A-03 must light.
            cancelled = await erp.call("POST", "/orders/O-1/cancel")
            assert cancelled.status_code == 200, cancelled.text
            await send_and_start(erp, picked["O-3"], "A")
            edge.kill9()  # the edge dies before the broker is back: only its store knows

            await asyncio.to_thread(fresh_mosquitto.start)
            await asyncio.wait_for(bank.wait_ready(), timeout=RECONNECT_WITHIN)
            await asyncio.to_thread(edge.start, timeout=EDGE_START_WITHIN)
            await wait_lights_agree(erp, bank, timeout=15)
            assert set(bank.lit()) == {"M-A-02", "M-A-03"}

            await bank.press("M-A-02", Button.CONFIRM)
            await bank.press("M-A-03", Button.CONFIRM)
            await wait_orders_picked(erp, ["O-2", "O-3"], timeout=15)
            await wait_lights_agree(erp, bank, timeout=15)
            ledger = await RunLedger.read(erp)
        assert [
            (e["data"]["order"], e["data"]["line"]) for e in ledger.events if e["type"] == "pick.confirmed"
        ] == [
            ("O-2", "L1"),
            ("O-3", "L1"),
        ]
        ledger.check_floor(BINS, picked)
    finally:
        edge.stop()
