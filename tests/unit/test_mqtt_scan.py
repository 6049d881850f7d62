"""Which messages a retained scan keeps, without a broker: the RETAIN flag, the filter, and its marker."""

from __future__ import annotations

import pytest

from floorgate.devices.mqtt.scan import RetainedScan
from floorgate.devices.mqtt.wire import Publish

pytestmark = pytest.mark.unit

SYNC = "floorgate/dc1/edge/edge-1/sync"


def message(topic: str, payload: bytes, *, retain: bool) -> Publish:
    return Publish(topic, payload, 0, retain, False, 0)


async def test_a_scan_keeps_retained_messages_under_its_filter_until_its_own_marker() -> None:
    scan = RetainedScan("floorgate/dc1/ptl/+/cmd", SYNC)
    assert scan.filters == ["floorgate/dc1/ptl/+/cmd", SYNC]

    assert scan.take(message("floorgate/dc1/ptl/m1/cmd", b"one", retain=True))
    assert not scan.take(message("floorgate/dc1/ptl/m2/cmd", b"live", retain=False)), "live: a route's"
    assert not scan.take(message("floorgate/dc1/ptl/m1/event", b"x", retain=True)), "not under the filter"
    assert scan.take(message(SYNC, b"a marker of an earlier scan", retain=False)), "the sync topic is ours"
    assert scan.found == {"floorgate/dc1/ptl/m1/cmd": b"one"}

    assert scan.take(message(SYNC, scan._nonce, retain=False))
    # After the marker nothing the subscription queued can come; a retained copy is someone else's.
    assert not scan.take(message("floorgate/dc1/ptl/m3/cmd", b"late", retain=True))
    assert scan.found == {"floorgate/dc1/ptl/m1/cmd": b"one"}


async def test_each_scan_has_a_marker_of_its_own() -> None:
    first, second = RetainedScan("a/#", SYNC), RetainedScan("a/#", SYNC)
    assert first._nonce != second._nonce
    second.take(message(SYNC, first._nonce, retain=False))
    assert second.take(message("a/b", b"still collecting", retain=True))
    assert second.found == {"a/b": b"still collecting"}


async def test_a_malformed_filter_is_refused_naming_the_rule() -> None:
    with pytest.raises(ValueError, match="'\\+' must be a whole level"):
        RetainedScan("a/b+/c", SYNC)
