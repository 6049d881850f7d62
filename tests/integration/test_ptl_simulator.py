"""Integration tests of the simulated PTL modules and pickers against a real mosquitto.

The edge's side is played by a raw MQTT client (`FakeEdge`, tests/support/fake_ptl_edge.py) that publishes cmds and records what the
modules send, so these tests check the wire contract itself, not our own adapter's reading of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from floorgate.core.commands import Button
from floorgate.core.instructions import ERROR_COLOR, Blink
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.ptl.codec import PtlTopic, ptl_filter, ptl_topic
from floorgate.firmware_sim.mqtt_client import make_client
from floorgate.firmware_sim.pickers import SimulatedPicker
from floorgate.firmware_sim.ptl_modules import ModuleBank
from floorgate.firmware_sim.ptl_observation import ChangeCause, ModuleState
from tests.support.brokers import Mosquitto
from tests.support.fake_ptl_edge import FakeEdge
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def edge(endpoint: MqttEndpoint, site: str) -> AsyncIterator[FakeEdge]:
    async with make_client(endpoint) as client:
        await client.subscribe(f"floorgate/{site}/ptl/#", qos=2)
        fake = FakeEdge(client, site)
        pump = asyncio.create_task(fake.pump())
        yield fake
        pump.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pump


async def retained(endpoint: MqttEndpoint, topic: str) -> bytes:
    """The retained payload of `topic`, read by a client that connects just for that."""
    async with make_client(endpoint) as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(5):
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                return message.payload
    raise AssertionError(f"no retained message on {topic}")


def lit_as(color: str, display: str, blink: Blink = Blink.NONE) -> Callable[[ModuleState], bool]:
    return lambda s: s.lit and s.color == color and s.display == display and s.blink is blink


async def test_module_shows_a_cmd_and_acks_its_seq(endpoint: MqttEndpoint, site: str, edge: FakeEdge) -> None:
    async with ModuleBank(endpoint, site, ["A-01"]) as bank:
        with bank.watch(["A-01"]) as feed:
            await edge.light("A-01", "green", "3", blink="slow", seq=17)

            change = await asyncio.wait_for(anext(feed), timeout=5)
            await wait_until(lambda: edge.acks("A-01") == [17], what="ack of seq 17")

        assert change.cause is ChangeCause.COMMAND
        assert change.after == ModuleState(
            module="A-01", lit=True, color="green", blink=Blink.SLOW, display="3", seq=17
        )
        assert bank.lit() == {"A-01": change.after}
        assert edge.of("A-01", PtlTopic.ACK)[0].payload == b'{"seq":17}'
        assert edge.of("A-01", PtlTopic.ACK)[0].qos == 1
        assert bank.stats.cmds_received == 1
        assert bank.stats.acks_sent == 1


async def test_an_off_cmd_clears_the_module(endpoint: MqttEndpoint, site: str, edge: FakeEdge) -> None:
    async with ModuleBank(endpoint, site, ["A-01"]) as bank:
        await edge.light("A-01", "blue", "2")
        await wait_until(lambda: bank.state("A-01").lit, what="A-01 lit")

        await edge.clear("A-01")

        await wait_until(lambda: not bank.state("A-01").lit, what="A-01 off")
        assert bank.state("A-01") == ModuleState(module="A-01", seq=2)
        assert bank.lit() == {}
        await wait_until(lambda: edge.acks("A-01") == [1, 2], what="both acks")


async def test_a_lower_seq_is_ignored_and_an_equal_seq_is_acked_again(
    endpoint: MqttEndpoint, site: str, edge: FakeEdge
) -> None:
    async with ModuleBank(endpoint, site, ["A-01"]) as bank:
        await edge.light("A-01", "blue", "5", seq=10)
        await wait_until(lambda: edge.acks("A-01") == [10], what="ack 10")

        await edge.light("A-01", "orange", "9", seq=9)
        await edge.light("A-01", "blue", "5", seq=10)

        await wait_until(lambda: edge.acks("A-01") == [10, 10], what="re-ack of 10")
        assert bank.stats.cmds_stale == 1
        assert bank.stats.cmds_repeated == 1
        assert lit_as("blue", "5")(bank.state("A-01"))
        assert bank.state("A-01").seq == 10


async def test_plus_and_minus_change_the_display_then_report_it(
    endpoint: MqttEndpoint, site: str, edge: FakeEdge
) -> None:
    async with ModuleBank(endpoint, site, ["A-01"]) as bank:
        await edge.light("A-01", "blue", "1")
        await wait_until(lambda: bank.state("A-01").lit, what="A-01 lit")

        plus = await bank.press("A-01", Button.PLUS)
        assert bank.state("A-01").display == "2"
        for _ in range(3):
            await bank.press("A-01", Button.MINUS)

        assert plus.display == "2"
        assert bank.state("A-01").display == "0"  # never below zero
        await wait_until(lambda: len(edge.events("A-01")) == 4, what="four key events")
        reported = [(e["button"], e["display"]) for e in edge.events("A-01")]
        assert reported == [("plus", "2"), ("minus", "1"), ("minus", "0"), ("minus", "0")]
        assert bank.state("A-01").seq == 1  # a local edit is not a cmd


async def test_confirm_publishes_the_contract_json_with_a_unique_id_at_qos_1(
    endpoint: MqttEndpoint, site: str, edge: FakeEdge
) -> None:
    # No re-sends here: this fake edge never answers, and the test counts each press's first copy.
    async with ModuleBank(endpoint, site, ["A-01"], resend_every=None) as bank:
        await edge.light("A-01", "blue", "3")
        await wait_until(lambda: bank.state("A-01").lit, what="A-01 lit")

        first = await bank.press("A-01", Button.CONFIRM)
        second = await bank.press("A-01", Button.CONFIRM)

        await wait_until(lambda: len(edge.events("A-01")) == 2, what="two confirms")
        messages = edge.of("A-01", PtlTopic.EVENT)
        assert [m.qos for m in messages] == [1, 1]
        bodies = [m.json() for m in messages]
        assert bodies == [
            {"id": first.id, "button": "confirm", "display": "3"},
            {"id": second.id, "button": "confirm", "display": "3"},
        ]
        assert first.id != second.id
        assert first.id.startswith("A-01-")
        assert bank.stats.events_sent == 2


async def test_a_retained_cmd_is_applied_when_the_bank_connects_after_it(
    endpoint: MqttEndpoint, site: str, edge: FakeEdge
) -> None:
    await edge.light("A-07", "magenta", "12", seq=4)

    async with ModuleBank(endpoint, site, ["A-07"]) as bank:
        await wait_until(lambda: lit_as("magenta", "12")(bank.state("A-07")), what="retained cmd")
        await wait_until(lambda: edge.acks("A-07") == [4], what="ack of the retained cmd")


async def test_status_is_online_retained_and_the_will_says_offline_after_kill(
    endpoint: MqttEndpoint, site: str, edge: FakeEdge
) -> None:
    status_topic = ptl_topic(site, "A-01", PtlTopic.STATUS)
    async with ModuleBank(endpoint, site, ["A-01", "A-02"]) as bank:
        assert await retained(endpoint, status_topic) == b"online"
        await edge.light("A-01", "blue", "3")
        await wait_until(lambda: bank.state("A-01").lit, what="A-01 lit")

        bank.kill("A-01")

        assert bank.state("A-01") == ModuleState(module="A-01")  # dark, forgot everything
        await wait_until(lambda: edge.statuses("A-01") == ["online", "offline"], what="the will")
        assert await retained(endpoint, status_topic) == b"offline"
        assert not bank.online("A-01")
        assert bank.online("A-02")
        assert edge.statuses("A-02") == ["online"]

        bank.revive("A-01")

        await wait_until(lambda: lit_as("blue", "3")(bank.state("A-01")), what="re-applied")
        await wait_until(lambda: edge.statuses("A-01")[-1:] == ["online"], what="online again")


async def test_a_clean_stop_says_offline_for_every_module(
    endpoint: MqttEndpoint, site: str, edge: FakeEdge
) -> None:
    modules = ["A-01", "A-02", "A-03"]
    async with ModuleBank(endpoint, site, modules, connections=1):
        await wait_until(lambda: all(edge.statuses(m) == ["online"] for m in modules), what="all online")

    await wait_until(
        lambda: all(edge.statuses(m) == ["online", "offline"] for m in modules),
        what="all offline",
    )
    for module in modules:
        assert await retained(endpoint, ptl_topic(site, module, PtlTopic.STATUS)) == b"offline"


async def test_an_unanswered_confirm_is_sent_again_with_its_id_until_a_newer_seq_answers_it(
    endpoint: MqttEndpoint, site: str, edge: FakeEdge
) -> None:
    async with ModuleBank(endpoint, site, ["A-01"], resend_every=0.1) as bank:
        await edge.light("A-01", "blue", "3", seq=5)
        await wait_until(lambda: bank.state("A-01").seq == 5, what="A-01 lit")
        pressed = await bank.press("A-01", Button.CONFIRM)

        await wait_until(lambda: len(edge.events("A-01")) >= 3, what="the press sent three times")
        sent = {json.dumps(body, sort_keys=True) for body in edge.events("A-01")}
        assert sent == {json.dumps({"id": pressed.id, "button": "confirm", "display": "3"}, sort_keys=True)}
        assert bank.unanswered("A-01") == [pressed]

        await edge.light("A-01", "blue", "3", seq=5)  # the seq it showed when pressed: no answer
        await wait_until(lambda: edge.acks("A-01") == [5, 5], what="the repeat acked")
        assert bank.unanswered("A-01") == [pressed]

        await edge.clear("A-01", seq=6)  # a newer seq is the edge's answer
        await wait_until(lambda: not bank.unanswered(), what="the press answered")
        assert bank.stats.presses_answered == 1
        assert bank.stats.events_sent == 1
        assert bank.stats.events_resent >= 2


async def test_an_empty_cmd_is_a_deleted_retained_copy_and_is_ignored(
    endpoint: MqttEndpoint, site: str, edge: FakeEdge
) -> None:
    async with ModuleBank(endpoint, site, ["A-01"]) as bank:
        await edge.light("A-01", "blue", "3", seq=5)
        await wait_until(lambda: edge.acks("A-01") == [5], what="A-01 lit and acked")

        await edge.send("A-01", b"")  # deletes the retained copy; subscribers get it as an empty message
        await wait_until(lambda: bank.stats.cmds_deleted == 1, what="the empty cmd received")

        assert lit_as("blue", "3")(bank.state("A-01"))
        assert bank.stats.cmds_malformed == 0
        await edge.light("A-01", "green", "1", seq=6)
        await wait_until(lambda: edge.acks("A-01") == [5, 6], what="the next cmd acked")
        assert edge.acks("A-01") == [5, 6]  # nothing acked for the empty one


async def test_a_module_that_does_not_ack_still_applies_cmds(
    endpoint: MqttEndpoint, site: str, edge: FakeEdge
) -> None:
    async with ModuleBank(endpoint, site, ["A-01", "A-02"]) as bank:
        bank.set_acking("A-01", False)

        await edge.light("A-01", "blue", "3")
        await edge.light("A-02", "blue", "4")

        await wait_until(lambda: edge.acks("A-02") == [1], what="A-02 acks")
        await wait_until(lambda: bank.state("A-01").lit, what="A-01 lit")
        # A-01's cmd went out first on the same broker, so its ack would be here by now too.
        await edge.clear("A-02")
        await wait_until(lambda: edge.acks("A-02") == [1, 2], what="A-02 second ack")
        assert edge.acks("A-01") == []
        assert bank.stats.acks_sent == 2

        bank.set_acking("A-01", True)
        await edge.light("A-01", "blue", "3", seq=1)  # the edge's resend
        await wait_until(lambda: edge.acks("A-01") == [1], what="A-01 acks again")


async def test_a_malformed_cmd_is_counted_and_the_module_keeps_working(
    endpoint: MqttEndpoint, site: str, edge: FakeEdge
) -> None:
    async with ModuleBank(endpoint, site, ["A-01"]) as bank:
        await edge.send("A-01", b"{not json")
        await edge.send("A-01", {"seq": 1, "color": "blue", "blink": "sideways", "display": "2"})
        await edge.send("A-01", [1, 2, 3])  # type: ignore[arg-type]
        await wait_until(lambda: bank.stats.cmds_malformed == 3, what="three malformed cmds")

        await edge.light("A-01", "green", "2", seq=2)

        await wait_until(lambda: lit_as("green", "2")(bank.state("A-01")), what="a good cmd")
        await wait_until(lambda: edge.acks("A-01") == [2], what="its ack")


async def test_ten_modules_on_two_connections_all_work(
    endpoint: MqttEndpoint, site: str, edge: FakeEdge
) -> None:
    modules = [f"B-{n:02d}" for n in range(10)]
    async with ModuleBank(endpoint, site, modules, connections=2) as bank:
        assert {bank.connection_index(m) for m in modules} == {0, 1}
        assert [bank.connection_index(m) for m in modules] == [0] * 5 + [1] * 5

        for number, module in enumerate(modules):
            await edge.light(module, "yellow", str(number))
        await wait_until(lambda: len(bank.lit()) == 10, what="all ten lit")
        await wait_until(lambda: all(edge.acks(m) == [1] for m in modules), what="ten acks")
        assert {m: s.display for m, s in bank.lit().items()} == {m: str(n) for n, m in enumerate(modules)}

        for module in modules:
            await bank.press(module, Button.CONFIRM)
        await wait_until(lambda: all(len(edge.events(m)) == 1 for m in modules), what="presses")
        assert all(edge.statuses(m) == ["online"] for m in modules)

    await wait_until(lambda: all(edge.statuses(m)[-1:] == ["offline"] for m in modules), what="off")


async def test_the_bank_reconnects_when_the_broker_comes_back(fresh_mosquitto: Mosquitto, site: str) -> None:
    endpoint = MqttEndpoint.from_url(fresh_mosquitto.url)
    async with ModuleBank(endpoint, site, ["A-01"], reconnect_min=0.05, reconnect_max=0.2) as bank:
        assert bank.stats.connects == 1

        await asyncio.to_thread(fresh_mosquitto.restart)

        await wait_until(lambda: bank.stats.connects == 2, timeout=10, what="a reconnect")
        async with make_client(endpoint) as client:
            edge = FakeEdge(client, site)
            await client.subscribe(ptl_filter(site, PtlTopic.ACK), qos=1)
            pump = asyncio.create_task(edge.pump())
            await edge.light("A-01", "cyan", "1", seq=3)
            await wait_until(lambda: edge.acks("A-01") == [3], what="ack after the reconnect")
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        assert lit_as("cyan", "1")(bank.state("A-01"))
        status = await retained(endpoint, ptl_topic(site, "A-01", PtlTopic.STATUS))
        assert status == b"online"


# -- simulated pickers ----------------------------------------------------------------------------


class Orders:
    """The edge's pick rules, minimal: confirm of the requested quantity (or a short) clears the
    module; more than requested answers red, fast-blinking, showing the request again."""

    def __init__(self, edge: FakeEdge) -> None:
        self.edge = edge
        self.requested: dict[str, int] = {}
        self.done: dict[str, dict[str, Any]] = {}
        self.rejected: list[dict[str, Any]] = []
        edge.react = self.on_event

    async def light(self, module: str, color: str, qty: int) -> None:
        self.requested[module] = qty
        await self.edge.light(module, color, str(qty))

    async def on_event(self, module: str, event: dict[str, Any]) -> None:
        if event["button"] not in ("confirm", "short") or module in self.done:
            return
        if int(event["display"]) > self.requested[module]:
            self.rejected.append(event)
            await self.edge.light(module, ERROR_COLOR, str(self.requested[module]), blink="fast")
            return
        self.done[module] = event
        await self.edge.clear(module)


@contextlib.asynccontextmanager
async def working(picker: SimulatedPicker) -> AsyncIterator[None]:
    task = asyncio.create_task(picker.run(), name=f"picker-{picker.name}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_blue_picker_confirms_exactly_the_blue_modules_with_their_quantities(
    endpoint: MqttEndpoint, site: str, edge: FakeEdge
) -> None:
    zone = ["A-01", "A-02", "A-03", "A-04", "A-05"]
    orders = Orders(edge)
    async with ModuleBank(endpoint, site, zone) as bank:
        picker = SimulatedPicker(bank, "ann", zone, color="blue", seconds_per_pick=0.01, rng=random.Random(1))
        # Lit before the picker starts, in reverse: it must still walk them in zone order.
        await orders.light("A-05", "blue", 12)
        await orders.light("A-03", "blue", 1)
        await orders.light("A-02", "orange", 5)
        await orders.light("A-01", "blue", 3)
        await wait_until(lambda: len(bank.lit()) == 4, what="four modules lit")

        async with working(picker):
            await wait_until(lambda: len(orders.done) == 3, what="three blue picks")
            await wait_until(lambda: list(bank.lit()) == ["A-02"], what="only orange still lit")

        assert list(orders.done) == ["A-01", "A-03", "A-05"]
        assert {m: (e["button"], e["display"]) for m, e in orders.done.items()} == {
            "A-01": ("confirm", "3"),
            "A-03": ("confirm", "1"),
            "A-05": ("confirm", "12"),
        }
        assert edge.events("A-02") == []
        assert (picker.picks, picker.shorts, picker.mistakes) == (3, 0, 0)


async def test_a_picker_takes_over_modules_when_given_a_colour(
    endpoint: MqttEndpoint, site: str, edge: FakeEdge
) -> None:
    orders = Orders(edge)
    async with ModuleBank(endpoint, site, ["A-01"]) as bank:
        picker = SimulatedPicker(bank, "bo", ["A-01"], seconds_per_pick=0.01, rng=random.Random(2))
        async with working(picker):
            await orders.light("A-01", "green", 2)
            await wait_until(lambda: bank.state("A-01").lit, what="A-01 lit")
            assert picker.color is None

            picker.color = "green"

            await wait_until(lambda: "A-01" in orders.done, what="the pick")
        assert orders.done["A-01"]["display"] == "2"


async def test_a_short_picker_confirms_less_with_the_short_button(
    endpoint: MqttEndpoint, site: str, edge: FakeEdge
) -> None:
    orders = Orders(edge)
    async with ModuleBank(endpoint, site, ["A-01", "A-02"]) as bank:
        picker = SimulatedPicker(
            bank,
            "cy",
            ["A-01", "A-02"],
            color="blue",
            seconds_per_pick=0.01,
            short_rate=1.0,
            rng=random.Random(3),
        )
        async with working(picker):
            await orders.light("A-01", "blue", 4)
            await orders.light("A-02", "blue", 1)
            await wait_until(lambda: len(orders.done) == 2, what="two shorts")

        for module in ("A-01", "A-02"):
            final = orders.done[module]
            assert final["button"] == "short"
            assert 0 <= int(final["display"]) < orders.requested[module]
            minus = [e for e in edge.events(module) if e["button"] == "minus"]
            assert len(minus) == orders.requested[module] - int(final["display"])
        assert (picker.picks, picker.shorts, picker.mistakes) == (0, 2, 0)


async def test_an_over_pick_shown_red_is_fixed_and_confirmed_with_the_request(
    endpoint: MqttEndpoint, site: str, edge: FakeEdge
) -> None:
    orders = Orders(edge)
    async with ModuleBank(endpoint, site, ["A-01"]) as bank:
        picker = SimulatedPicker(
            bank,
            "di",
            ["A-01"],
            color="orange",
            seconds_per_pick=0.01,
            mistake_rate=1.0,
            rng=random.Random(4),
        )
        async with working(picker):
            await orders.light("A-01", "orange", 3)
            await wait_until(lambda: "A-01" in orders.done, what="the fixed pick")

        assert [(e["button"], e["display"]) for e in orders.rejected] == [("confirm", "4")]
        assert orders.done["A-01"] == {
            "id": orders.done["A-01"]["id"],
            "button": "confirm",
            "display": "3",
        }
        assert (picker.picks, picker.mistakes, picker.fixes) == (1, 1, 1)
        assert not bank.state("A-01").lit


# -- the command line -----------------------------------------------------------------------------


async def test_the_cli_prints_cmds_and_typed_presses_and_stops_cleanly_on_ctrl_c(
    mosquitto: Mosquitto, endpoint: MqttEndpoint, site: str, edge: FakeEdge
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "floorgate.firmware_sim.ptl_cli",
        "--broker",
        mosquitto.url,
        "--site",
        site,
        "--modules",
        "X-1",
        "--count",
        "2",
        "--prefix",
        "A-",
        cwd=REPO_ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    lines: list[str] = []

    async def read_lines(stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            lines.append(line.decode().rstrip())

    reader = asyncio.create_task(read_lines(process.stdout))
    try:
        modules = ["X-1", "A-01", "A-02"]
        await wait_until(
            lambda: all(edge.statuses(m) == ["online"] for m in modules),
            timeout=10,
            what="the CLI's modules online",
        )
        await edge.light("A-02", "blue", "3", seq=5)
        await wait_until(lambda: edge.acks("A-02") == [5], what="the CLI module's ack")

        process.stdin.write(b"A-02 plus\n")
        await process.stdin.drain()
        await wait_until(lambda: len(edge.events("A-02")) == 1, what="the typed press")

        process.send_signal(signal.SIGINT)
        # Generous: a stop that hangs fails here, and a loaded machine may be slow to tear a process down.
        async with asyncio.timeout(60):
            assert await process.wait() == 0
        await reader
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        reader.cancel()

    assert "A-02  cmd seq=5 applied: blue/none '3' (acked)" in lines
    assert any(line.startswith("A-02  press plus display='4' id=A-02-1-") for line in lines)
    assert edge.events("A-02")[0]["display"] == "4"
    await wait_until(
        lambda: all(edge.statuses(m) == ["online", "offline"] for m in modules),
        what="a clean goodbye from every module",
    )
