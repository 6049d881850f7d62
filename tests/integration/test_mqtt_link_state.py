"""The MQTT link's hold on broker state against a real mosquitto: session presence, retained scans, status.

Most tests use the suite's mosquitto (persistence on, a large message queue); those about what a broker
as installed does (no persistence, mosquitto's default limits on queued messages) run one with its
defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any

import pytest

from floorgate.devices.mqtt.connection import MqttConnection
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.mqtt.link import Connected, InboundMessage, LinkDown, MqttLink
from floorgate.devices.mqtt.scan import ScanRefused, ScanTimedOut
from floorgate.devices.mqtt.wire import (
    SUBACK_FAILURE,
    PacketReader,
    PacketType,
    Publish,
    decode_publish,
    encode_puback,
    encode_publish,
)
from tests.support.brokers import Mosquitto
from tests.support.fake_mqtt_broker import LoopbackServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

LINK_LOGGER = "floorgate.devices.mqtt.link"


# -- helpers -------------------------------------------------------------------------------------------


@dataclass
class Recorder:
    """A connect listener and a route handler that keep what they were called with."""

    connects: list[Connected] = field(default_factory=list)
    routed: list[InboundMessage] = field(default_factory=list)

    async def on_connect(self, connected: Connected) -> None:
        self.connects.append(connected)

    async def on_message(self, message: InboundMessage) -> None:
        self.routed.append(message)

    def routed_on(self, topic: str) -> list[bytes]:
        return [message.payload for message in self.routed if message.topic == topic]


@contextlib.asynccontextmanager
async def running(link: MqttLink) -> AsyncIterator[asyncio.Task[None]]:
    """`link.run()` as a task, connected; stopped cleanly (cancelled) on exit."""
    task = asyncio.create_task(link.run(), name="test-link")
    try:
        await wait_until(lambda: link.connected or task.done(), timeout=10, what="the link connected")
        if task.done():
            task.result()
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def new_link(url: str, site: str | None = None, **options: Any) -> MqttLink:
    options = {"backoff_min": 0.05, "backoff_max": 0.5, **options}
    return MqttLink(MqttEndpoint.from_url(url), site or f"t{uuid.uuid4().hex[:10]}", "edge-1", **options)


@contextlib.asynccontextmanager
async def client(url: str) -> AsyncIterator[tuple[MqttConnection, list[Publish]]]:
    """A plain connection of our own (another client on the bus), with everything it receives."""
    received: list[Publish] = []
    connection = await MqttConnection.open(
        MqttEndpoint.from_url(url), client_id=f"fg-test-{uuid.uuid4().hex[:12]}", on_message=received.append
    )
    try:
        yield connection, received
    finally:
        connection.abort("the test is over")


async def within(awaitable: Awaitable[Any], seconds: float, what: str) -> Any:
    """Await with a deadline of the test's; a TimeoutError of the awaited's own (ScanTimedOut) passes."""
    deadline = asyncio.timeout(seconds)
    try:
        async with deadline:
            return await awaitable
    except TimeoutError:
        if not deadline.expired():
            raise
        raise AssertionError(f"{what} did not happen within {seconds} s") from None


async def publish_acked(
    connection: MqttConnection, topic: str, payload: bytes, *, retain: bool = False
) -> None:
    waiter = connection.publish(topic, payload, qos=1, retain=retain, want_ack=True)
    assert waiter is not None
    await within(waiter, 5, f"the PUBACK of {payload!r} on {topic}")


async def retained_payload(url: str, topic: str) -> bytes | None:
    """The message retained on `topic` now, as a new subscriber sees it (None: nothing retained).

    A marker published after the SUBSCRIBE comes back after any retained message (one client's messages
    in order), so "nothing" is known without waiting for a timeout.
    """
    async with client(url) as (connection, received):
        marker = f"{topic}/marker-{uuid.uuid4().hex[:8]}"
        await within(connection.subscribe([(topic, 1), (marker, 1)]), 5, "SUBACK")
        connection.publish(marker, b"m")
        await wait_until(lambda: any(m.topic == marker for m in received), what="the marker back")
        found = [m.payload for m in received if m.topic == topic and m.retain]
        return found[0] if found else None


@dataclass
class ScriptedBroker(LoopbackServer):
    """A loopback "broker" for what mosquitto will not do on demand: refuse a subscription (any filter
    with a "denied" level), leave an UNSUBSCRIBE unanswered. It echoes QoS 0 publishes on `*/sync`
    topics (a scan's marker), acknowledges QoS 1 publishes and records every UNSUBSCRIBE's filters."""

    session_present: bool = False
    answer_unsubscribe: bool = True
    unsubscribed: list[list[str]] = field(default_factory=list)
    connects: int = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stream = PacketReader()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                for first, body in stream.feed(data):
                    writer.write(self._answer(first, body))
        writer.close()

    def _answer(self, first: int, body: bytes) -> bytes:
        kind, mid = first >> 4, body[:2]
        if kind == PacketType.CONNECT:
            self.connects += 1
            return bytes((0x20, 2, int(self.session_present), 0))
        if kind == PacketType.SUBSCRIBE:
            codes = [
                SUBACK_FAILURE if "/denied/" in f else qos for f, qos in _filters(body[2:], with_qos=True)
            ]
            return bytes((0x90, 2 + len(codes))) + mid + bytes(codes)
        if kind == PacketType.UNSUBSCRIBE:
            self.unsubscribed.append([f for f, _ in _filters(body[2:], with_qos=False)])
            return b"\xb0\x02" + mid if self.answer_unsubscribe else b""
        if kind == PacketType.PUBLISH:
            message = decode_publish(first, body)
            if message.qos:
                return encode_puback(message.mid)
            if message.topic.endswith("/sync"):
                return encode_publish(message.topic.encode(), message.payload)
        return b""


def _filters(payload: bytes, *, with_qos: bool) -> list[tuple[str, int]]:
    found, at = [], 0
    while at < len(payload):
        (length,) = struct.unpack_from("!H", payload, at)
        topic_filter = payload[at + 2 : at + 2 + length].decode()
        at += 2 + length
        qos = payload[at] if with_qos else 0
        at += 1 if with_qos else 0
        found.append((topic_filter, qos))
    return found


def no_route_topics(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        str(getattr(record, "topic", ""))
        for record in caplog.records
        if record.name == LINK_LOGGER and record.getMessage() == "MQTT message with no route"
    ]


def the_connection(link: MqttLink) -> MqttConnection:
    session = link._session
    assert session is not None, "the link is not connected"
    return session.connection


# -- session presence ----------------------------------------------------------------------------------


async def test_connect_listeners_learn_whether_the_broker_kept_the_session(
    default_mosquitto: Mosquitto,
) -> None:
    link = new_link(default_mosquitto.url)
    recorder = Recorder()
    link.add_connect_listener(recorder.on_connect)
    async with client(default_mosquitto.url) as (other, _), running(link):
        await wait_until(lambda: len(recorder.connects) == 1, what="the first connect's listener")
        assert recorder.connects == [Connected(session_present=False, first=True)]

        the_connection(link).abort("the test drops the connection")  # the broker keeps the session
        await wait_until(lambda: len(recorder.connects) == 2, timeout=15, what="the listener after a drop")
        assert recorder.connects[1] == Connected(session_present=True, first=False)

        await publish_acked(other, f"floorgate/{link.site}/ptl/m1/cmd", b"lit", retain=True)
        default_mosquitto.restart()  # without persistence: no session, no retained message survives
        await wait_until(lambda: len(recorder.connects) == 3, timeout=15, what="the listener after a restart")
        assert recorder.connects[2] == Connected(session_present=False, first=False)
        assert await link.scan_retained(f"floorgate/{link.site}/ptl/+/cmd") == {}


async def test_a_broker_restarted_with_its_persistence_still_has_the_session(
    fresh_mosquitto: Mosquitto,
) -> None:
    link = new_link(fresh_mosquitto.url)
    recorder = Recorder()
    link.add_connect_listener(recorder.on_connect)
    async with running(link):
        await wait_until(lambda: len(recorder.connects) == 1, what="the first connect's listener")
        fresh_mosquitto.restart()
        await wait_until(lambda: len(recorder.connects) == 2, timeout=15, what="the listener after a restart")
        assert recorder.connects == [
            Connected(session_present=False, first=True),
            Connected(session_present=True, first=False),
        ]


# -- retained scan ---------------------------------------------------------------------------------------


async def test_a_scan_returns_what_is_retained_under_the_filter_not_live_messages_and_then_unsubscribes(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LINK_LOGGER)
    link = new_link(mosquitto.url)
    base = f"floorgate/{link.site}/ptl"
    recorder = Recorder()
    link.route(f"{base}/+/event", recorder.on_message)
    async with client(mosquitto.url) as (other, _), running(link):
        await publish_acked(other, f"{base}/m1/cmd", b"one", retain=True)
        await publish_acked(other, f"{base}/m2/cmd", b"two", retain=True)
        await publish_acked(other, f"{base}/m3/cmd", b"not retained")
        await publish_acked(other, f"{base}/m4/event", b"retained, other filter", retain=True)
        await wait_until(lambda: recorder.routed_on(f"{base}/m4/event"), what="the route's retained event")

        # Between the scan's SUBACK and its marker, live messages reach the edge: one under the filter
        # (not retained now, so not the scan's) and one for a route (which must still get it).
        connection = the_connection(link)
        subscribe = connection.subscribe

        async def subscribe_then_publish_live(
            filters: list[tuple[str, int]], within: float = 10.0
        ) -> list[int]:
            granted = await subscribe(filters, within)
            if (f"{base}/+/cmd", 0) in filters:
                connection.publish(f"{base}/m5/cmd", b"live")
                connection.publish(f"{base}/m5/event", b"live event")
            return granted

        connection.subscribe = subscribe_then_publish_live  # type: ignore[method-assign]
        found = await within(link.scan_retained(f"{base}/+/cmd", within=5), 10, "the scan")
        connection.subscribe = subscribe  # type: ignore[method-assign]

        assert found == {f"{base}/m1/cmd": b"one", f"{base}/m2/cmd": b"two"}
        await wait_until(lambda: recorder.routed_on(f"{base}/m5/event"), what="the live event at its route")
        assert not any(topic.endswith(("/m1/cmd", "/m2/cmd")) for topic in no_route_topics(caplog))

        # Unsubscribed: a later command is not delivered. One client's messages arrive in order, so once
        # the event published after it is routed, the command would have been read already.
        await publish_acked(other, f"{base}/m6/cmd", b"after the scan")
        await publish_acked(other, f"{base}/m6/event", b"marker")
        await wait_until(lambda: recorder.routed_on(f"{base}/m6/event"), what="the marker event")
        assert f"{base}/m6/cmd" not in no_route_topics(caplog)
        assert [m.topic for m in recorder.routed if m.topic.endswith("/cmd")] == []
        assert link.connected


async def test_a_scan_gets_more_retained_messages_than_the_broker_queues_per_client(
    default_mosquitto: Mosquitto,
) -> None:
    # mosquitto holds at most 20 + 1000 QoS 1 messages for a client and drops the rest: a scan that
    # subscribed at QoS 1 would see 1,020 of a big floor's retained commands.
    link = new_link(default_mosquitto.url)
    base = f"floorgate/{link.site}/ptl"
    async with client(default_mosquitto.url) as (other, _):
        for index in range(1500):
            waiter = other.publish(f"{base}/m{index}/cmd", b"lit", qos=1, retain=True, want_ack=True)
        assert waiter is not None
        await within(waiter, 10, "the last retained command's PUBACK")
    async with running(link):
        found = await within(link.scan_retained(f"{base}/+/cmd", within=20), 30, "the scan")
    assert len(found) == 1500
    assert found[f"{base}/m1499/cmd"] == b"lit"


async def test_an_empty_retained_publish_through_the_link_deletes_the_retained_message(
    mosquitto: Mosquitto,
) -> None:
    link = new_link(mosquitto.url)
    base = f"floorgate/{link.site}/ptl"
    async with running(link):
        await link.publish(f"{base}/m1/cmd", b"lit", retain=True)
        await link.publish(f"{base}/m2/cmd", b"lit too", retain=True)
        assert await link.scan_retained(f"{base}/+/cmd") == {
            f"{base}/m1/cmd": b"lit",
            f"{base}/m2/cmd": b"lit too",
        }

        await link.publish(f"{base}/m1/cmd", b"", retain=True)
        assert await link.scan_retained(f"{base}/+/cmd") == {f"{base}/m2/cmd": b"lit too"}
        assert await retained_payload(mosquitto.url, f"{base}/m1/cmd") is None


async def test_a_scan_whose_marker_does_not_come_back_in_time_raises_scan_timed_out(
    mosquitto: Mosquitto,
) -> None:
    link = new_link(mosquitto.url, publish_timeout=1.0)
    base = f"floorgate/{link.site}/ptl"
    async with running(link):
        await link.publish(f"{base}/m1/cmd", b"lit", retain=True)
        connection = the_connection(link)
        connection.pause_reading()  # nothing the broker sends is read: neither SUBACK nor the marker
        with pytest.raises(ScanTimedOut, match=rf"retained scan of '{base}/\+/cmd' .* within 0\.3 s"):
            await within(link.scan_retained(f"{base}/+/cmd", within=0.3), 10, "the scan's deadline")
        connection.resume_reading()
        assert link.connected
        assert await within(link.scan_retained(f"{base}/+/cmd"), 10, "a second scan") == {
            f"{base}/m1/cmd": b"lit"
        }


async def test_a_scan_raises_link_down_at_once_when_the_connection_drops(mosquitto: Mosquitto) -> None:
    link = new_link(mosquitto.url)
    async with running(link):
        connection = the_connection(link)
        connection.pause_reading()
        scan = asyncio.create_task(link.scan_retained(f"floorgate/{link.site}/ptl/+/cmd", within=60))
        await wait_until(lambda: link._session is not None and link._session.scan is not None, what="scan")
        connection.abort("the test pulls the plug")
        with pytest.raises(LinkDown, match="the test pulls the plug"):
            await within(scan, 5, "the scan to fail")
    with pytest.raises(LinkDown, match="not connected"):
        await link.scan_retained(f"floorgate/{link.site}/ptl/+/cmd")


async def test_a_refused_scan_subscription_raises_scan_refused_naming_the_filter() -> None:
    async with ScriptedBroker() as broker:
        link = new_link(broker.url)
        async with running(link):
            with pytest.raises(ScanRefused, match=r"refused the subscription to 'floorgate/x/denied/\+'"):
                await within(link.scan_retained("floorgate/x/denied/+", within=5), 10, "the refusal")
            assert link.connected
            assert broker.unsubscribed == [["floorgate/x/denied/+", link.sync_topic]]


async def test_a_scan_left_subscribed_says_so_and_the_next_connect_unsubscribes_it() -> None:
    async with ScriptedBroker(answer_unsubscribe=False) as broker:
        link = new_link(broker.url, publish_timeout=0.3)
        async with running(link):
            with pytest.raises(
                LinkDown, match=r"could not unsubscribe 'floorgate/x/\+/cmd' after a retained scan"
            ):
                await within(link.scan_retained("floorgate/x/+/cmd", within=5), 10, "the scan")
            broker.answer_unsubscribe, broker.session_present = True, True
            the_connection(link).abort("the test drops the connection")
            await wait_until(lambda: broker.connects == 2 and link.connected, what="the link back")
            scan_filters = ["floorgate/x/+/cmd", link.sync_topic]
            assert broker.unsubscribed == [scan_filters, sorted(scan_filters)]
            assert await within(link.scan_retained("floorgate/x/+/cmd"), 10, "a scan") == {}


# -- the edge's own status -------------------------------------------------------------------------------


async def test_an_offline_status_from_another_client_is_replaced_by_online(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LINK_LOGGER)
    link = new_link(mosquitto.url)
    # A route watching every edge's status overlaps the link's own status subscription.
    recorder = Recorder()
    link.route(f"floorgate/{link.site}/edge/+/status", recorder.on_message)
    async with client(mosquitto.url) as (other, _), running(link):
        await wait_until(lambda: retained_payload(mosquitto.url, link.status_topic), what="online retained")
        await publish_acked(other, link.status_topic, b"offline", retain=True)
        await wait_until(
            lambda: _is(retained_payload(mosquitto.url, link.status_topic), b"online"),
            timeout=10,
            what="the edge's status retained as online again",
        )
        # Routes see the status messages too, after the link judged them: offline, then ours again.
        await wait_until(
            lambda: recorder.routed_on(link.status_topic)[-2:] == [b"offline", b"online"], what="the echo"
        )
        contradicted = [r for r in caplog.records if r.getMessage().startswith("edge status contradicted")]
        assert len(contradicted) == 1
        assert link.connected


async def test_a_clean_stop_leaves_offline_and_the_next_start_takes_it_for_no_contradiction(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LINK_LOGGER)
    site = f"t{uuid.uuid4().hex[:10]}"
    link = new_link(mosquitto.url, site=site)
    async with running(link):
        assert await retained_payload(mosquitto.url, link.status_topic) == b"online"
    assert await retained_payload(mosquitto.url, link.status_topic) == b"offline"

    again = new_link(mosquitto.url, site=site)
    recorder = Recorder()
    again.add_connect_listener(recorder.on_connect)
    again.route(again.status_topic, recorder.on_message)
    async with running(again):
        await wait_until(lambda: recorder.connects, what="the restarted link's listener")
        assert recorder.connects == [Connected(session_present=True, first=True)]
        # Our "offline" from the stop (queued in the session, and retained) comes through the status
        # subscription before the echo of our "online"; the route sees them after the link judged each.
        await wait_until(lambda: recorder.routed_on(again.status_topic)[-1:] == [b"online"], what="echo")
        statuses = recorder.routed_on(again.status_topic)
        assert b"offline" in statuses
        assert set(statuses[:-1]) == {b"offline"}
        assert await retained_payload(mosquitto.url, again.status_topic) == b"online"
    assert not [r for r in caplog.records if r.getMessage().startswith("edge status contradicted")]


async def _is(payload: Awaitable[bytes | None], expected: bytes) -> bool:
    return await payload == expected


# -- an active/standby pair's link ---------------------------------------------------------------------


async def test_a_link_that_may_not_drive_publishes_nothing_and_does_not_connect(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    allowed = [True]
    link = new_link(mosquitto.url, client_id=f"fg-pair-{uuid.uuid4().hex[:8]}", may_drive=lambda: allowed[0])
    async with running(link) as task:
        await link.publish(f"floorgate/{link.site}/ptl/M1/cmd", b'{"seq": 1, "off": true}')
        allowed[0] = False  # the lease is lost: not one more message goes out
        with pytest.raises(LinkDown, match="not the active one of its pair"):
            await link.publish(f"floorgate/{link.site}/ptl/M1/cmd", b'{"seq": 2, "off": true}')
        with pytest.raises(LinkDown, match="not the active one of its pair"):
            link.publish_nowait(f"floorgate/{link.site}/ptl/M1/cmd", b'{"seq": 2, "off": true}')
        assert not task.done()

    caplog.set_level(logging.WARNING, logger=LINK_LOGGER)
    standby = new_link(mosquitto.url, client_id=f"fg-pair-{uuid.uuid4().hex[:8]}", may_drive=lambda: False)
    standby_task = asyncio.create_task(standby.run())
    try:
        await wait_until(
            lambda: any(
                "not the active edge of its pair" in str(r.__dict__.get("error")) for r in caplog.records
            ),
            timeout=10,
            what="the link refusing to connect",
        )
        assert not standby.connected
    finally:
        standby_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await standby_task


async def test_two_links_of_a_pair_share_one_client_id_and_its_queued_messages(mosquitto: Mosquitto) -> None:
    shared = f"fg-pair-{uuid.uuid4().hex[:8]}"
    first = new_link(mosquitto.url, client_id=shared)
    gone = Recorder()
    first.route(f"floorgate/{first.site}/ptl/+/event", gone.on_message)
    async with running(first):
        pass  # subscribed in the persistent session, then gone
    topic = f"floorgate/{first.site}/ptl/M1/event"
    async with client(mosquitto.url) as (bus, _):
        acked = bus.publish(topic, b'{"id": "p1", "button": "confirm"}', qos=1, want_ack=True)
        assert acked is not None
        await within(acked, 10, "the broker's PUBACK")  # queued in the pair's session from here on
    second = new_link(mosquitto.url, site=first.site, client_id=shared)
    taken = Recorder()
    second.route(f"floorgate/{first.site}/ptl/+/event", taken.on_message)
    async with running(second):
        await wait_until(
            lambda: taken.routed_on(topic),
            timeout=10,
            what="the press queued for one edge delivered to the other",
        )
    assert gone.routed == []
