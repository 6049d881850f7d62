"""A retained-message scan over one MQTT connection: every message the broker retains under a filter now.

The scan subscribes to the filter and to a sync topic of its own (in that order, one SUBSCRIBE),
publishes a fresh marker to the sync topic and keeps what arrives with the RETAIN flag before the marker
comes back. A new subscription's retained messages carry RETAIN=1 and live ones RETAIN=0 (MQTT 3.1.1
section 3.3.1.3), and a broker sends one client's messages in the order it handled them, so what the
SUBSCRIBE queued is read before the marker. Unsubscribing afterwards is the caller's: it knows whether the
filters are still wanted. `floorgate.devices.mqtt.link.MqttLink.scan_retained` is the way in.
"""

from __future__ import annotations

import asyncio
import uuid

from floorgate.devices.mqtt.connection import ConnectionLost, MqttConnection, MqttError
from floorgate.devices.mqtt.wire import SUBACK_FAILURE, Publish, filter_pattern


class ScanTimedOut(TimeoutError):
    """A retained-message scan did not see its own marker come back before its deadline."""


class ScanRefused(Exception):
    """The broker refused the subscription a retained-message scan needs (an ACL, most likely)."""


class RetainedScan:
    """One scan on one connection. While `run()` waits, the connection's reader offers it every message
    read (`take`); what it takes is the scan's alone."""

    __slots__ = ("_done", "_nonce", "_pattern", "filters", "found", "sync_topic", "topic_filter")

    def __init__(self, topic_filter: str, sync_topic: str) -> None:
        self.topic_filter = topic_filter
        self.sync_topic = sync_topic
        self.filters = [topic_filter, sync_topic]
        self.found: dict[str, bytes] = {}
        self._pattern = filter_pattern(topic_filter)
        self._nonce = uuid.uuid4().hex.encode()
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def take(self, message: Publish) -> bool:
        """Keep `message` if it is the scan's: True for a marker (any scan's) or a retained message under
        the filter read before this scan's marker."""
        if message.topic == self.sync_topic:
            if message.payload == self._nonce and not self._done.done():
                self._done.set_result(None)
            return True
        if message.retain and not self._done.done() and self._pattern.fullmatch(message.topic) is not None:
            self.found[message.topic] = message.payload
            return True
        return False

    async def run(self, connection: MqttConnection, *, within: float, broker: str) -> None:
        """Subscribe, send the marker and wait for it. Raises `ScanTimedOut` past `within`, `ScanRefused`,
        or `ConnectionLost` (at once) when the connection ends."""
        # QoS 0 both ways: nothing for the broker to resend into a later connection, and a broker caps the
        # QoS 1 messages it holds per client (mosquitto: max_inflight_messages + max_queued_messages) and
        # drops the rest, which a big floor's retained commands exceed in one go.
        try:
            async with asyncio.timeout(within):
                try:
                    granted = await connection.subscribe([(f, 0) for f in self.filters], within=within)
                except ConnectionLost:
                    raise
                except MqttError as err:  # no SUBACK in time
                    raise TimeoutError from err
                refused = [
                    f for f, code in zip(self.filters, granted, strict=False) if code == SUBACK_FAILURE
                ]
                if refused:
                    raise ScanRefused(
                        f"the MQTT broker at {broker} refused the subscription to {refused[0]!r}"
                    )
                connection.publish(self.sync_topic, self._nonce)
                # A connection that ends resolves `closed`, so a lost marker is no wait to the deadline.
                await asyncio.wait((self._done, connection.closed), return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError as err:
            raise ScanTimedOut(
                f"retained scan of {self.topic_filter!r} on {broker}: its marker did not come back "
                f"within {within:g} s"
            ) from err
        if not self._done.done():
            raise ConnectionLost(connection.close_reason or "connection closed")
