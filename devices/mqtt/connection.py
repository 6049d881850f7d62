"""One MQTT 3.1.1 client connection over asyncio: the edge's hot path to the broker.

Why not paho (through aiomqtt) here: at 2,000 button presses a second the edge moves about 10,000 MQTT
packets a second (event in, its PUBACK out, the light command out, its PUBACK in, the module's ack in),
and paho's per-packet work (a recv per header byte, a send per packet, a lock and a message-info object
per publish) took most of a core before any business rule ran (docs/benchmarks.md). This protocol reads
whatever the socket holds in one go, cuts it into packets with `floorgate.devices.mqtt.wire`, and writes
all the packets of one event-loop turn in one send.

It is a connection, not a client: no reconnect, no session replay. `floorgate.devices.mqtt.link.MqttLink`
owns those, as it did with aiomqtt; simulators and tests still use aiomqtt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from typing import cast

from floorgate.devices.mqtt import wire
from floorgate.devices.mqtt.endpoint import InvalidTlsFiles, MqttEndpoint
from floorgate.devices.mqtt.wire import MalformedPacket, PacketType, Publish, Will

logger = logging.getLogger(__name__)

MessageCallback = Callable[[Publish], None]


class MqttError(Exception):
    """The connection failed or is gone; the message says how."""


class MqttRefused(MqttError):
    """The broker answered CONNECT with a refusal (bad credentials, not authorised, ...)."""

    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(
            f"the broker refused the connection: {wire.CONNACK_REASONS.get(code, f'return code {code}')}"
        )


class ConnectionLost(MqttError):
    """The connection ended (broker gone, keepalive missed, protocol error, or we closed it)."""


class MqttConnection(asyncio.Protocol):
    """Open with `await MqttConnection.open(...)`; inbound PUBLISHes go to `on_message` as they are read.

    QoS 1 messages from the broker are not acknowledged until `ack(mid)` is called: whoever consumes a
    message decides when it is safe (the edge acks an event once it is committed).
    """

    def __init__(self, on_message: MessageCallback, keepalive: int) -> None:
        self._on_message = on_message
        self._keepalive = keepalive
        self._reader = wire.PacketReader()
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._next_mid = 0
        self._inflight: dict[int, asyncio.Future[None] | None] = {}
        self._subscribing: dict[int, asyncio.Future[list[int]]] = {}
        self._unsubscribing: dict[int, asyncio.Future[None]] = {}
        self._connack: asyncio.Future[tuple[bool, int]] | None = None
        self._last_sent = self._last_heard = time.monotonic()
        self._ping_sent_at: float | None = None
        self._pinger: asyncio.TimerHandle | None = None
        self._reading_paused = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.close_reason: str | None = None
        self.session_present = False

    # -- opening and closing ------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        endpoint: MqttEndpoint,
        *,
        client_id: str,
        on_message: MessageCallback,
        clean_session: bool = True,
        keepalive: int = 30,
        will: Will | None = None,
        connect_timeout: float = 10.0,
        sock: socket.socket | None = None,
    ) -> MqttConnection:
        """Connect and wait for the broker's CONNACK. Raises `MqttError` (with the reason) on failure.

        `sock`, if given, is a socket already connected to the broker (a caller that needs its own kind of
        socket, such as the load generator's, which notes when the kernel received each read).
        """
        loop = asyncio.get_running_loop()
        try:
            tls = endpoint.ssl_context()
        except InvalidTlsFiles as err:
            # Checked when the site file was read; a file removed or replaced since fails this attempt only.
            raise MqttError(f"cannot connect to the MQTT broker at {endpoint.url}: {err}") from err
        try:
            async with asyncio.timeout(connect_timeout):
                if sock is None:
                    _, connection = await loop.create_connection(
                        lambda: cls(on_message, keepalive), endpoint.host, endpoint.port, ssl=tls
                    )
                else:
                    _, connection = await loop.create_connection(
                        lambda: cls(on_message, keepalive),
                        sock=sock,
                        ssl=tls,
                        server_hostname=endpoint.host if tls else None,
                    )
        except (OSError, TimeoutError) as err:
            raise MqttError(f"cannot reach the MQTT broker at {endpoint.url}: {err or 'timed out'}") from err
        try:
            await connection._handshake(
                wire.encode_connect(
                    client_id,
                    clean_session=clean_session,
                    keepalive=keepalive,
                    username=endpoint.username,
                    password=endpoint.password,
                    will=will,
                ),
                connect_timeout,
                endpoint.url,
            )
        except BaseException:
            connection.abort("connect failed")
            raise
        return connection

    async def _handshake(self, connect: bytes, within: float, url: str) -> None:
        self._connack = asyncio.get_running_loop().create_future()
        self._write(connect)
        try:
            async with asyncio.timeout(within):
                done, _ = await asyncio.wait(
                    (self._connack, self.closed), return_when=asyncio.FIRST_COMPLETED
                )
        except TimeoutError as err:
            raise MqttError(f"no CONNACK from the MQTT broker at {url} within {within:g} s") from err
        # A connection that ends first also fails the CONNACK waiter (see `_closed`), so both are done.
        if self._connack not in done or self._connack.exception() is not None:
            raise ConnectionLost(
                f"the connection to the MQTT broker at {url} ended before CONNACK: "
                f"{self.close_reason or 'connection closed'}"
            )
        self.session_present, code = self._connack.result()
        if code:
            raise MqttRefused(code)
        self._schedule_ping()

    async def disconnect(self, within: float = 2.0) -> None:
        """Send DISCONNECT (the broker then drops our will) and close."""
        if self.close_reason is None:
            self.close_reason = "disconnected"
        if self.is_open and self._transport is not None:
            self._write(wire.DISCONNECT)
            self._flush()
            self._transport.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await asyncio.shield(self.closed)
        self.abort("disconnected")

    def abort(self, reason: str) -> None:
        """Drop the connection at once (no DISCONNECT: the broker publishes our will)."""
        if self.close_reason is None:
            self.close_reason = reason
        if self._transport is not None:
            self._transport.abort()
        self._closed()

    @property
    def is_open(self) -> bool:
        return not self.closed.done()

    # -- publishing, subscribing, acknowledging -----------------------------------------------------

    def publish(
        self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False, want_ack: bool = False
    ) -> asyncio.Future[None] | None:
        """Queue a PUBLISH for this loop turn's send. With `want_ack` (QoS 1), a future for the PUBACK."""
        if not self.is_open:
            raise ConnectionLost(f"cannot publish to {topic}: {self.close_reason or 'not connected'}")
        if qos == 0:
            self._write(wire.encode_publish(topic.encode(), payload, retain=retain))
            return None
        if qos != 1:
            raise ValueError(f"this connection publishes at QoS 0 or 1, not {qos}")
        mid = self._allocate_mid()
        waiter = asyncio.get_running_loop().create_future() if want_ack else None
        self._inflight[mid] = waiter
        self._write(wire.encode_publish(topic.encode(), payload, qos=1, retain=retain, mid=mid))
        return waiter

    async def subscribe(self, filters: list[tuple[str, int]], within: float = 10.0) -> list[int]:
        """Subscribe and return the broker's granted QoS per filter (0x80 = refused)."""
        if not self.is_open:
            raise ConnectionLost(f"cannot subscribe: {self.close_reason or 'not connected'}")
        mid = self._allocate_mid()
        # Encoded before the id is taken: a filter list refused here must not keep the id forever.
        packet = wire.encode_subscribe(mid, filters)
        waiter: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._subscribing[mid] = waiter
        self._write(packet)
        try:
            async with asyncio.timeout(within):
                return await waiter
        except TimeoutError as err:
            raise MqttError(f"no SUBACK within {within:g} s") from err
        finally:
            self._subscribing.pop(mid, None)

    async def unsubscribe(self, filters: list[str], within: float = 10.0) -> None:
        """Unsubscribe and wait for the broker's UNSUBACK.

        The broker answers a client's packets in order, so once this returns nothing published after the
        UNSUBACK reaches us through these filters (a message it had already sent may still be on its way).
        """
        if not self.is_open:
            raise ConnectionLost(f"cannot unsubscribe: {self.close_reason or 'not connected'}")
        mid = self._allocate_mid()
        # Encoded before the waiter is registered: a filter list refused here must not keep the id forever.
        packet = wire.encode_unsubscribe(mid, filters)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._unsubscribing[mid] = waiter
        self._write(packet)
        try:
            async with asyncio.timeout(within):
                await waiter
        except TimeoutError as err:
            raise MqttError(f"no UNSUBACK within {within:g} s") from err
        finally:
            self._unsubscribing.pop(mid, None)

    def ack(self, mid: int) -> None:
        """PUBACK an inbound QoS 1 message. A no-op once the connection is gone (the broker resends)."""
        if self.is_open:
            self._write(wire.encode_puback(mid))

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def _allocate_mid(self) -> int:
        for _ in range(0xFFFF):
            self._next_mid = self._next_mid % 0xFFFF + 1
            mid = self._next_mid
            if mid not in self._inflight and mid not in self._subscribing and mid not in self._unsubscribing:
                return mid
        raise MqttError("all 65,535 MQTT packet ids are waiting for the broker's answer")

    def pause_reading(self) -> None:
        """Stop reading the socket (TCP then holds the broker back) until `resume_reading`.

        PINGREQs still go out so the broker keeps the session, but unread PINGRESPs are not taken for a dead
        broker: the keepalive judges the broker's silence again from the resume on.
        """
        if self._transport is not None and self.is_open:
            self._transport.pause_reading()
            self._reading_paused = True

    def resume_reading(self) -> None:
        if self._transport is not None and self.is_open:
            self._transport.resume_reading()
            self._reading_paused = False
            # The silence while paused was ours: the broker's answers wait unread in the socket.
            self._last_heard = time.monotonic()
            self._ping_sent_at = None

    # -- asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, whichever loop made it (uvloop's is not a subclass of asyncio.Transport).
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Nagle plus the broker's delayed ACKs would add ~25 ms to every QoS 1 round trip.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._last_heard = time.monotonic()
        self._ping_sent_at = None
        try:
            packets = self._reader.feed(data)
            for first, body in packets:
                self._handle(first, body)
        except MalformedPacket as err:
            logger.error(  # noqa: TRY400 - the reason is the message; a traceback adds nothing
                "malformed packet from the MQTT broker; reconnecting", extra={"error": str(err)}
            )
            self.abort(f"malformed packet from the broker: {err}")

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_reason is None:
            self.close_reason = f"connection lost: {exc}" if exc else "the broker closed the connection"
        self._closed()

    def _handle(self, first: int, body: bytes) -> None:
        kind = first >> 4
        if kind == PacketType.PUBLISH:
            message = wire.decode_publish(first, body)
            if message.qos == 2:
                raise MalformedPacket("QoS 2 PUBLISH on a connection that only subscribes at QoS 0 and 1")
            self._on_message(message)
        elif kind == PacketType.PUBACK:
            waiter = self._inflight.pop(wire.decode_mid("PUBACK", body), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        elif kind == PacketType.SUBACK:
            mid, codes = wire.decode_suback(body)
            subscribing = self._subscribing.get(mid)
            if subscribing is not None and not subscribing.done():
                subscribing.set_result(codes)
        elif kind == PacketType.UNSUBACK:
            unsubscribing = self._unsubscribing.get(wire.decode_unsuback(body))
            if unsubscribing is not None and not unsubscribing.done():
                unsubscribing.set_result(None)
        elif kind == PacketType.CONNACK:
            if self._connack is None or self._connack.done():
                raise MalformedPacket("CONNACK after the connection was established")
            self._connack.set_result(wire.decode_connack(body))
        elif kind == PacketType.PINGRESP:
            pass  # any packet heard counts as alive (see data_received)
        else:
            raise MalformedPacket(f"unexpected packet type {kind} from the broker")

    # -- sending ------------------------------------------------------------------------------------

    def _write(self, packet: bytes) -> None:
        self._out.append(packet)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._out:
            return
        data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
        self._out.clear()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)
            self._last_sent = time.monotonic()

    # -- keepalive ----------------------------------------------------------------------------------

    def _schedule_ping(self) -> None:
        if self._keepalive > 0 and self.is_open:
            self._pinger = asyncio.get_running_loop().call_later(self._keepalive / 2, self._check_alive)

    def _check_alive(self) -> None:
        now = time.monotonic()
        if self._reading_paused:
            # Unread PINGRESPs are not a dead broker; still ping so the broker keeps our session alive.
            if now - self._last_sent >= self._keepalive / 2:
                self._write(wire.PINGREQ)
            self._schedule_ping()
            return
        if self._ping_sent_at is not None and now - self._ping_sent_at > self._keepalive:
            self.abort(f"no answer from the broker for {self._keepalive} s (keepalive)")
            return
        if now - self._last_sent >= self._keepalive / 2 or now - self._last_heard >= self._keepalive / 2:
            if self._ping_sent_at is None:
                self._ping_sent_at = now
            self._write(wire.PINGREQ)
        self._schedule_ping()

    def _closed(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            self._pinger = None
        if self.closed.done():
            return
        self.closed.set_result(None)
        lost = ConnectionLost(self.close_reason or "connection closed")
        waiters = [*self._inflight.values(), *self._subscribing.values(), *self._unsubscribing.values()]
        for waiter in [*waiters, self._connack]:
            if waiter is not None and not waiter.done():
                waiter.set_exception(lost)
                # Retrieved at once, so a waiter nobody awaits any more does not log "never retrieved".
                waiter.exception()
        self._inflight.clear()
        self._out.clear()
