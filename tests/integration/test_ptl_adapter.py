"""The PTL adapter and the edge's MQTT link against real brokers: mosquitto and the embedded amqtt.

The modules' side is played by raw MQTT clients speaking the wire contract; the writer's queue by a
hand-written fake `submit` that records every command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiomqtt
import pytest

from floorgate.core.commands import (
    Button,
    PressButton,
    RecordDeviceFault,
    ReportDeviceStatus,
    SupersedeRetainedCommand,
)
from floorgate.core.instructions import Blink, ClearBin, LightBin
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.mqtt.link import InboundMessage, MqttLink
from floorgate.devices.ptl.adapter import PtlAdapter
from floorgate.devices.ptl.codec import (
    PtlTopic,
    decode_command,
    encode_ack,
    parse_ptl_topic,
    ptl_filter,
    ptl_topic,
)
from floorgate.devices.ptl.retained import FloorLights
from floorgate.firmware_sim.mqtt_client import make_client
from tests.support.brokers import Mosquitto, free_port
from tests.support.recording_submit import RecordingSubmit
from tests.support.retained import plant_async, retained_now
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


MODULE = "A-01-01"
OTHER = "A-01-02"


# -- fakes and helpers ------------------------------------------------------------------------------


@dataclass
class Edge:
    link: MqttLink
    adapter: PtlAdapter
    submitted: RecordingSubmit
    site: str
    edge_id: str

    def topic(self, module: str, kind: PtlTopic) -> str:
        return ptl_topic(self.site, module, kind)

    @property
    def status_topic(self) -> str:
        return f"floorgate/{self.site}/edge/{self.edge_id}/status"


def new_site() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def light(module: str, seq: int, display: str = "3") -> LightBin:
    return LightBin(module=module, seq=seq, color="green", blink=Blink.NONE, display=display)


@asynccontextmanager
async def running_edge(
    url: str,
    *,
    site: str | None = None,
    edge_id: str = "edge-1",
    ack_timeout: float = 5.0,
    max_attempts: int = 5,
    submitted: RecordingSubmit | None = None,
    before_start: list[LightBin | ClearBin] | None = None,
    lights: FloorLights | None = None,
) -> AsyncIterator[Edge]:
    """A link and a PTL adapter running as tasks; stopped (cleanly, by cancellation) on exit. With `lights`
    the adapter has the floor's lights (as the edge wires it) and puts the bus right after each connect."""
    site = site or new_site()
    link = MqttLink(MqttEndpoint.from_url(url), site, edge_id, backoff_min=0.05, backoff_max=0.5)
    submitted = submitted if submitted is not None else RecordingSubmit()

    async def floor_lights() -> FloorLights:
        assert lights is not None
        return lights

    adapter = PtlAdapter(
        link,
        site,
        submitted,
        ack_timeout=ack_timeout,
        max_attempts=max_attempts,
        lights=floor_lights if lights is not None else None,
    )
    if before_start:
        adapter.resend_all(before_start)
    tasks = [
        asyncio.create_task(link.run(), name="test-link"),
        asyncio.create_task(adapter.run(), name="test-adapter"),
    ]
    try:
        await wait_until(lambda: link.connected or any(t.done() for t in tasks), what="link connected")
        for task in tasks:
            if task.done():
                task.result()
        yield Edge(link=link, adapter=adapter, submitted=submitted, site=site, edge_id=edge_id)
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result


@asynccontextmanager
async def raw_client(url: str, **kwargs: object) -> AsyncIterator[aiomqtt.Client]:
    async with make_client(MqttEndpoint.from_url(url), **kwargs) as client:  # type: ignore[arg-type]
        yield client


@dataclass
class Watcher:
    """Every message a raw client receives on its subscriptions."""

    messages: list[aiomqtt.Message] = field(default_factory=list)

    def on(self, topic: str) -> list[aiomqtt.Message]:
        return [message for message in self.messages if message.topic.value == topic]

    def payloads(self, topic: str) -> list[bytes]:
        return [message.payload for message in self.on(topic)]


