"""The lean MQTT 3.1.1 connection against a real mosquitto and against scripted fake brokers.

mosquitto proves the protocol is spoken right (handshake, QoS 1 both ways, persistent sessions, retained
messages, wills, subscriptions, authentication). A fake broker (an asyncio server in the test) plays
what a real broker will not do on demand: go silent, send garbage, never answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import struct
import termios
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from floorgate.devices.mqtt.connection import ConnectionLost, MqttConnection, MqttError, MqttRefused
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.mqtt.wire import (
    PINGRESP,
    SUBACK_FAILURE,
    PacketReader,
    PacketType,
    Publish,
    Will,
    decode_publish,
    encode_puback,
    encode_publish,
)
from tests.support.brokers import Mosquitto, free_port
from tests.support.fake_mqtt_broker import CONNACK_ACCEPTED, FakeBroker
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

USER, PASSWORD = "edge", "s3cret"


# -- helpers -------------------------------------------------------------------------------------------


@dataclass
class Inbox:
    """An `on_message` callback that keeps every PUBLISH the connection read, in order."""

    messages: list[Publish] = field(default_factory=list)

    def __call__(self, message: Publish) -> None:
        self.messages.append(message)

    def on(self, topic: str) -> list[Publish]:
        return [message for message in self.messages if message.topic == topic]

    def payloads(self, topic: str) -> list[bytes]:
        return [message.payload for message in self.on(topic)]


class ObservedConnection(MqttConnection):
    """The real connection, plus a record of every `transport.write` and a handle on its socket."""

    writes: list[bytes]
    socket: Any

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert isinstance(transport, asyncio.Transport)
        self.writes = []
        self.socket = transport.get_extra_info("socket")
        write = transport.write

        def recording_write(data: bytes | bytearray | memoryview) -> None:
            self.writes.append(bytes(data))
            write(data)

        transport.write = recording_write  # type: ignore[method-assign]

    def unread_bytes(self) -> int:
        """Bytes the kernel holds for this socket that the connection has not read."""
        answer = fcntl.ioctl(self.socket.fileno(), termios.FIONREAD, b"\0\0\0\0")
        count: int = struct.unpack("i", answer)[0]
        return count


class Connections:
    """Opens connections for a test and aborts whatever is still open when the test ends."""

    def __init__(self) -> None:
        self.opened: list[MqttConnection] = []

    async def open(
        self,
        url: str,
        inbox: Inbox | None = None,
        *,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        **options: Any,
    ) -> ObservedConnection:
        connection = await ObservedConnection.open(
            MqttEndpoint.from_url(url, username=username, password=password),
            client_id=client_id or f"fg-test-{uuid.uuid4().hex[:12]}",
            on_message=inbox if inbox is not None else Inbox(),
            **options,
        )
        assert isinstance(connection, ObservedConnection)
        self.opened.append(connection)
        return connection

    def abort_all(self) -> None:
        for connection in self.opened:
            connection.abort("the test is over")


@pytest.fixture
async def connections() -> AsyncIterator[Connections]:
    opened = Connections()
    yield opened
    opened.abort_all()


@pytest.fixture
def topic() -> str:
    """A topic prefix of the test's own on the shared broker."""
    return f"fg-test/{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def auth_mosquitto() -> Iterator[Mosquitto]:
    """A mosquitto that admits only USER with PASSWORD."""
    broker = Mosquitto(users={USER: PASSWORD}).start()
    yield broker
    broker.stop()


async def within(awaitable: Awaitable[Any], seconds: float, what: str) -> Any:
    """Await with a deadline; fail naming what did not happen."""
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {seconds} s") from None


async def published_with_puback(
    connection: MqttConnection, topic: str, payload: bytes, *, retain: bool = False, seconds: float = 5
) -> None:
    """Publish at QoS 1 and wait for the broker's PUBACK, failing after `seconds`."""
    waiter = connection.publish(topic, payload, qos=1, retain=retain, want_ack=True)
    assert waiter is not None, "a QoS 1 publish with want_ack must return a future"
    await within(waiter, seconds, f"the PUBACK of {payload!r} on {topic}")


