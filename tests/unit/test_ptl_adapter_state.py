"""The PTL adapter's bookkeeping of wanted commands, driven without a broker and with a fake clock."""

from __future__ import annotations

import pytest

from floorgate.core.commands import Command
from floorgate.core.instructions import Blink, ClearBin, LightBin
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.mqtt.link import MqttLink
from floorgate.devices.ptl.adapter import PendingAck, PtlAdapter, PtlStats
from tests.support.set_clock import SetClock

pytestmark = pytest.mark.unit


async def ignore(command: Command) -> None:
    raise AssertionError(f"nothing should be submitted here, got {command!r}")


def make_adapter(clock: SetClock) -> PtlAdapter:
    # A link that never runs: the adapter only registers its routes and listener on it here.
    link = MqttLink(MqttEndpoint.from_url("mqtt://127.0.0.1:1"), "dc1", "edge-1")
    return PtlAdapter(link, "dc1", ignore, clock=clock)


def light(module: str, seq: int) -> LightBin:
    return LightBin(module=module, seq=seq, color="blue", blink=Blink.NONE, display="1")


def test_a_sent_command_is_pending_with_its_seq_and_age() -> None:
    clock = SetClock(1000.0)
    adapter = make_adapter(clock)
    adapter.send(light("A-01", 4))
    clock.now += 2.5
    assert adapter.pending() == {"A-01": PendingAck(seq=4, attempts=0, age=2.5)}
    assert adapter.stats == PtlStats()


def test_a_newer_seq_replaces_the_pending_command_and_restarts_its_age() -> None:
    clock = SetClock(1000.0)
    adapter = make_adapter(clock)
    adapter.send(light("A-01", 4))
    clock.now += 3
    adapter.send(ClearBin(module="A-01", seq=5))
    clock.now += 1
    assert adapter.pending() == {"A-01": PendingAck(seq=5, attempts=0, age=1.0)}


@pytest.mark.parametrize("seq", [3, 4])
def test_an_older_or_repeated_seq_is_ignored(seq: int) -> None:
    clock = SetClock(1000.0)
    adapter = make_adapter(clock)
    adapter.send(light("A-01", 4))
    clock.now += 1
    adapter.send(light("A-01", seq))
    assert adapter.pending() == {"A-01": PendingAck(seq=4, attempts=0, age=1.0)}


def test_resend_all_takes_every_command_whatever_its_seq() -> None:
    clock = SetClock(1000.0)
    adapter = make_adapter(clock)
    adapter.send(light("A-01", 9))
    accepted = adapter.resend_all([light("A-01", 2), light("A-02", 3), ClearBin(module="A-03", seq=1)])
    assert accepted == 3
    assert {module: ack.seq for module, ack in adapter.pending().items()} == {"A-01": 2, "A-02": 3, "A-03": 1}


@pytest.mark.parametrize("module", ["", "A/01", "A+", "#"])
def test_a_module_id_that_is_not_a_topic_level_is_refused(module: str) -> None:
    adapter = make_adapter(SetClock(1000.0))
    adapter.send(light(module, 1))
    assert adapter.resend_all([light(module, 1)]) == 0
    assert adapter.pending() == {}


def test_stats_are_a_snapshot() -> None:
    adapter = make_adapter(SetClock(1000.0))
    snapshot = adapter.stats
    snapshot.malformed += 1
    assert adapter.stats.malformed == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ack_timeout": 0}, "ack_timeout must be positive"),
        ({"max_attempts": 0}, "max_attempts must be at least 1"),
    ],
)
def test_nonsense_tunables_are_refused(kwargs: dict[str, float], message: str) -> None:
    link = MqttLink(MqttEndpoint.from_url("mqtt://127.0.0.1:1"), "dc1", "edge-1")
    with pytest.raises(ValueError, match=message):
        PtlAdapter(link, "dc1", ignore, **kwargs)  # type: ignore[arg-type]


def test_a_command_for_another_edges_module_is_never_sent() -> None:
    # Every edge of a site hears every press, and answers one on a module it does not know; a module of
    # another edge's zone is that edge's to command.
    link = MqttLink(MqttEndpoint.from_url("mqtt://127.0.0.1:1"), "dc1", "edge-1")
    adapter = PtlAdapter(link, "dc1", ignore, clock=SetClock(0.0), foreign_modules=frozenset({"B-01"}))
    adapter.send(ClearBin(module="B-01", seq=1))
    adapter.send(light("A-01", 1))
    assert set(adapter.pending()) == {"A-01"}