@asynccontextmanager
async def watching(url: str, *topic_filters: str) -> AsyncIterator[Watcher]:
    watcher = Watcher()
    async with raw_client(url) as client:
        for topic_filter in topic_filters:
            await client.subscribe(topic_filter, qos=1)

        async def collect() -> None:
            async for message in client.messages:
                watcher.messages.append(message)

        task = asyncio.create_task(collect())
        try:
            yield watcher
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task


@asynccontextmanager
async def acking_modules(url: str, site: str) -> AsyncIterator[Watcher]:
    """Every module of the site acks every cmd it receives, as real firmware does."""
    watcher = Watcher()
    async with raw_client(url) as client:
        await client.subscribe(ptl_filter(site, PtlTopic.CMD), qos=1)

        async def ack() -> None:
            async for message in client.messages:
                watcher.messages.append(message)
                parsed = parse_ptl_topic(site, message.topic.value)
                if parsed is None:
                    # amqtt also hands this client the retained edge status the link subscribes to
                    # (see `retained`); modules ignore what is not theirs, as the simulators do.
                    continue
                command = decode_command(message.payload)
                await client.publish(ptl_topic(site, parsed[0], PtlTopic.ACK), encode_ack(command.seq), qos=1)

        task = asyncio.create_task(ack())
        try:
            yield watcher
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task


async def retained(url: str, topic: str) -> aiomqtt.Message:
    """The retained message on `topic`, as a new subscriber gets it.

    Messages on other topics are skipped: amqtt 0.12 sends a connecting client the retained messages
    of every filter any client subscribed to, not only its own.
    """
    async with raw_client(url) as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(2):
            async for message in client.messages:
                if message.topic.value == topic:
                    return message
    raise AssertionError("unreachable: the message loop only ends by raising")


# -- inbound: events, status ------------------------------------------------------------------------


async def test_button_press_becomes_press_button_with_namespaced_message_id(broker_url: str) -> None:
    async with running_edge(broker_url) as edge, raw_client(broker_url) as module:
        await module.publish(
            edge.topic(MODULE, PtlTopic.EVENT), b'{"id":"e-41","button":"confirm","display":"3"}', qos=1
        )
        await wait_until(lambda: edge.submitted.commands, what="a submitted command")

        assert edge.submitted.commands == [
            PressButton(message_id=f"ptl:{MODULE}:e-41", module=MODULE, button=Button.CONFIRM, display="3")
        ]
        assert edge.adapter.stats.received == 1
        assert edge.adapter.stats.malformed == 0


async def test_malformed_frames_become_faults_and_the_adapter_keeps_working(broker_url: str) -> None:
    async with running_edge(broker_url) as edge, raw_client(broker_url) as module:
        topic = edge.topic(MODULE, PtlTopic.EVENT)
        await module.publish(topic, b'{"id": "e-1", "button": ', qos=1)
        await module.publish(topic, b'{"id":"e-2","button":"stop"}', qos=1)
        await module.publish(topic, b'{"id":"e-3","button":"short","display":"0"}', qos=1)
        await wait_until(lambda: len(edge.submitted.commands) == 3, what="three submitted commands")

        faults = {fault.detail["payload"]: fault for fault in edge.submitted.of(RecordDeviceFault)}
        assert set(faults) == {'{"id": "e-1", "button": ', '{"id":"e-2","button":"stop"}'}
        broken = faults['{"id": "e-1", "button": ']
        assert (broken.device, broken.kind, broken.detail["topic"]) == (MODULE, "ptl", topic)
        assert broken.reason.startswith("not JSON")
        assert faults['{"id":"e-2","button":"stop"}'].reason.startswith("unknown button 'stop'")
        assert edge.submitted.of(PressButton) == [
            PressButton(message_id=f"ptl:{MODULE}:e-3", module=MODULE, button=Button.SHORT, display="0")
        ]
        assert edge.adapter.stats.malformed == 2
        assert edge.adapter.stats.received == 3