@contextlib.contextmanager
def loop_errors() -> Iterator[list[dict[str, Any]]]:
    """Everything reported to the event loop's exception handler (an exception escaping a callback)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        yield seen
    finally:
        loop.set_exception_handler(previous)


def published(writes: list[bytes]) -> list[Publish]:
    reader = PacketReader()
    packets = [packet for data in writes for packet in reader.feed(data)]
    assert reader.buffered == 0, "a write ended inside a packet"
    return [decode_publish(first, body) for first, body in packets if first >> 4 == PacketType.PUBLISH]


# -- connecting ----------------------------------------------------------------------------------------


async def test_open_waits_for_connack_and_reports_whether_the_session_was_kept(
    mosquitto: Mosquitto, connections: Connections
) -> None:
    client_id = f"fg-test-{uuid.uuid4().hex[:12]}"
    first = await connections.open(mosquitto.url, client_id=client_id, clean_session=False)
    assert first.is_open
    assert first.session_present is False, "a client id the broker never saw has no session"
    await first.disconnect()
    assert first.close_reason == "disconnected"

    again = await connections.open(mosquitto.url, client_id=client_id, clean_session=False)
    assert again.session_present is True, "a persistent session must survive a clean disconnect"
    await again.disconnect()
    clean = await connections.open(mosquitto.url, client_id=client_id, clean_session=True)
    assert clean.session_present is False, "clean_session=True must start (and drop) the session"


async def test_bad_credentials_are_refused_naming_the_reason(
    auth_mosquitto: Mosquitto, connections: Connections
) -> None:
    for username, password in [(USER, "wrong"), (None, None)]:
        with pytest.raises(MqttRefused) as refused:
            await connections.open(auth_mosquitto.url, username=username, password=password)
        assert refused.value.code == 5
        assert str(refused.value) == "the broker refused the connection: not authorised"
        assert "wrong" not in str(refused.value)

    connection = await connections.open(auth_mosquitto.url, username=USER, password=PASSWORD)
    assert connection.is_open, "the right user name and password must be let in"


async def test_an_unreachable_broker_is_an_error_naming_the_url_without_credentials() -> None:
    port = free_port()  # nothing listens here
    endpoint = MqttEndpoint.from_url(f"mqtt://{USER}:{PASSWORD}@127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(MqttError) as failed:
        await MqttConnection.open(endpoint, client_id="fg-test", on_message=Inbox())
    assert f"cannot reach the MQTT broker at mqtt://127.0.0.1:{port}: " in str(failed.value)
    assert isinstance(failed.value.__cause__, ConnectionRefusedError), "the OS error is chained as the cause"
    assert PASSWORD not in str(failed.value)
    assert time.monotonic() - started < 2, "a refused TCP connection must fail at once, not time out"


async def test_a_broker_that_never_sends_connack_times_out_naming_the_url() -> None:
    async with FakeBroker(connack=None) as broker:
        with pytest.raises(
            MqttError, match=rf"^no CONNACK from the MQTT broker at {broker.url} within 0\.3 s$"
        ):
            await MqttConnection.open(
                MqttEndpoint.from_url(broker.url),
                client_id="fg-test",
                on_message=Inbox(),
                connect_timeout=0.3,
            )
        await within(broker.client_gone.wait(), 2, "the client hanging up after the CONNACK timeout")
        assert [first >> 4 for first, _ in broker.packets] == [PacketType.CONNECT]


async def test_a_broker_that_hangs_up_before_connack_is_connection_lost_naming_the_url() -> None:
    async with FakeBroker(close_at_connect=True) as broker:
        with pytest.raises(ConnectionLost) as lost:
            await within(
                MqttConnection.open(
                    MqttEndpoint.from_url(broker.url), client_id="fg-test", on_message=Inbox()
                ),
                5,
                "open() giving up on a closed connection",
            )
    assert f"the connection to the MQTT broker at {broker.url} ended before CONNACK" in str(lost.value)
    assert "the broker closed the connection" in str(lost.value)


# -- publishing and subscribing -------------------------------------------------------------------------


async def test_a_subscribe_refused_before_sending_keeps_no_packet_id() -> None:
    async with FakeBroker() as broker:
        connection = await MqttConnection.open(
            MqttEndpoint.from_url(broker.url), client_id="c", on_message=Inbox()
        )
        try:
            refused = 0
            for _ in range(0x10000):
                try:
                    await connection.subscribe([])
                except ValueError:
                    refused += 1
            assert refused == 0x10000
            # Had each refused SUBSCRIBE kept its packet id, all 65,535 would be taken by now.
            connection.publish("t", b"", qos=1)
            assert connection.in_flight == 1
        finally:
            connection.abort("the test is over")


async def test_subscribe_returns_the_granted_qos_per_filter(
    mosquitto: Mosquitto, connections: Connections, topic: str
) -> None:
    connection = await connections.open(mosquitto.url)
    granted = await within(
        connection.subscribe([(f"{topic}/zero", 0), (f"{topic}/one", 1), (f"{topic}/+/two", 2)]), 5, "SUBACK"
    )
    assert granted == [0, 1, 2]


async def test_a_refused_subscription_comes_back_as_0x80() -> None:
    # mosquitto's acl_file never refuses a subscription (it filters deliveries), so a fake broker refuses.
    async with FakeBroker(grant=[1, SUBACK_FAILURE]) as broker:
        connection = await MqttConnection.open(
            MqttEndpoint.from_url(broker.url), client_id="c", on_message=Inbox()
        )
        try:
            granted = await within(connection.subscribe([("allowed/x", 1), ("denied/x", 1)]), 5, "SUBACK")
            assert granted == [1, SUBACK_FAILURE]
            assert connection.is_open
        finally:
            connection.abort("the test is over")


async def test_a_subscribe_without_suback_times_out_naming_it() -> None:
    async with FakeBroker() as broker:  # never answers SUBSCRIBE
        connection = await MqttConnection.open(
            MqttEndpoint.from_url(broker.url), client_id="c", on_message=Inbox()
        )
        try:
            with pytest.raises(MqttError, match=r"^no SUBACK within 0\.2 s$"):
                await connection.subscribe([("t", 1)], within=0.2)
            assert connection.is_open, "a late SUBACK is no reason to drop the connection"
            assert broker.of(PacketType.SUBSCRIBE) == [b"\x00\x01\x00\x01t\x01"]
        finally:
            connection.abort("the test is over")


async def test_after_unsubscribe_returns_nothing_more_arrives_through_that_filter(
    mosquitto: Mosquitto, connections: Connections, topic: str
) -> None:
    inbox = Inbox()
    subscriber = await connections.open(mosquitto.url, inbox)
    await within(subscriber.subscribe([(f"{topic}/gone/#", 1), (f"{topic}/kept", 1)]), 5, "SUBACK")
    publisher = await connections.open(mosquitto.url)
    await published_with_puback(publisher, f"{topic}/gone/a", b"before")
    await wait_until(lambda: inbox.payloads(f"{topic}/gone/a"), what="the message before the unsubscribe")

    await within(subscriber.unsubscribe([f"{topic}/gone/#"]), 5, "UNSUBACK")
    await published_with_puback(publisher, f"{topic}/gone/a", b"after")
    # The broker forwards one publisher's messages in order: once "marker" is here, "after" would be too.
    await published_with_puback(publisher, f"{topic}/kept", b"marker")
    await wait_until(lambda: inbox.payloads(f"{topic}/kept"), what="the marker on the kept subscription")
    assert inbox.payloads(f"{topic}/gone/a") == [b"before"]
    assert subscriber.is_open


async def test_an_unsubscribe_without_unsuback_times_out_naming_it() -> None:
    async with FakeBroker() as broker:  # never answers UNSUBSCRIBE
        connection = await MqttConnection.open(
            MqttEndpoint.from_url(broker.url), client_id="c", on_message=Inbox()
        )
        try:
            with pytest.raises(MqttError, match=r"^no UNSUBACK within 0\.2 s$"):
                await connection.unsubscribe(["a/b", "c/d"], within=0.2)
            assert connection.is_open, "a late UNSUBACK is no reason to drop the connection"
            assert broker.of(PacketType.UNSUBSCRIBE) == [b"\x00\x01\x00\x03a/b\x00\x03c/d"]
            with pytest.raises(ValueError, match="at least one topic filter"):
                await connection.unsubscribe([])
            # An UNSUBACK nobody waits for any more is ignored, not taken for a protocol error.
            broker.send(b"\xb0\x02\x00\x01")
            with pytest.raises(MqttError, match="no UNSUBACK"):
                await connection.unsubscribe(["e/f"], within=0.2)
            assert len(broker.of(PacketType.UNSUBSCRIBE)) == 2, "the empty list never went out"
            assert connection.is_open
        finally:
            connection.abort("the test is over")


async def test_an_unsubscribe_waiting_for_unsuback_fails_at_once_when_the_connection_ends() -> None:
    async with FakeBroker() as broker:
        connection = await MqttConnection.open(
            MqttEndpoint.from_url(broker.url), client_id="c", on_message=Inbox()
        )
        waiting = asyncio.create_task(connection.unsubscribe(["a/b"], within=30))
        await wait_until(lambda: broker.of(PacketType.UNSUBSCRIBE), what="the UNSUBSCRIBE at the broker")
        connection.abort("the test pulls the plug")
        with pytest.raises(ConnectionLost, match="the test pulls the plug"):
            await within(waiting, 5, "the waiting unsubscribe to fail")
        with pytest.raises(ConnectionLost, match="cannot unsubscribe: the test pulls the plug"):
            await connection.unsubscribe(["a/b"])


async def test_a_qos1_publish_resolves_its_future_on_puback_and_reaches_subscribers(
    mosquitto: Mosquitto, connections: Connections, topic: str
) -> None:
    inbox = Inbox()
    subscriber = await connections.open(mosquitto.url, inbox)
    await subscriber.subscribe([(f"{topic}/#", 1)])
    publisher = await connections.open(mosquitto.url)

    waiter = publisher.publish(f"{topic}/a", b"one", qos=1, want_ack=True)
    assert waiter is not None
    assert not waiter.done(), "nothing is acknowledged before the packet is even sent"
    assert publisher.in_flight == 1
    assert await within(waiter, 5, "the PUBACK of a QoS 1 publish") is None
    assert publisher.in_flight == 0

    # Without want_ack there is no future, but the packet id stays taken until the PUBACK comes.
    assert publisher.publish(f"{topic}/a", b"two", qos=1) is None
    assert publisher.in_flight == 1
    await wait_until(lambda: publisher.in_flight == 0, what="the PUBACK of a publish without a future")
    assert publisher.publish(f"{topic}/a", b"three") is None  # QoS 0: nothing in flight
    assert publisher.in_flight == 0

    await wait_until(lambda: len(inbox.messages) == 3, what="three messages at the subscriber")
    assert inbox.payloads(f"{topic}/a") == [b"one", b"two", b"three"]
    assert [m.qos for m in inbox.messages] == [1, 1, 0]
    assert [m.mid > 0 for m in inbox.messages] == [True, True, False], "only QoS 1 has a packet id"
    for message in inbox.messages[:2]:
        subscriber.ack(message.mid)


async def test_publish_refuses_qos_2(mosquitto: Mosquitto, connections: Connections, topic: str) -> None:
    connection = await connections.open(mosquitto.url)
    with pytest.raises(ValueError, match="QoS 0 or 1, not 2"):
        connection.publish(topic, b"x", qos=2)
    assert connection.in_flight == 0


async def test_unacked_inbound_qos1_is_redelivered_with_dup_after_reconnect_and_acked_is_not(
    mosquitto: Mosquitto, connections: Connections, topic: str
) -> None:
    client_id = f"fg-test-{uuid.uuid4().hex[:12]}"
    publisher = await connections.open(mosquitto.url)

    async def publish(payload: bytes) -> None:
        await published_with_puback(publisher, f"{topic}/e", payload)

    first = Inbox()
    connection = await connections.open(mosquitto.url, first, client_id=client_id, clean_session=False)
    assert await connection.subscribe([(f"{topic}/e", 1)]) == [1]
    await publish(b"acked")
    await publish(b"unacked")
    await wait_until(lambda: len(first.messages) == 2, what="both events at the subscriber")
    assert [(m.payload, m.qos, m.dup) for m in first.messages] == [
        (b"acked", 1, False),
        (b"unacked", 1, False),
    ]
    connection.ack(first.messages[0].mid)
    await connection.disconnect()  # flushes the PUBACK, then DISCONNECT: the session stays

    second = Inbox()
    connection = await connections.open(mosquitto.url, second, client_id=client_id, clean_session=False)
    assert connection.session_present
    await publish(b"marker-1")  # sent after the reconnect: a redelivery comes before it
    await wait_until(lambda: second.payloads(f"{topic}/e")[-1:] == [b"marker-1"], what="marker-1")
    assert [(m.payload, m.dup) for m in second.messages] == [(b"unacked", True), (b"marker-1", False)], (
        "only the unacknowledged event may come again, marked DUP"
    )
    for message in second.messages:
        connection.ack(message.mid)
    await connection.disconnect()

    third = Inbox()
    connection = await connections.open(mosquitto.url, third, client_id=client_id, clean_session=False)
    await publish(b"marker-2")
    await wait_until(lambda: third.payloads(f"{topic}/e")[-1:] == [b"marker-2"], what="marker-2")
    assert [m.payload for m in third.messages] == [b"marker-2"], "an acknowledged event came again"
    connection.ack(third.messages[0].mid)
    await connection.disconnect()
    # Leave no session behind on the shared broker.
    await (await connections.open(mosquitto.url, client_id=client_id, clean_session=True)).disconnect()


async def test_retained_messages_reach_later_subscribers_with_retain_set(
    mosquitto: Mosquitto, connections: Connections, topic: str
) -> None:
    live = Inbox()
    listener = await connections.open(mosquitto.url, live)
    await listener.subscribe([(f"{topic}/status", 1)])
    publisher = await connections.open(mosquitto.url)
    await published_with_puback(publisher, f"{topic}/status", b"online", retain=True)
    await wait_until(lambda: live.messages, what="the live copy")
    assert (live.messages[0].payload, live.messages[0].retain) == (b"online", False), (
        "a message forwarded to a subscriber already there is not marked retained"
    )

    late = Inbox()
    latecomer = await connections.open(mosquitto.url, late)
    await latecomer.subscribe([(f"{topic}/status", 0)])
    await wait_until(lambda: late.messages, what="the retained copy at a later subscriber")
    assert [(m.payload, m.retain, m.qos) for m in late.messages] == [(b"online", True, 0)]

    # An empty retained payload deletes it (3.3.1.3): a third subscriber gets nothing retained.
    await published_with_puback(publisher, f"{topic}/status", b"", retain=True)
    third = Inbox()
    checker = await connections.open(mosquitto.url, third)
    await checker.subscribe([(f"{topic}/status", 0), (f"{topic}/marker", 0)])
    checker.publish(f"{topic}/marker", b"m")
    await wait_until(lambda: third.on(f"{topic}/marker"), what="the marker")
    assert third.on(f"{topic}/status") == []


# -- wills ---------------------------------------------------------------------------------------------


async def test_the_will_is_published_when_the_connection_is_aborted(
    mosquitto: Mosquitto, connections: Connections, topic: str
) -> None:
    watched = Inbox()
    watcher = await connections.open(mosquitto.url, watched)
    await watcher.subscribe([(f"{topic}/will", 1)])
    subject = await connections.open(
        mosquitto.url, will=Will(f"{topic}/will", b"offline", qos=1, retain=True)
    )

    subject.abort("the edge died")
    assert not subject.is_open
    assert subject.close_reason == "the edge died"
    await wait_until(lambda: watched.messages, what="the will after abort()")
    assert [(m.payload, m.qos) for m in watched.messages] == [(b"offline", 1)]

    late = Inbox()
    latecomer = await connections.open(mosquitto.url, late)
    await latecomer.subscribe([(f"{topic}/will", 1)])
    await wait_until(lambda: late.messages, what="the retained will")
    assert (late.messages[0].payload, late.messages[0].retain) == (b"offline", True), "the will's retain flag"
    latecomer.ack(late.messages[0].mid)
    await published_with_puback(latecomer, f"{topic}/will", b"", retain=True)  # clear the retained will


async def test_the_will_is_not_published_after_a_clean_disconnect(
    mosquitto: Mosquitto, connections: Connections, topic: str
) -> None:
    watched = Inbox()
    watcher = await connections.open(mosquitto.url, watched)
    await watcher.subscribe([(f"{topic}/will", 1), (f"{topic}/marker", 1)])
    subject = await connections.open(
        mosquitto.url, will=Will(f"{topic}/will", b"offline", qos=1, retain=False)
    )

    await subject.disconnect()
    assert not subject.is_open
    # The DISCONNECT is already in the broker's socket; two round trips of another client through the
    # broker after it give a will (had there been one) every chance to arrive first.
    await published_with_puback(watcher, f"{topic}/marker", b"1")
    await wait_until(lambda: watched.payloads(f"{topic}/marker") == [b"1"], what="the first marker")
    await published_with_puback(watcher, f"{topic}/marker", b"2")
    await wait_until(lambda: watched.payloads(f"{topic}/marker") == [b"1", b"2"], what="the second marker")
    assert watched.on(f"{topic}/will") == [], "a clean DISCONNECT must discard the will"


async def test_disconnect_sends_disconnect_then_closes() -> None:
    async with FakeBroker() as broker:
        connection = await MqttConnection.open(
            MqttEndpoint.from_url(broker.url), client_id="c", on_message=Inbox()
        )
        connection.publish("t", b"last words")
        await within(connection.disconnect(), 3, "disconnect()")
        await within(broker.client_gone.wait(), 3, "the broker seeing the socket close")
    assert [first >> 4 for first, _ in broker.packets] == [
        PacketType.CONNECT,
        PacketType.PUBLISH,
        PacketType.DISCONNECT,
    ]
    assert connection.closed.done()
    assert connection.close_reason == "disconnected"


# -- losing the broker --------------------------------------------------------------------------------


async def test_a_broker_shutdown_resolves_closed_and_later_calls_fail_naming_why(
    fresh_mosquitto: Mosquitto, connections: Connections
) -> None:
    connection = await connections.open(fresh_mosquitto.url)
    fresh_mosquitto.stop()
    await within(asyncio.shield(connection.closed), 5, "`closed` resolving after the broker stopped")
    assert connection.close_reason == "the broker closed the connection"
    with pytest.raises(ConnectionLost, match=r"^cannot publish to t: the broker closed the connection$"):
        connection.publish("t", b"x", qos=1, want_ack=True)
    with pytest.raises(ConnectionLost, match=r"^cannot subscribe: the broker closed the connection$"):
        await connection.subscribe([("t", 1)])
    connection.ack(1)  # a no-op once gone: the broker resends on the next session


async def test_publishes_waiting_for_puback_fail_at_once_when_the_broker_dies(
    fresh_mosquitto: Mosquitto, connections: Connections
) -> None:
    connection = await connections.open(fresh_mosquitto.url)
    process = fresh_mosquitto.process
    assert process is not None
    process.send_signal(signal.SIGSTOP)  # the broker reads nothing and acknowledges nothing from here
    try:
        waiters = [connection.publish("t", str(n).encode(), qos=1, want_ack=True) for n in range(3)]
        await asyncio.sleep(0)  # one loop turn: the publishes are written to the socket
        assert connection.in_flight == 3
        process.kill()
        process.wait(timeout=5)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
    await within(asyncio.shield(connection.closed), 3, "`closed` resolving after the broker died")
    for waiter in waiters:
        assert waiter is not None
        assert waiter.done(), "a publish waiting for its PUBACK still waits"
        assert isinstance(waiter.exception(), ConnectionLost)
    assert connection.in_flight == 0


# -- keepalive -----------------------------------------------------------------------------------------


async def test_keepalive_pings_a_silent_broker_then_aborts_naming_keepalive() -> None:
    async with FakeBroker() as silent, FakeBroker(answer_pings=True) as answering:
        lively = await MqttConnection.open(
            MqttEndpoint.from_url(answering.url), client_id="a", on_message=Inbox(), keepalive=1
        )
        connection = await MqttConnection.open(
            MqttEndpoint.from_url(silent.url), client_id="s", on_message=Inbox(), keepalive=1
        )
        started = time.monotonic()
        await within(
            asyncio.shield(connection.closed), 4, "the abort of a connection whose broker went silent"
        )
        elapsed = time.monotonic() - started
        await within(silent.client_gone.wait(), 2, "the silent broker seeing the connection dropped")
        try:
            assert "keepalive" in (connection.close_reason or ""), connection.close_reason
            assert silent.of(PacketType.PINGREQ), "no PINGREQ was sent before giving up"
            assert elapsed >= 1, f"aborted after {elapsed:.2f} s: sooner than one keepalive period"
            # The same time passed for a connection whose broker answers: it pinged and is still open.
            await wait_until(
                lambda: len(answering.of(PacketType.PINGREQ)) >= 2, timeout=1, what="two PINGREQs"
            )
            assert lively.is_open, f"a connection whose pings are answered closed: {lively.close_reason}"
        finally:
            lively.abort("the test is over")


# -- malformed input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("garbage", "problem"),
    [
        (b"\x30\xff\xff\xff\xff\x01", "remaining length runs past 4 bytes"),
        (b"\x36\x05\x00\x01t\x00\x01", "PUBLISH with QoS 3"),
        (b"\x34\x05\x00\x01t\x00\x01", "QoS 2 PUBLISH"),
        (b"\x30\x03\x00\x09a", "run past its 3-byte body"),
        (b"\x30\x04\x00\x02\xff\xfe", "PUBLISH topic is not UTF-8"),
        (b"\x40\x03\x00\x01\x00", "PUBACK body is 2 bytes, not 3"),
        (b"\x90\x02\x00\x01", "SUBACK body of 2 bytes has no return code"),
        (CONNACK_ACCEPTED, "CONNACK after the connection was established"),
        (b"\x50\x02\x00\x01", "unexpected packet type 5"),
        (b"\x00\x00", "unexpected packet type 0"),
        (b"\xf0\x00", "unexpected packet type 15"),
    ],
    ids=[
        "five-length-bytes",
        "qos3",
        "qos2",
        "topic-past-body",
        "topic-not-utf8",
        "long-puback",
        "suback-without-codes",
        "second-connack",
        "pubrec",
        "type-0",
        "type-15",
    ],
)
async def test_garbage_after_connack_aborts_naming_the_problem_and_nothing_escapes(
    garbage: bytes, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = Inbox()
    with loop_errors() as errors, caplog.at_level(logging.ERROR, logger="floorgate.devices.mqtt.connection"):
        async with FakeBroker(after_connack=garbage) as broker:
            try:
                connection = await MqttConnection.open(
                    MqttEndpoint.from_url(broker.url), client_id="c", on_message=inbox
                )
            except ConnectionLost as lost:
                # The garbage came in the CONNACK's own read and the reader refused the whole read.
                reason = str(lost)
            else:
                await within(asyncio.shield(connection.closed), 3, "the abort on a malformed packet")
                assert connection.closed.exception() is None
                reason = connection.close_reason or ""
            await within(broker.client_gone.wait(), 3, "the fake broker seeing the connection dropped")
    assert "malformed packet from the broker: " in reason, reason
    assert problem in reason, reason
    assert errors == [], f"an exception escaped into the event loop: {errors}"
    assert inbox.messages == []
    logged = [record for record in caplog.records if "malformed packet" in record.getMessage()]
    assert logged, "the malformed packet was not logged"
    assert problem in logged[0].__dict__["error"]


# -- flow control and many packets ---------------------------------------------------------------------


async def test_pause_reading_holds_messages_in_the_socket_and_resume_delivers_them(
    mosquitto: Mosquitto, connections: Connections, topic: str
) -> None:
    inbox = Inbox()
    # keepalive=1: while paused the connection cannot hear its PINGRESPs; it must not take that silence
    # for a dead broker. Four PINGRESPs piling up unread take longer than a keepalive abort would.
    connection = await connections.open(mosquitto.url, inbox, keepalive=1)
    await connection.subscribe([(f"{topic}/m", 1)])
    publisher = await connections.open(mosquitto.url)
    connection.pause_reading()

    payloads = [f"message {n}".encode() for n in range(10)]
    for payload in payloads:
        await published_with_puback(publisher, f"{topic}/m", payload)
    expected = sum(len(encode_publish(f"{topic}/m".encode(), p, qos=1, mid=1)) for p in payloads)
    await wait_until(
        lambda: not connection.is_open or connection.unread_bytes() >= expected + 4 * len(PINGRESP),
        timeout=6,
        what=f"the {expected} bytes of 10 messages and 4 PINGRESPs waiting unread in the socket",
    )
    assert connection.is_open, f"the paused connection closed: {connection.close_reason}"
    assert inbox.messages == [], "messages were delivered while reading was paused"

    connection.resume_reading()
    await wait_until(lambda: len(inbox.messages) == 10, what="all 10 messages after resume_reading()")
    assert [m.payload for m in inbox.messages] == payloads
    for message in inbox.messages:
        connection.ack(message.mid)
    assert connection.is_open


async def test_many_qos1_publishes_in_one_loop_turn_go_in_one_write_and_all_get_pubacks(
    mosquitto: Mosquitto, connections: Connections, topic: str
) -> None:
    count = 5000
    inbox = Inbox()
    subscriber = await connections.open(mosquitto.url, inbox)
    await subscriber.subscribe([(f"{topic}/#", 0)])
    publisher = await connections.open(mosquitto.url)
    writes_before = len(publisher.writes)

    waiters = [publisher.publish(f"{topic}/n", b"%d" % n, qos=1, want_ack=True) for n in range(count)]
    assert publisher.in_flight == count, "two publishes in flight share a packet id"
    assert len(publisher.writes) == writes_before, "a publish was written before the loop turn ended"

    await within(asyncio.gather(*[w for w in waiters if w is not None]), 10, f"{count} PUBACKs")
    assert publisher.in_flight == 0
    sent = publisher.writes[writes_before:]
    assert len(sent) == 1, f"{count} publishes of one loop turn went out in {len(sent)} writes"
    mids = [message.mid for message in published(sent)]
    assert len(mids) == count
    assert len(set(mids)) == count, "packet ids collided"
    await wait_until(lambda: len(inbox.messages) == count, what=f"all {count} messages at the subscriber")
    assert sorted(m.payload for m in inbox.messages) == sorted(b"%d" % n for n in range(count))


async def test_packet_ids_are_reused_only_after_their_puback() -> None:
    async with FakeBroker() as broker:  # never acknowledges on its own
        connection = await ObservedConnection.open(
            MqttEndpoint.from_url(broker.url), client_id="c", on_message=Inbox()
        )
        assert isinstance(connection, ObservedConnection)
        try:
            for _ in range(0xFFFF):
                connection.publish("t", b"", qos=1)
            assert connection.in_flight == 0xFFFF
            with pytest.raises(MqttError, match="all 65,535 MQTT packet ids are waiting"):
                connection.publish("t", b"", qos=1)
            await wait_until(
                lambda: len(broker.of(PacketType.PUBLISH)) == 0xFFFF, what="65,535 publishes sent"
            )
            mids = [message.mid for message in published(connection.writes)]
            assert sorted(mids) == list(range(1, 0x10000)), "every packet id once, none 0"

            broker.send(encode_puback(7) + encode_puback(40_000))
            await wait_until(lambda: connection.in_flight == 0xFFFF - 2, what="two PUBACKs taken in")
            connection.publish("t", b"a", qos=1)
            connection.publish("t", b"b", qos=1)
            await wait_until(
                lambda: len(broker.of(PacketType.PUBLISH)) == 0xFFFF + 2, what="two more publishes"
            )
            assert [m.mid for m in published(connection.writes)[-2:]] == [7, 40_000]
        finally:
            connection.abort("the test is over")
