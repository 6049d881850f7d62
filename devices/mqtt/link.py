"""The edge's one MQTT connection: reconnects with backoff, re-subscribes, routes messages to adapters.

Every MQTT adapter of an edge shares one `MqttLink`. The link owns the broker session (a persistent one,
so QoS 1 device events sent while the edge was away are delivered when it returns), the edge's
online/offline status with its will, and the reconnect loop. Each connection is a
`devices.mqtt_connection.MqttConnection` (the lean MQTT 3.1.1 protocol of the hot path).
Adapters register routes (topic filter → async handler) and connect listeners, and publish through
the link; while it is down `publish` raises `LinkDown` and adapters resend on the next connect.
A connect listener learns whether the broker still had the edge's session (`Connected`): one that lost
it (a restart without persistence) lost the retained messages too. `scan_retained` reads what is
retained under a filter right now, and the link keeps its own retained status "online" while it runs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from floorgate.devices.backoff import Backoff
from floorgate.devices.cancellation import raise_if_cancelling
from floorgate.devices.mqtt.connection import ConnectionLost, MqttConnection, MqttError
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.mqtt.scan import RetainedScan
from floorgate.devices.mqtt.wire import SUBACK_FAILURE, Publish, Will, filter_pattern

logger = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"
# Inbound messages read but not yet handled: past this the link stops reading the socket (TCP then holds
# the broker back) until its handlers catch up.
INBOX_HIGH_WATER = 5000
# Topics whose matching routes are remembered (one per module and kind on a big floor); past this the
# memory is cleared, so a flood of odd topics cannot grow it without bound.
ROUTE_CACHE_SIZE = 100_000


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


@dataclass(frozen=True, slots=True)
class Connected:
    """What a connect listener learns about the connect it is called for.

    `session_present`: the broker still had this edge's session (CONNACK, section 3.2.2.2). When it is
    false the broker kept nothing of ours, retained messages included if it lost its state (a restart
    without persistence), so whatever the edge wants retained must be published again.
    `first`: the first connect of this link, i.e. of this edge process.
    """

    session_present: bool
    first: bool


MessageHandler = Callable[[InboundMessage], Awaitable[None]]
ConnectListener = Callable[[Connected], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Route:
    topic_filter: str
    pattern: re.Pattern[str]
    handler: MessageHandler


@dataclass(slots=True)
class _Session:
    """One broker connection and the messages read from it that are not handled yet."""

    connection: MqttConnection
    started: float
    inbox: deque[Publish] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    scan: RetainedScan | None = None
    # Set once our own "online" came back through the status subscription: status messages read before
    # it are old news (the retained will of our last crash, our own "offline" queued in the session).
    status_confirmed: bool = False


class MqttLink:
    """The edge's MQTT connection. Build it, register routes and listeners, then run `run()` as a task.

    Cancelling `run()` is the clean shutdown: it publishes the retained "offline" status and disconnects.
    While it runs, an "offline" on its status topic from anyone else is answered with "online" again.
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
        client_id: str | None = None,
        may_drive: Callable[[], bool] | None = None,
    ) -> None:
        self._endpoint = endpoint
        self.site = site
        self.edge_id = edge_id
        self.client_id = client_id or f"floorgate-{site}-{edge_id}"
        self._may_drive = may_drive  # false: a pair's standby, which neither connects nor publishes
        self.status_topic = f"floorgate/{site}/edge/{edge_id}/status"
        # Private to this edge: a retained-message scan's marker comes back on it.
        self.sync_topic = f"floorgate/{site}/edge/{edge_id}/sync"
        self._keepalive = keepalive
        self._publish_timeout = publish_timeout
        self._shutdown_timeout = shutdown_timeout
        self._backoff = Backoff(backoff_min, backoff_max)
        # A connection that drops again at once (e.g. another process took over our client id) must not
        # reset the backoff, or two edges would kick each other off every 0.2 s forever.
        self._stable_after = backoff_max
        self._routes: list[_Route] = []
        self._routes_by_topic: dict[str, tuple[_Route, ...]] = {}
        self._listeners: list[ConnectListener] = []
        self._session: _Session | None = None
        self._connected = asyncio.Event()
        self._running = False
        self._down_since: float | None = None
        self._ever_connected = False
        self._stopping = False
        self._scan_lock = asyncio.Lock()
        # Scan filters whose UNSUBSCRIBE did not get through: the persistent session keeps them, so the
        # next connect drops them.
        self._stale_scan_filters: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()

    # -- registration -------------------------------------------------------------------------------

    def route(self, topic_filter: str, handler: MessageHandler) -> None:
        """Send messages matching `topic_filter` to `handler`; subscribed at QoS 1 on every connect."""
        route = _Route(topic_filter, filter_pattern(topic_filter), handler)
        self._routes.append(route)
        self._routes_by_topic.clear()
        session = self._session
        if session is not None:
            # Registered while connected: subscribe now; the next connect subscribes it again anyway.
            self._spawn(self._subscribe_late(session, topic_filter), name=f"mqtt-subscribe {topic_filter}")

    def add_connect_listener(self, callback: ConnectListener) -> None:
        """Call `callback(Connected(...))` after every (re)connect, once the routes are subscribed and
        "online" is out."""
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
        """Publish and, for QoS 1, wait for the broker's PUBACK. Raises `LinkDown` when not connected.

        A zero-length payload with `retain=True` deletes the topic's retained message (MQTT 3.1.1 section
        3.3.1.3); the broker still forwards it to current subscribers as an empty message.
        """
        session = self._live_session()
        await self._publish_on(session.connection, topic, payload, qos=qos, retain=retain)

    def _live_session(self) -> _Session:
        session = self._session
        if session is None:
            raise LinkDown(f"not connected to {self._endpoint.url}")
        if self._may_drive is not None and not self._may_drive():
            raise LinkDown("this edge is not the active one of its pair: it publishes nothing")
        return session

    async def _publish_on(
        self, connection: MqttConnection, topic: str, payload: bytes, *, qos: int, retain: bool
    ) -> None:
        try:
            waiter = connection.publish(topic, payload, qos=qos, retain=retain, want_ack=qos > 0)
            if waiter is None:
                return
            # A connection that ends fails its waiting publishes at once (ConnectionLost), so a PUBACK
            # lost with the old connection becomes LinkDown now instead of a timeout much later.
            async with asyncio.timeout(self._publish_timeout):
                await waiter
        except MqttError as err:
            raise LinkDown(f"publish to {topic} failed: {err}") from err
        except TimeoutError as err:
            raise LinkDown(f"no PUBACK for {topic} within {self._publish_timeout:g} s") from err

    def publish_nowait(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Hand a message to the connection without waiting for the broker's PUBACK.

        For senders that learn of delivery some other way (a PTL module acks the command it shows, and
        is sent it again otherwise): awaiting every PUBACK cost the event loop more than the publish.
        Raises `LinkDown` when not connected or when the client cannot queue the message. As with
        `publish`, an empty retained payload deletes the retained message.
        """
        session = self._live_session()
        try:
            session.connection.publish(topic, payload, qos=qos, retain=retain)
        except MqttError as err:
            raise LinkDown(f"publish to {topic} failed: {err}") from err

    # -- reading what is retained -------------------------------------------------------------------

    async def scan_retained(self, topic_filter: str, *, within: float = 10.0) -> dict[str, bytes]:
        """Topic → payload of every message retained under `topic_filter` right now.

        Subscribes to the filter and to this edge's sync topic, reads until its marker comes back there
        (`floorgate.devices.mqtt.scan`), then unsubscribes both. The scan's messages never reach the
        routes; the routes' messages flow meanwhile.

        The filter must not be one the link subscribes for itself (a route's, the status or sync topic):
        the UNSUBSCRIBE would end that subscription too. Ideally it overlaps no route at all, since a broker
        may send a live message once per matching subscription while the scan is subscribed.
        Raises `LinkDown` when not connected or when the connection drops; `ScanTimedOut` past `within`
        and `ScanRefused` when the broker refuses the subscription (both from the scan module). Scans run
        one at a time.
        """
        filter_pattern(topic_filter)  # a malformed filter is the caller's ValueError, before any wait
        if topic_filter in (self.status_topic, self.sync_topic) or any(
            route.topic_filter == topic_filter for route in self._routes
        ):
            raise ValueError(
                f"topic filter {topic_filter!r} is one the link subscribes for itself; a scan would end that "
                "subscription"
            )
        async with self._scan_lock:
            session = self._session
            if session is None:
                raise LinkDown(f"not connected to {self._endpoint.url}")
            connection = session.connection
            scan = RetainedScan(topic_filter, self.sync_topic)
            session.scan = scan
            try:
                await scan.run(connection, within=within, broker=self._endpoint.url)
            except MqttError as err:
                raise LinkDown(f"retained scan of {topic_filter!r} failed: {err}") from err
            finally:
                if session.scan is scan:
                    session.scan = None
                unsubscribed = await self._drop_scan_filters(connection, scan.filters)
            if not unsubscribed:
                # The result is right, but the caller was promised the filter no longer delivers here.
                raise LinkDown(f"could not unsubscribe {topic_filter!r} after a retained scan")
            logger.debug(
                "retained scan done", extra={"topic_filter": topic_filter, "retained": len(scan.found)}
            )
            return dict(scan.found)

    async def _drop_scan_filters(self, connection: MqttConnection, filters: list[str]) -> bool:
        try:
            await connection.unsubscribe(filters, within=self._publish_timeout)
        except MqttError as err:
            # The persistent session keeps the subscription: the next connect drops it.
            self._stale_scan_filters.update(filters)
            logger.debug(
                "retained scan's subscription left for the next connect to drop",
                extra={"topic_filters": filters, "error": str(err)},
            )
            return False
        return True

    def _divert(self, session: _Session, message: Publish) -> bool:
        """Take `message` if it is a scan's (retained under its filter, or a marker); True if taken."""
        scan = session.scan
        # The sync topic is ours alone: a late marker of a scan that gave up is no route's business either.
        if not (scan is not None and scan.take(message)) and message.topic != self.sync_topic:
            return False
        if message.qos:
            session.connection.ack(message.mid)
        return True

    # -- the reconnect loop -------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, serve, and reconnect with jittered exponential backoff until cancelled."""
        if self._running:
            raise RuntimeError("MqttLink.run() is already running")
        self._running = True
        self._stopping = False
        try:
            while True:
                try:
                    await self._connect_and_serve()
                except MqttError as err:
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
        inbox: deque[Publish] = deque()
        wake = asyncio.Event()
        session: _Session | None = None

        def on_message(message: Publish) -> None:
            # Scans are taken apart here, as they are read, so a busy handler cannot hold a scan up.
            if (
                session is not None
                and (session.scan is not None or message.topic == self.sync_topic)
                and self._divert(session, message)
            ):
                return
            inbox.append(message)
            wake.set()

        if self._may_drive is not None and not self._may_drive():
            raise ConnectionLost("not the active edge of its pair: the shared session is the other's")
        connection = await MqttConnection.open(
            self._endpoint,
            client_id=self.client_id,
            on_message=on_message,
            clean_session=False,
            keepalive=self._keepalive,
            will=Will(self.status_topic, OFFLINE, qos=1, retain=True),
            connect_timeout=self._publish_timeout,
        )
        connection.closed.add_done_callback(lambda _: wake.set())
        session = _Session(connection=connection, started=time.monotonic(), inbox=inbox, wake=wake)
        try:
            await self._subscribe_all(connection)
            await self._drop_stale_scan_filters(connection)
            await self._publish_on(connection, self.status_topic, ONLINE, qos=1, retain=True)
            self._session = session
            self._connected.set()
            connected = Connected(session_present=connection.session_present, first=not self._ever_connected)
            self._note_up(connected)
            for listener in self._listeners:
                self._spawn(self._notify(listener, connected), name=f"mqtt-connect-listener {listener!r}")
            await self._serve(session)
        except LinkDown as err:
            raise ConnectionLost(str(err)) from err
        except asyncio.CancelledError:
            # Our own "offline" comes back through the status subscription; it is no contradiction.
            self._stopping = True
            if self._session is session:
                await self._say_offline(connection)
            await connection.disconnect(self._shutdown_timeout)
            logger.info("MQTT link stopped", extra={"broker": self._endpoint.url})
            raise
        finally:
            if time.monotonic() - session.started >= self._stable_after:
                self._backoff.reset()
            self._end_session()
            connection.abort("the link is reconnecting")

    async def _serve(self, session: _Session) -> None:
        """Hand every message read to its routes, in order, until the connection ends."""
        connection, inbox, wake = session.connection, session.inbox, session.wake
        paused = False
        while True:
            if not inbox:
                if paused:
                    connection.resume_reading()
                    paused = False
                if not connection.is_open:
                    raise ConnectionLost(connection.close_reason or "connection closed")
                wake.clear()
                await wake.wait()
                continue
            if not paused and len(inbox) >= INBOX_HIGH_WATER:
                connection.pause_reading()
                paused = True
            await self._dispatch(inbox.popleft(), session)

    async def _subscribe_all(self, connection: MqttConnection) -> None:
        # Subscribe after every connect rather than trusting the broker's stored session: a broker that
        # lost its state (restart without persistence, failover) would otherwise leave us deaf.
        wanted = {route.topic_filter: 1 for route in self._routes}
        # The own status at QoS 1 too: a broker short of room drops QoS 0 messages first, and a lost echo
        # of our "online" would leave the link deaf to contradictions until the next connect. What the
        # session queued meanwhile comes before that echo and is taken for old news.
        wanted.setdefault(self.status_topic, 1)
        filters = list(wanted)
        granted = await connection.subscribe(list(wanted.items()))
        for topic_filter, code in zip(filters, granted, strict=False):
            if code == SUBACK_FAILURE:
                logger.error(
                    "MQTT broker refused a subscription",
                    extra={"broker": self._endpoint.url, "topic_filter": topic_filter},
                )

    async def _drop_stale_scan_filters(self, connection: MqttConnection) -> None:
        stale = (
            self._stale_scan_filters - {route.topic_filter for route in self._routes} - {self.status_topic}
        )
        self._stale_scan_filters.clear()
        if not stale or not connection.session_present:
            return  # without a session the broker kept no subscription of ours
        try:
            await connection.unsubscribe(sorted(stale), within=self._publish_timeout)
        except MqttError:
            self._stale_scan_filters.update(stale)
            raise

    async def _subscribe_late(self, session: _Session, topic_filter: str) -> None:
        try:
            await session.connection.subscribe([(topic_filter, 1)])
        except MqttError as err:
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
            if self._session is session:
                session.connection.ack(mid)

        return ack

    async def _dispatch(self, message: Publish, session: _Session) -> None:
        topic = message.topic
        inbound = InboundMessage(
            topic=topic,
            payload=message.payload,
            qos=message.qos,
            retain=message.retain,
            delivery=Delivery(self._acker(session, message.mid, message.qos)),
        )
        if topic == self.status_topic:
            self._check_own_status(session, message)
        routes = self._routes_for(topic)
        for route in routes:
            try:
                await route.handler(inbound)
            except Exception:
                # The boundary between the transport and one adapter: a bug in a handler must cost that one
                # message, not every device's connection. Logged with the traceback, never swallowed.
                logger.exception(
                    "MQTT message handler failed",
                    extra={"topic": inbound.topic, "topic_filter": route.topic_filter},
                )
        if not routes and topic != self.status_topic:
            # Normal after a route was removed: the persistent session still delivers what it queued.
            logger.debug("MQTT message with no route", extra={"topic": inbound.topic})
        if not inbound.delivery.taken:
            inbound.delivery.settle()

    def _routes_for(self, topic: str) -> tuple[_Route, ...]:
        routes = self._routes_by_topic.get(topic)
        if routes is None:
            routes = tuple(route for route in self._routes if route.pattern.fullmatch(topic) is not None)
            if len(self._routes_by_topic) >= ROUTE_CACHE_SIZE:
                self._routes_by_topic.clear()
            self._routes_by_topic[topic] = routes
        return routes

    def _check_own_status(self, session: _Session, message: Publish) -> None:
        if message.payload == ONLINE:
            session.status_confirmed = True
            return
        if (
            message.payload != OFFLINE
            or not session.status_confirmed
            or self._stopping
            or self._session is not session
        ):
            return
        # Someone else said we are offline (a tool, another process, a will delivered late): say otherwise.
        logger.warning(
            "edge status contradicted; publishing online again",
            extra={"topic": self.status_topic, "retained": message.retain},
        )
        # Until our "online" comes back, another "offline" is this same one again (a broker may send one
        # copy per matching subscription) or one the broker handled before our answer, which replaces it.
        session.status_confirmed = False
        try:
            session.connection.publish(self.status_topic, ONLINE, qos=1, retain=True)
        except MqttError as err:
            # The connection is going; the next connect publishes "online" anyway.
            logger.debug("could not publish online again", extra={"error": str(err)})

    async def _notify(self, listener: ConnectListener, connected: Connected) -> None:
        try:
            await listener(connected)
        except LinkDown:
            # The connection dropped again; the listener runs once more after the next connect.
            logger.debug("MQTT connect listener interrupted by a disconnect")
        except Exception:
            # Same boundary as message handlers: one adapter's bug must not take the link down.
            logger.exception("MQTT connect listener failed", extra={"listener": repr(listener)})

    async def _say_offline(self, connection: MqttConnection) -> None:
        # A clean DISCONNECT suppresses the will, so the "offline" status has to be published by hand.
        try:
            async with asyncio.timeout(self._shutdown_timeout):
                await self._publish_on(connection, self.status_topic, OFFLINE, qos=1, retain=True)
        except (LinkDown, TimeoutError) as err:
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
        self._session = None
        self._connected.clear()

    def _note_up(self, connected: Connected) -> None:
        extra: dict[str, object] = {
            "broker": self._endpoint.url,
            "client_id": self.client_id,
            "session_present": connected.session_present,
        }
        if self._down_since is not None:
            extra["down_s"] = round(time.monotonic() - self._down_since, 3)
            extra["attempts"] = self._backoff.attempts
            message = "MQTT connection restored" if self._ever_connected else "MQTT connected"
        else:
            message = "MQTT connected"
        logger.info(message, extra=extra)
        self._down_since = None
        self._ever_connected = True

    def _note_down(self, err: MqttError) -> None:
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