async def test_a_fault_keeps_only_the_first_200_characters_of_the_payload(broker_url: str) -> None:
    async with running_edge(broker_url) as edge, raw_client(broker_url) as module:
        await module.publish(edge.topic(MODULE, PtlTopic.EVENT), b"x" * 5000, qos=1)
        await wait_until(lambda: edge.submitted.of(RecordDeviceFault), what="a fault")

        assert edge.submitted.of(RecordDeviceFault)[0].detail["payload"] == "x" * 200


async def test_module_status_becomes_report_device_status(broker_url: str) -> None:
    async with running_edge(broker_url) as edge, raw_client(broker_url) as module:
        topic = edge.topic(MODULE, PtlTopic.STATUS)
        await module.publish(topic, b"online", qos=1, retain=True)
        await wait_until(lambda: edge.submitted.commands, what="online status")
        await module.publish(topic, b"offline", qos=1, retain=True)
        await wait_until(lambda: len(edge.submitted.commands) == 2, what="offline status")
        await module.publish(topic, b"rebooting", qos=1, retain=True)
        await wait_until(lambda: len(edge.submitted.commands) == 3, what="a fault")

        online, offline, fault = edge.submitted.commands
        assert online == ReportDeviceStatus(device=MODULE, kind="ptl", online=True, transport="mqtt")
        assert offline == ReportDeviceStatus(device=MODULE, kind="ptl", online=False, transport="mqtt")
        assert isinstance(fault, RecordDeviceFault)
        assert fault.device == MODULE
        assert "status must be 'online' or 'offline'" in fault.reason
        assert edge.adapter.stats.malformed == 1


async def test_retained_module_status_is_reported_when_the_edge_connects(broker_url: str) -> None:
    site = new_site()
    async with raw_client(broker_url) as module:
        await module.publish(ptl_topic(site, MODULE, PtlTopic.STATUS), b"online", qos=1, retain=True)
    async with running_edge(broker_url, site=site) as edge:
        await wait_until(lambda: edge.submitted.statuses(MODULE), what="the retained status")

        assert edge.submitted.statuses(MODULE) == [
            ReportDeviceStatus(device=MODULE, kind="ptl", online=True, transport="mqtt")
        ]


