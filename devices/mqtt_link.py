"""The edge's one MQTT connection: reconnects with backoff, re-subscribes, routes messages to adapters.

Every MQTT adapter of an edge shares one `MqttLink`. The link owns the broker session (a persistent one,
so QoS 1 device events sent while the edge was away are delivered when it returns), the edge's
online/offline status with its will, and the reconnect loop that aiomqtt leaves to its users.
Adapters register routes (topic filter → async handler) and connect listeners, and publish through
the link; while it is down `publish` raises `LinkDown` and adapters resend on the next connect.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import paho.mqtt.client as paho_mqtt
from paho.mqtt.reasoncodes import ReasonCode

from devices.mqtt_transport import MqttEndpoint, make_client, raise_if_cancelling

logger = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"
PENDING_PUBLISHES_WARNING = 1000


class LinkDown(Exception):
    """The link has no broker connection right now (or lost it mid-publish); the caller resends later."""


class Delivery:
    """The broker's acknowledgement of one inbound QoS 1 message, held back until it is safe to give.

    The link acknowledges a message when its handler returns, unless the handler took the ack with
    `take()`; then whoever it passed it to (the writer, after the commit) calls it. A message that was
    never acknowledged because the edge died is delivered again by the broker (persistent session),
    and its id makes the second delivery harmless.
    """

    __slots__ = ("_ack", "taken")

    def __init__(self, ack: Callable[[], None] | None = None) -> None:
        self._ack = ack
        self.taken = False

    def take(self) -> Callable[[], None]:
        self.taken = True
        return self.settle

    def settle(self) -> None:
        ack, self._ack = self._ack, None
        if ack is not None:
            ack()


@dataclass(frozen=True, kw_only=True, slots=True)
class InboundMessage:
    """An MQTT message as adapters see it: our own type, so no adapter depends on aiomqtt's."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    delivery: Delivery = field(default_factory=Delivery, compare=False, repr=False)


MessageHandler = Callable[[InboundMessage], Awaitable[None]]
ConnectListener = Callable[[], Awaitable[None]]


class Backoff:
    """Exponential backoff with full jitter above a floor.

    The n-th wait (from 0) is uniform in [minimum, min(maximum, minimum * 2**n)]: spread out so that
    many edges do not reconnect in lock-step after a broker restart, never below the floor.
    """

    def __init__(self, minimum: float, maximum: float, *, rng: random.Random | None = None) -> None:
        if minimum <= 0 or maximum < minimum:
            raise ValueError(f"backoff needs 0 < minimum <= maximum, got {minimum}, {maximum}")
        self.minimum = minimum
        self.maximum = maximum
        self.attempts = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        cap = min(self.maximum, self.minimum * 2 ** min(self.attempts, 30))
        self.attempts += 1
        return self._rng.uniform(self.minimum, cap)

    def reset(self) -> None:
        self.attempts = 0


@dataclass(frozen=True, slots=True)
class _Route:
    topic_filter: str
    wildcard: aiomqtt.Wildcard
    handler: MessageHandler


