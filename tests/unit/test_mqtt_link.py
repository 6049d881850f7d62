"""The MQTT link without a broker: naming, backoff arithmetic, and refusing to publish while down."""

from __future__ import annotations

import random

import pytest

from floorgate.devices.backoff import Backoff
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.mqtt.link import Connected, InboundMessage, LinkDown, MqttLink, _Session
from floorgate.devices.mqtt.wire import Publish

pytestmark = pytest.mark.unit


def make_link() -> MqttLink:
    return MqttLink(MqttEndpoint.from_url("mqtt://user:secret@127.0.0.1:1"), "dc1", "edge-1")


def test_link_names_its_client_and_status_topic_after_site_and_edge() -> None:
    link = make_link()
    assert link.client_id == "floorgate-dc1-edge-1"
    assert link.status_topic == "floorgate/dc1/edge/edge-1/status"
    assert link.endpoint_url == "mqtt://127.0.0.1:1"
    assert not link.connected


async def test_publish_raises_link_down_while_not_connected() -> None:
    with pytest.raises(LinkDown, match=r"not connected to mqtt://127\.0\.0\.1:1$"):
        await make_link().publish("floorgate/dc1/x", b"x")


async def test_scan_retained_raises_link_down_while_not_connected() -> None:
    with pytest.raises(LinkDown, match=r"not connected to mqtt://127\.0\.0\.1:1$"):
        await make_link().scan_retained("floorgate/dc1/ptl/+/cmd")


async def test_a_scan_refuses_a_filter_the_link_subscribes_for_itself() -> None:
    # Its UNSUBSCRIBE would end the link's own subscription to that filter.
    link = make_link()

    async def handler(message: InboundMessage) -> None:
        del message

    link.route("floorgate/dc1/ptl/+/event", handler)
    assert link.sync_topic == "floorgate/dc1/edge/edge-1/sync"
    for topic_filter in ("floorgate/dc1/ptl/+/event", link.status_topic, link.sync_topic):
        with pytest.raises(ValueError, match="one the link subscribes for itself"):
            await link.scan_retained(topic_filter)
    with pytest.raises(ValueError, match="'#' must be a whole last level"):
        await link.scan_retained("floorgate/dc1/#/cmd")


def test_connected_is_a_frozen_value() -> None:
    connected = Connected(session_present=False, first=True)
    assert connected == Connected(session_present=False, first=True)
    with pytest.raises(AttributeError):
        connected.first = False  # type: ignore[misc]


class RecordingConnection:
    """Stands in for the connection: keeps what the link publishes on it."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, int, bool]] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> None:
        self.published.append((topic, payload, qos, retain))


def test_the_link_answers_each_offline_on_its_status_once_and_only_after_its_own_online_came_back() -> None:
    link = make_link()
    connection = RecordingConnection()
    session = _Session(connection=connection, started=0.0)  # type: ignore[arg-type]
    link._session = session

    def seen(payload: bytes) -> None:
        link._check_own_status(session, Publish(link.status_topic, payload, 0, False, False, 0))

    seen(b"offline")  # before our own "online" came back: old news (our will, our last stop)
    assert connection.published == []
    seen(b"online")
    seen(b"offline")
    seen(b"offline")  # the same contradiction again, before our answer came back
    assert connection.published == [(link.status_topic, b"online", 1, True)]
    seen(b"online")
    seen(b"offline")  # a new one
    assert len(connection.published) == 2
    link._stopping = True
    seen(b"online")
    seen(b"offline")  # our own, on a clean stop
    assert len(connection.published) == 2


def test_backoff_doubles_from_the_floor_up_to_the_cap_with_jitter() -> None:
    backoff = Backoff(0.2, 10.0, rng=random.Random(7))
    caps = [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0]
    for cap in caps:
        delay = backoff.next_delay()
        assert 0.2 <= delay <= cap
    assert backoff.attempts == len(caps)


def test_backoff_jitter_spreads_the_waits() -> None:
    delays = set()
    for seed in range(20):
        backoff = Backoff(0.2, 10.0, rng=random.Random(seed))
        for _ in range(6):
            delay = backoff.next_delay()
        delays.add(round(delay, 3))
    assert len(delays) > 10


def test_backoff_reset_starts_again_from_the_floor() -> None:
    backoff = Backoff(0.2, 10.0, rng=random.Random(1))
    for _ in range(50):  # far past the cap: the exponent must not overflow
        backoff.next_delay()
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.next_delay() == 0.2


@pytest.mark.parametrize(("minimum", "maximum"), [(0, 1), (-1, 1), (2, 1)])
def test_backoff_rejects_nonsense_bounds(minimum: float, maximum: float) -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(minimum, maximum)
