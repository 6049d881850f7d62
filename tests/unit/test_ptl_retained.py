"""What the PTL adapter does about each retained `cmd` it finds: decided without a broker."""

from __future__ import annotations

import pytest

from floorgate.core.instructions import Blink, ClearBin, LightBin
from floorgate.devices.ptl.codec import PtlTopic, encode_command, ptl_topic
from floorgate.devices.ptl.retained import FloorLights, plan_corrections

pytestmark = pytest.mark.unit

SITE = "dc1"


def cmd_topic(module: str) -> str:
    return ptl_topic(SITE, module, PtlTopic.CMD)


def light(module: str, seq: int, display: str = "3") -> LightBin:
    return LightBin(module=module, seq=seq, color="blue", blink=Blink.NONE, display=display)


LIGHTS = FloorLights(
    commands=[light("M-1", 5), ClearBin(module="M-2", seq=4)],
    modules=frozenset({"M-1", "M-2", "M-3"}),
)
PLANTED = b'{"seq":999,"color":"red","blink":"fast","display":"88"}'


def test_retained_commands_equal_to_the_floors_need_nothing() -> None:
    found = {
        cmd_topic("M-1"): encode_command(light("M-1", 5)),
        # The same command written another way is the same command.
        cmd_topic("M-2"): b'{ "off": true, "seq": 4 }',
    }
    assert not plan_corrections(SITE, found, LIGHTS)


def test_an_older_retained_command_is_replaced_by_the_floors() -> None:
    plan = plan_corrections(SITE, {cmd_topic("M-1"): encode_command(light("M-1", 4, "9"))}, LIGHTS)
    assert (plan.republish, plan.supersede, plan.clear) == ([light("M-1", 5)], {}, [])


@pytest.mark.parametrize("payload", [PLANTED, encode_command(light("M-2", 4))])
def test_a_retained_seq_at_or_above_the_floors_is_outranked_first(payload: bytes) -> None:
    plan = plan_corrections(SITE, {cmd_topic("M-2"): payload}, LIGHTS)
    seen = 999 if payload == PLANTED else 4
    assert (plan.republish, plan.supersede, plan.clear) == ([], {"M-2": seen}, [])


def test_a_module_of_a_location_never_lit_is_outranked_whatever_the_seq() -> None:
    plan = plan_corrections(SITE, {cmd_topic("M-3"): encode_command(light("M-3", 1))}, LIGHTS)
    assert plan.supersede == {"M-3": 1}


def test_a_malformed_retained_command_is_replaced() -> None:
    plan = plan_corrections(SITE, {cmd_topic("M-1"): b"garbage", cmd_topic("M-3"): b"{}"}, LIGHTS)
    assert (plan.republish, plan.supersede) == ([light("M-1", 5)], {"M-3": 0})


def test_a_module_no_location_has_is_cleared_unless_another_edge_may_own_it() -> None:
    found = {cmd_topic("GHOST"): PLANTED, cmd_topic("THEIRS"): PLANTED}
    plan = plan_corrections(SITE, found, LIGHTS, foreign=frozenset({"THEIRS"}))
    assert (plan.clear, plan.left) == ([cmd_topic("GHOST")], ["THEIRS"])

    shared = plan_corrections(SITE, found, LIGHTS, clear_unknown=False)
    assert (shared.clear, sorted(shared.left)) == ([], ["GHOST", "THEIRS"])
    assert not shared


def test_other_sites_topics_and_empty_payloads_are_not_looked_at() -> None:
    found = {ptl_topic("other", "M-1", PtlTopic.CMD): PLANTED, cmd_topic("GHOST"): b""}
    assert not plan_corrections(SITE, found, LIGHTS)