@dataclass(slots=True)
class _Session:
    """One broker connection. `lost` resolves when it ends, failing publishes still waiting for a PUBACK."""

    client: aiomqtt.Client
    started: float
    lost: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class MqttLink:
    """The edge's MQTT connection. Build it, register routes and listeners, then run `run()` as a task.

    Cancelling `run()` is the clean shutdown: it publishes the retained "offline" status and disconnects.
    """

    def __init__(
        self,
        endpoint: MqttEndpoint,
        site: str,
        edge_id: str,
        *,
        backoff_min: float = 0.2,
        backoff_max: float = 10.0,
        keepalive: int = 30,
        publish_timeout: float = 10.0,
        shutdown_timeout: float = 2.0,
    ) -> None:
        self._endpoint = endpoint
        self.site = site
        self.edge_id = edge_id
        self.client_id = f"floorgate-{site}-{edge_id}"
        self.status_topic = f"floorgate/{site}/edge/{edge_id}/status"
        self._keepalive = keepalive
        self._publish_timeout = publish_timeout
        self._shutdown_timeout = shutdown_timeout
        self._backoff = Backoff(backoff_min, backoff_max)
        # A connection that drops again at once (e.g. another process took over our client id) must not
        # reset the backoff, or two edges would kick each other off every 0.2 s forever.
        self._stable_after = backoff_max
        self._routes: list[_Route] = []
        self._listeners: list[ConnectListener] = []
        self._session: _Session | None = None
        self._connected = asyncio.Event()
        self._running = False
        self._down_since: float | None = None
        self._ever_connected = False
        self._background: set[asyncio.Task[None]] = set()

    # -- registration -------------------------------------------------------------------------------

    def route(self, topic_filter: str, handler: MessageHandler) -> None:
        """Send messages matching `topic_filter` to `handler`; subscribed at QoS 1 on every connect."""
        route = _Route(topic_filter, aiomqtt.Wildcard(topic_filter), handler)
        self._routes.append(route)
        session = self._session
        if session is not None:
            # Registered while connected: subscribe now; the next connect subscribes it again anyway.
            self._spawn(self._subscribe_late(session, topic_filter), name=f"mqtt-subscribe {topic_filter}")

    def add_connect_listener(self, callback: ConnectListener) -> None:
        """Call `callback` after every (re)connect, once the routes are subscribed and "online" is out."""
        self._listeners.append(callback)

    # -- state --------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    @property
    def endpoint_url(self) -> str:
        """The broker URL without credentials: safe to log and show."""
        return self._endpoint.url

    # -- publishing ---------------------------------------------------------------------------------

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish and, for QoS 1, wait for the broker's PUBACK. Raises `LinkDown` when not connected."""
        session = self._session
        if session is None:
            raise LinkDown(f"not connected to {self._endpoint.url}")
        sending = asyncio.ensure_future(
            session.client.publish(topic, payload, qos=qos, retain=retain, timeout=self._publish_timeout)
        )
        try:
            # Each connection gets a fresh client, so a PUBACK lost with the old connection never comes;
            # waiting on `lost` turns that into LinkDown now instead of a timeout much later.
            done, _ = await asyncio.wait((sending, session.lost), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not sending.done():
                sending.cancel()
        if sending not in done:
            raise LinkDown(f"connection to {self._endpoint.url} lost while publishing to {topic}")
        try:
            sending.result()
        except aiomqtt.MqttError as err:
            raise_if_cancelling()
            raise LinkDown(f"publish to {topic} failed: {err}") from err

    def publish_nowait(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Hand a message to the connection without waiting for the broker's PUBACK.

        For senders that learn of delivery some other way (a PTL module acks the command it shows, and
        is sent it again otherwise): awaiting every PUBACK cost the event loop more than the publish.
        Raises `LinkDown` when not connected or when the client cannot queue the message.
        """
        session = self._session
        if session is None or session.lost.done():
            raise LinkDown(f"not connected to {self._endpoint.url}")
        info = session.client._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != paho_mqtt.MQTT_ERR_SUCCESS:
            raise LinkDown(
                f"publish to {topic} refused by the MQTT client: {paho_mqtt.error_string(info.rc)}"
            )

    # -- the reconnect loop -------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, serve, and reconnect with jittered exponential backoff until cancelled."""
        if self._running:
            raise RuntimeError("MqttLink.run() is already running")
        self._running = True
        try:
            while True:
                try:
                    await self._connect_and_serve()
                except aiomqtt.MqttError as err:
                    raise_if_cancelling()
                    self._note_down(err)
                delay = self._backoff.next_delay()
                logger.debug(
                    "MQTT reconnect scheduled",
                    extra={"broker": self._endpoint.url, "retry_in_s": round(delay, 3)},
                )
                await asyncio.sleep(delay)
        finally:
            self._running = False
            self._end_session()
            for task in list(self._background):
                task.cancel()

    async def _connect_and_serve(self) -> None:
        client = make_client(
            self._endpoint,
            identifier=self.client_id,
            clean_session=False,
            will=aiomqtt.Will(self.status_topic, OFFLINE, qos=1, retain=True),
            keepalive=self._keepalive,
        )
        # aiomqtt warns on every call once more than 10 publishes await their PUBACK; adapters keep
        # dozens in flight on purpose (that is how they reach thousands per second), so only warn at a
        # backlog that means the broker is not keeping up.
        client.pending_calls_threshold = PENDING_PUBLISHES_WARNING
        # PUBACK only once the message is committed (see Delivery), not when paho reads it off the socket.
        client._client.manual_ack_set(True)
        # A fresh client per connection: aiomqtt 2.5 does not reset its "connected" future after an
        # unexpected disconnect, so re-entering the same client would not wait for the next CONNACK.
        async with client:
            session = _Session(client=client, started=time.monotonic())
            try:
                await self._subscribe_all(client)
                await client.publish(self.status_topic, ONLINE, qos=1, retain=True)
                self._session = session
                self._connected.set()
                self._note_up()
                for listener in self._listeners:
                    self._spawn(self._notify(listener), name=f"mqtt-connect-listener {listener!r}")
                async for message in client.messages:
                    await self._dispatch(message, session)
            except asyncio.CancelledError:
                if self._session is session:
                    await self._say_offline(client)
                logger.info("MQTT link stopped", extra={"broker": self._endpoint.url})
                raise
            finally:
                if time.monotonic() - session.started >= self._stable_after:
                    self._backoff.reset()
                self._end_session()

    async def _subscribe_all(self, client: aiomqtt.Client) -> None:
        # Subscribe after every connect rather than trusting the broker's stored session: a broker that
        # lost its state (restart without persistence, failover) would otherwise leave us deaf.
        filters = list(dict.fromkeys(route.topic_filter for route in self._routes))
        if not filters:
            return
        granted = await client.subscribe([(topic_filter, 1) for topic_filter in filters])
        for topic_filter, code in zip(filters, granted, strict=False):
            # MQTT 3.1.1 SUBACK code 0x80 is a refusal; paho hands it over as a ReasonCode or an int.
            refused = code.is_failure if isinstance(code, ReasonCode) else code == 0x80
            if refused:
                logger.error(
                    "MQTT broker refused a subscription",
                    extra={"broker": self._endpoint.url, "topic_filter": topic_filter},
                )

    async def _subscribe_late(self, session: _Session, topic_filter: str) -> None:
        try:
            await session.client.subscribe(topic_filter, qos=1)
        except aiomqtt.MqttError as err:
            raise_if_cancelling()
            # Not fatal: the next connect subscribes every route.
            logger.warning(
                "MQTT subscription failed; retried on the next connect",
                extra={"topic_filter": topic_filter, "error": str(err)},
            )

    def _acker(self, session: _Session, mid: int, qos: int) -> Callable[[], None] | None:
        if qos == 0:
            return None

        def ack() -> None:
            # A message id belongs to the connection it came on: after a reconnect the broker sends the
            # message again and that copy is the one to acknowledge.
            if self._session is session and not session.lost.done():
                session.client._client.ack(mid, qos)

        return ack

    async def _dispatch(self, message: aiomqtt.Message, session: _Session) -> None:
        payload = message.payload
        inbound = InboundMessage(
            topic=message.topic.value,
            payload=payload if isinstance(payload, bytes) else str(payload).encode(),
            qos=message.qos,
            retain=message.retain,
            delivery=Delivery(self._acker(session, message.mid, message.qos)),
        )
        handled = False
        for route in self._routes:
            if not message.topic.matches(route.wildcard):
                continue
            handled = True
            try:
                await route.handler(inbound)
            except Exception:
                # The boundary between the transport and one adapter: a bug in a handler must cost that one
                # message, not every device's connection. Logged with the traceback, never swallowed.
                logger.exception(
                    "MQTT message handler failed",
                    extra={"topic": inbound.topic, "topic_filter": route.topic_filter},
                )
        if not handled:
            # Normal after a route was removed: the persistent session still delivers what it queued.
            logger.debug("MQTT message with no route", extra={"topic": inbound.topic})
        if not inbound.delivery.taken:
            inbound.delivery.settle()

    async def _notify(self, listener: ConnectListener) -> None:
        try:
            await listener()
        except LinkDown:
            # The connection dropped again; the listener runs once more after the next connect.
            logger.debug("MQTT connect listener interrupted by a disconnect")
        except Exception:
            # Same boundary as message handlers: one adapter's bug must not take the link down.
            logger.exception("MQTT connect listener failed", extra={"listener": repr(listener)})

    async def _say_offline(self, client: aiomqtt.Client) -> None:
        # A clean DISCONNECT suppresses the will, so the "offline" status has to be published by hand.
        try:
            async with asyncio.timeout(self._shutdown_timeout):
                await client.publish(self.status_topic, OFFLINE, qos=1, retain=True)
        except (aiomqtt.MqttError, TimeoutError) as err:
            raise_if_cancelling()
            logger.warning(
                "could not publish the offline status on shutdown",
                extra={"broker": self._endpoint.url, "error": str(err)},
            )

    # -- bookkeeping --------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _end_session(self) -> None:
        session = self._session
        self._session = None
        self._connected.clear()
        if session is not None and not session.lost.done():
            session.lost.set_result(None)

    def _note_up(self) -> None:
        extra: dict[str, object] = {"broker": self._endpoint.url, "client_id": self.client_id}
        if self._down_since is not None:
            extra["down_s"] = round(time.monotonic() - self._down_since, 3)
            extra["attempts"] = self._backoff.attempts
            message = "MQTT connection restored" if self._ever_connected else "MQTT connected"
        else:
            message = "MQTT connected"
        logger.info(message, extra=extra)
        self._down_since = None
        self._ever_connected = True

    def _note_down(self, err: aiomqtt.MqttError) -> None:
        extra = {"broker": self._endpoint.url, "client_id": self.client_id, "error": str(err)}
        if self._down_since is not None:
            # Already reported: one line per outage, not one per retry.
            logger.debug("MQTT reconnect failed", extra=extra)
            return
        self._down_since = time.monotonic()
        if self._ever_connected:
            logger.warning("MQTT connection lost; reconnecting", extra=extra)
        else:
            logger.warning("MQTT broker unreachable; retrying", extra=extra)