async def test_a_handler_that_raises_costs_one_message_not_the_link(
    broker_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    submitted = RecordingSubmit(fail_next=1)
    with caplog.at_level(logging.ERROR, logger="floorgate.devices.mqtt.link"):
        async with running_edge(broker_url, submitted=submitted) as edge, raw_client(broker_url) as module:
            topic = edge.topic(MODULE, PtlTopic.EVENT)
            await module.publish(topic, b'{"id":"lost","button":"confirm"}', qos=1)
            await module.publish(topic, b'{"id":"kept","button":"confirm"}', qos=1)
            await wait_until(lambda: edge.submitted.commands, what="the second event")

            assert [c.message_id for c in edge.submitted.commands] == [f"ptl:{MODULE}:kept"]
            assert edge.link.connected
    failures = [r for r in caplog.records if r.getMessage() == "MQTT message handler failed"]
    assert len(failures) == 1
    assert failures[0].topic == topic  # type: ignore[attr-defined]
    assert failures[0].exc_info is not None


async def test_a_route_added_while_connected_is_subscribed_at_once(broker_url: str) -> None:
    received: list[InboundMessage] = []

    async def on_scan(message: InboundMessage) -> None:
        received.append(message)

    async with running_edge(broker_url) as edge, raw_client(broker_url) as scanner:
        topic = f"floorgate/{edge.site}/scanner/S1/scan"
        edge.link.route(f"floorgate/{edge.site}/scanner/+/scan", on_scan)

        async def delivered() -> bool:
            # The SUBSCRIBE is on its way, not yet acknowledged: publish until one gets through.
            await scanner.publish(topic, b'{"id":"s1","data":"X"}', qos=1)
            return bool(received)

        await wait_until(delivered, what="a message on the new route")
        assert received[0].topic == topic
        assert received[0].payload == b'{"id":"s1","data":"X"}'


# -- outbound: commands, acks, resends --------------------------------------------------------------


async def test_cmd_is_published_retained_with_its_seq(broker_url: str) -> None:
    async with running_edge(broker_url) as edge:
        edge.adapter.send(light(MODULE, 17))
        await wait_until(lambda: edge.adapter.stats.published == 1, what="the cmd published")

        message = await retained(broker_url, edge.topic(MODULE, PtlTopic.CMD))
        assert message.retain is True
        assert message.payload == b'{"seq":17,"color":"green","blink":"none","display":"3"}'
        assert edge.adapter.pending()[MODULE].seq == 17


async def test_a_newer_seq_replaces_the_retained_cmd_and_an_older_one_is_ignored(broker_url: str) -> None:
    async with running_edge(broker_url) as edge:
        edge.adapter.send(light(MODULE, 17))
        edge.adapter.send(ClearBin(module=MODULE, seq=18))
        edge.adapter.send(light(MODULE, 16))
        await wait_until(
            lambda: (
                edge.adapter.pending().get(MODULE, (0,))[0] == 18
                and edge.adapter.pending()[MODULE].attempts == 1
            ),
            what="seq 18 published",
        )

        message = await retained(broker_url, edge.topic(MODULE, PtlTopic.CMD))
        assert (message.retain, message.payload) == (True, b'{"seq":18,"off":true}')


async def test_missing_ack_resends_the_same_seq_then_reports_the_module_offline_once(broker_url: str) -> None:
    async with (
        running_edge(broker_url, ack_timeout=0.1, max_attempts=3) as edge,
        watching(broker_url, edge.topic(MODULE, PtlTopic.CMD)) as wire,
    ):
        edge.adapter.send(light(MODULE, 5))
        await wait_until(lambda: edge.submitted.statuses(MODULE), timeout=2, what="the no_ack report")

        assert edge.submitted.statuses(MODULE) == [
            ReportDeviceStatus(device=MODULE, kind="ptl", online=False, transport="mqtt", reason="no_ack")
        ]
        assert edge.adapter.stats.published == 3
        assert edge.adapter.stats.resent == 2
        assert edge.adapter.pending()[MODULE].attempts == 3
        await wait_until(
            lambda: len(wire.on(edge.topic(MODULE, PtlTopic.CMD))) == 3, what="3 cmds on the wire"
        )
        assert {decode_command(p).seq for p in wire.payloads(edge.topic(MODULE, PtlTopic.CMD))} == {5}

        # The module comes back and acks: reported online again, nothing pending any more.
        async with raw_client(broker_url) as module:
            await module.publish(edge.topic(MODULE, PtlTopic.ACK), encode_ack(5), qos=1)
        await wait_until(lambda: len(edge.submitted.statuses(MODULE)) == 2, what="the module back online")

        assert edge.submitted.statuses(MODULE)[1].online is True
        assert edge.adapter.pending() == {}
        # Reported offline once, and no publish after the last attempt.
        assert [s.online for s in edge.submitted.statuses(MODULE)] == [False, True]
        assert edge.adapter.stats.published == 3


async def test_an_ack_stops_the_resends(broker_url: str) -> None:
    async with running_edge(broker_url, ack_timeout=0.1, max_attempts=2) as edge:
        async with acking_modules(broker_url, edge.site):
            edge.adapter.send(light(MODULE, 7))
            await wait_until(lambda: edge.adapter.stats.published == 1, what="the cmd published")
            await wait_until(lambda: MODULE not in edge.adapter.pending(), what="the ack")

        # A second, silent module is our clock: by the time it is reported offline (two ack timeouts),
        # the acked module's own deadline has long passed without a resend.
        edge.adapter.send(light(OTHER, 1))
        await wait_until(lambda: edge.submitted.statuses(OTHER), timeout=2, what="the silent module")

        assert edge.adapter.stats.resent == 1  # the silent module's one resend, none for the acked one
        assert edge.submitted.statuses(MODULE) == []
        assert set(edge.adapter.pending()) == {OTHER}


async def test_an_ack_for_an_older_seq_keeps_the_newer_command_pending(broker_url: str) -> None:
    async with running_edge(broker_url) as edge, raw_client(broker_url) as module:
        edge.adapter.send(light(MODULE, 8))
        await wait_until(lambda: edge.adapter.stats.published == 1, what="the cmd published")
        await module.publish(edge.topic(MODULE, PtlTopic.ACK), encode_ack(7), qos=1)
        await module.publish(edge.topic(MODULE, PtlTopic.ACK), b'{"seq":"8"}', qos=1)
        await wait_until(lambda: edge.adapter.stats.received == 2, what="both acks")

        assert edge.adapter.pending()[MODULE].seq == 8
        assert [f.reason for f in edge.submitted.of(RecordDeviceFault)] == [
            "'seq' must be a non-negative integer, got '8'"
        ]


async def test_commands_sent_before_the_link_is_up_are_published_once_it_is(broker_url: str) -> None:
    lit = [light(MODULE, 3), light(OTHER, 4, display="12")]
    async with running_edge(broker_url, before_start=list(lit)) as edge:
        await wait_until(lambda: edge.adapter.stats.published == 2, what="both cmds published")

        first = await retained(broker_url, edge.topic(MODULE, PtlTopic.CMD))
        second = await retained(broker_url, edge.topic(OTHER, PtlTopic.CMD))
        assert decode_command(first.payload).seq == 3
        assert decode_command(second.payload).display == "12"


async def test_a_burst_of_commands_reaches_each_module_in_seq_order_ending_with_the_latest(
    broker_url: str,
) -> None:
    async with running_edge(broker_url) as edge, acking_modules(broker_url, edge.site) as modules:
        for seq in range(1, 201):
            edge.adapter.send(light(f"M-{seq % 20:02d}", seq))
        await wait_until(lambda: not edge.adapter.pending(), what="every module acked")

        latest = {f"M-{seq % 20:02d}": seq for seq in range(1, 201)}
        for module, seq in latest.items():
            cmds = [
                decode_command(p).seq for p in modules.payloads(ptl_topic(edge.site, module, PtlTopic.CMD))
            ]
            assert cmds[-1] == seq
            assert cmds == sorted(cmds)  # one module's commands reach it in seq order


# -- the edge's own status --------------------------------------------------------------------------


async def test_edge_status_is_online_retained_while_connected_and_offline_after_shutdown(
    broker_url: str,
) -> None:
    async with running_edge(broker_url) as edge:
        status_topic = edge.status_topic
        message = await retained(broker_url, status_topic)
        assert (message.retain, message.payload) == (True, b"online")

    message = await retained(broker_url, status_topic)
    assert (message.retain, message.payload) == (True, b"offline")


async def test_link_keeps_retrying_an_absent_broker_logs_it_once_and_runs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    link = MqttLink(
        MqttEndpoint.from_url(f"mqtt://127.0.0.1:{port}"), new_site(), "e", backoff_min=0.02, backoff_max=0.05
    )
    with caplog.at_level(logging.DEBUG, logger="floorgate.devices.mqtt.link"):
        task = asyncio.create_task(link.run())
        try:
            await wait_until(
                lambda: sum(r.getMessage() == "MQTT reconnect failed" for r in caplog.records) >= 3,
                what="three failed retries",
            )
            with pytest.raises(RuntimeError, match="already running"):
                await link.run()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == ["MQTT broker unreachable; retrying"]
    assert not link.connected


# -- mosquitto only: restarts, persistent sessions, the will ----------------------------------------


def _restart_forgetting_everything(broker: Mosquitto) -> None:
    broker.stop()
    (broker.workdir / "mosquitto.db").unlink(missing_ok=True)
    broker.start()


async def test_broker_restart_without_state_resubscribes_and_republishes_unacked_commands(
    fresh_mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    url = fresh_mosquitto.url
    with caplog.at_level(logging.INFO, logger="floorgate.devices.mqtt.link"):
        async with running_edge(url) as edge:
            edge.adapter.send(light(MODULE, 3))
            await wait_until(lambda: edge.adapter.stats.published == 1, what="the cmd published")

            # The broker comes back with no sessions, subscriptions or retained messages at all.
            await asyncio.to_thread(_restart_forgetting_everything, fresh_mosquitto)
            await wait_until(lambda: edge.adapter.stats.published == 2, what="the cmd republished")

            assert edge.link.connected
            assert edge.adapter.stats.resent == 1
            message = await retained(url, edge.topic(MODULE, PtlTopic.CMD))
            assert decode_command(message.payload).seq == 3
            # Only a fresh SUBSCRIBE can deliver this: the broker forgot the old one.
            async with raw_client(url) as module:
                await module.publish(
                    edge.topic(MODULE, PtlTopic.EVENT), b'{"id":"after","button":"plus"}', qos=1
                )
            await wait_until(lambda: edge.submitted.of(PressButton), what="an event after the restart")
            assert (await retained(url, edge.status_topic)).payload == b"online"

    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("MQTT connection lost; reconnecting") == 1
    assert messages.count("MQTT connection restored") == 1


async def test_a_broker_that_lost_its_state_is_sent_every_modules_light_again_acked_ones_too(
    default_mosquitto: Mosquitto,
) -> None:
    url = default_mosquitto.url
    site = new_site()
    lights = FloorLights(
        commands=[light(MODULE, 3), ClearBin(module=OTHER, seq=2)], modules=frozenset({MODULE})
    )
    expected = {ptl_topic(site, MODULE, PtlTopic.CMD): 3, ptl_topic(site, OTHER, PtlTopic.CMD): 2}

    async def retained_seqs() -> dict[str, int]:
        return {
            t: decode_command(p).seq
            for t, p in (await retained_now(url, ptl_filter(site, PtlTopic.CMD))).items()
        }

    async with acking_modules(url, site), running_edge(url, site=site, lights=lights) as edge:
        await wait_until(
            lambda: not edge.adapter.pending() and edge.adapter.stats.published == 2, what="acked"
        )
        assert await retained_seqs() == expected

        # mosquitto's default `persistence false`: the restart forgets the session and every retained cmd.
        await asyncio.to_thread(default_mosquitto.restart)

        async def back() -> bool:
            return edge.link.connected and await retained_seqs() == expected

        await wait_until(back, timeout=15, what="every module's cmd retained again")
        assert edge.submitted.of(SupersedeRetainedCommand) == []


async def test_retained_cmds_the_edge_did_not_send_are_replaced_outranked_or_deleted(broker_url: str) -> None:
    url = broker_url
    site = new_site()
    planted = '{"seq":999,"color":"red","blink":"fast","display":"88"}'
    await plant_async(url, ptl_topic(site, MODULE, PtlTopic.CMD), planted)  # above the floor's seq 3
    await plant_async(url, ptl_topic(site, OTHER, PtlTopic.CMD), '{"seq":1,"off":true}')  # below its seq 2
    await plant_async(url, ptl_topic(site, "GHOST", PtlTopic.CMD), planted)  # a module no location has
    lights = FloorLights(
        commands=[light(MODULE, 3), light(OTHER, 2, display="7")], modules=frozenset({MODULE, OTHER})
    )

    async with running_edge(url, site=site, lights=lights) as edge:
        await wait_until(lambda: edge.submitted.of(SupersedeRetainedCommand), what="the plant outranked")

        other, ghost = (ptl_topic(site, m, PtlTopic.CMD) for m in (OTHER, "GHOST"))

        async def corrected() -> dict[str, bytes] | None:
            found = await retained_now(url, ptl_filter(site, PtlTopic.CMD))
            return found if ghost not in found and decode_command(found[other]).seq == 2 else None

        found = await wait_until(corrected, what="OTHER's light replaced and GHOST's deleted")
        assert edge.submitted.of(SupersedeRetainedCommand) == [
            SupersedeRetainedCommand(module=MODULE, seen_seq=999)
        ]
        assert decode_command(found[other]) == decode_command(
            b'{"seq":2,"color":"green","blink":"none","display":"7"}'
        )
        assert edge.adapter.stats.retained_corrected == 3


@pytest.mark.parametrize("restart_broker", [False, True], ids=["edge-away", "edge-away-broker-restart"])
async def test_qos1_events_sent_while_the_edge_is_away_arrive_when_it_returns(
    fresh_mosquitto: Mosquitto, restart_broker: bool
) -> None:
    url = fresh_mosquitto.url
    site = new_site()
    async with running_edge(url, site=site) as edge:
        pass  # connected once: the broker now holds a persistent session with our subscriptions

    async with raw_client(url) as module:
        await module.publish(
            ptl_topic(site, MODULE, PtlTopic.EVENT),
            b'{"id":"while-away","button":"confirm","display":"2"}',
            qos=1,
        )
    if restart_broker:
        await asyncio.to_thread(fresh_mosquitto.restart)

    async with running_edge(url, site=site, edge_id=edge.edge_id) as back:
        await wait_until(lambda: back.submitted.of(PressButton), what="the event sent while away")

        assert back.submitted.of(PressButton) == [
            PressButton(
                message_id=f"ptl:{MODULE}:while-away", module=MODULE, button=Button.CONFIRM, display="2"
            )
        ]


async def test_an_abruptly_cut_connection_publishes_the_will_then_the_link_comes_back(
    fresh_mosquitto: Mosquitto,
) -> None:
    async with (
        TcpProxy(fresh_mosquitto.port) as proxy,
        running_edge(proxy.url) as edge,
        watching(fresh_mosquitto.url, edge.status_topic) as statuses,
    ):
        await wait_until(lambda: statuses.payloads(edge.status_topic) == [b"online"], what="online")

        proxy.sever()
        await wait_until(
            lambda: statuses.payloads(edge.status_topic)[:2] == [b"online", b"offline"],
            what="the will",
        )
        await wait_until(
            lambda: statuses.payloads(edge.status_topic) == [b"online", b"offline", b"online"],
            what="online again after the reconnect",
        )
        await wait_until(lambda: edge.link.connected, what="the link reconnected")
        assert proxy.connections == 2

        # And it works again: a published cmd goes through the new connection.
        edge.adapter.send(light(MODULE, 1))
        await wait_until(lambda: edge.adapter.stats.published == 1, what="a cmd after the reconnect")


async def test_an_event_is_acknowledged_to_the_broker_only_once_it_is_committed(mosquitto: Mosquitto) -> None:
    """A press whose commit never happened (the edge died) is delivered again; a committed one is not."""
    site = new_site()
    holding = RecordingSubmit(hold_acks=True)
    async with running_edge(mosquitto.url, site=site, submitted=holding) as edge:
        async with raw_client(mosquitto.url) as module:
            for event_id in ("uncommitted", "committed"):
                payload = f'{{"id":"{event_id}","button":"confirm","display":"1"}}'.encode()
                await module.publish(ptl_topic(site, MODULE, PtlTopic.EVENT), payload, qos=1)
        await wait_until(lambda: len(holding.of(PressButton)) == 2, what="both events submitted")
        holding.held[1]()  # only the second one is "committed" before the edge goes away

    again = RecordingSubmit()
    async with running_edge(mosquitto.url, site=site, edge_id=edge.edge_id, submitted=again):
        await wait_until(lambda: again.of(PressButton), what="the uncommitted event delivered again")
        assert [c.message_id for c in again.of(PressButton)] == [f"ptl:{MODULE}:uncommitted"]
