"""The PTL wire codec through byte tables: what each payload decodes to, or why it is malformed."""

from __future__ import annotations

import pytest

from floorgate.core.commands import Button
from floorgate.core.instructions import Blink, ClearBin, Instruction, LightBin
from floorgate.devices.ptl.codec import (
    MalformedPayload,
    ModuleCommand,
    ModuleEvent,
    PtlTopic,
    decode_ack,
    decode_command,
    decode_event,
    decode_status,
    encode_ack,
    encode_command,
    encode_event,
    parse_ptl_topic,
    ptl_filter,
    ptl_topic,
    topic_prefix,
)

pytestmark = pytest.mark.unit


# -- topics -----------------------------------------------------------------------------------------


def test_topics_are_built_under_the_site_prefix() -> None:
    assert topic_prefix("dc1") == "floorgate/dc1/"
    assert ptl_topic("dc1", "A-01-01", PtlTopic.CMD) == "floorgate/dc1/ptl/A-01-01/cmd"
    assert ptl_topic("dc1", "A-01-01", PtlTopic.EVENT) == "floorgate/dc1/ptl/A-01-01/event"
    assert ptl_filter("dc1", PtlTopic.ACK) == "floorgate/dc1/ptl/+/ack"
    assert ptl_filter("dc1", PtlTopic.STATUS) == "floorgate/dc1/ptl/+/status"


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("floorgate/dc1/ptl/A-01-01/cmd", ("A-01-01", PtlTopic.CMD)),
        ("floorgate/dc1/ptl/A-01-01/event", ("A-01-01", PtlTopic.EVENT)),
        ("floorgate/dc1/ptl/A-01-01/ack", ("A-01-01", PtlTopic.ACK)),
        ("floorgate/dc1/ptl/A-01-01/status", ("A-01-01", PtlTopic.STATUS)),
        ("floorgate/dc1/ptl/m/event", ("m", PtlTopic.EVENT)),
        # another site, including one whose id merely starts with ours
        ("floorgate/dc2/ptl/A-01-01/event", None),
        ("floorgate/dc10/ptl/A-01-01/event", None),
        # extra or missing segments
        ("floorgate/dc1/ptl/A/01/event", None),
        ("floorgate/dc1/ptl/A-01-01/event/extra", None),
        ("floorgate/dc1/ptl//event", None),
        ("floorgate/dc1/ptl/event", None),
        ("floorgate/dc1/ptl/", None),
        # unknown kind, wrong case, other device families
        ("floorgate/dc1/ptl/A-01-01/blink", None),
        ("floorgate/dc1/ptl/A-01-01/EVENT", None),
        ("floorgate/dc1/ptl/A-01-01/", None),
        ("floorgate/dc1/scanner/S1/scan", None),
        ("floorgate/dc1/edge/edge-1/status", None),
        ("", None),
    ],
)
def test_parse_ptl_topic(topic: str, expected: tuple[str, PtlTopic] | None) -> None:
    assert parse_ptl_topic("dc1", topic) == expected


# -- events -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            b'{"id": "e1", "button": "confirm", "display": "3"}',
            ModuleEvent(id="e1", button=Button.CONFIRM, display="3"),
        ),
        (
            b'{"id":"e2","button":"short","display":"0"}',
            ModuleEvent(id="e2", button=Button.SHORT, display="0"),
        ),
        (b'{"id":"e3","button":"plus"}', ModuleEvent(id="e3", button=Button.PLUS, display=None)),
        (
            b'{"id":"e4","button":"minus","display":null}',
            ModuleEvent(id="e4", button=Button.MINUS, display=None),
        ),
        # an integer display is what some firmwares send; it is the same quantity
        (
            b'{"id":"e5","button":"confirm","display":12}',
            ModuleEvent(id="e5", button=Button.CONFIRM, display="12"),
        ),
        (
            b'{"id":"e6","button":"confirm","display":"OK"}',
            ModuleEvent(id="e6", button=Button.CONFIRM, display="OK"),
        ),
        # unknown fields are ignored: modules may add diagnostics
        (
            b'{"id":"e7","button":"confirm","display":"1","rssi":-60}',
            ModuleEvent(id="e7", button=Button.CONFIRM, display="1"),
        ),
        (b'  {"id":"e8","button":"confirm"}\n', ModuleEvent(id="e8", button=Button.CONFIRM, display=None)),
        (
            '{"id":"é-1","button":"confirm"}'.encode(),
            ModuleEvent(id="é-1", button=Button.CONFIRM, display=None),
        ),
    ],
)
def test_decode_event(payload: bytes, expected: ModuleEvent) -> None:
    assert decode_event(payload) == expected


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not JSON"),
        (b"{not json", "not JSON"),
        (b'{"id":"e1","button":"confirm"', "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"confirm", "not JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b'"confirm"', "expected a JSON object, got str"),
        (b"17", "expected a JSON object, got int"),
        (b"null", "expected a JSON object, got NoneType"),
        (b'{"button":"confirm"}', "'id' is missing"),
        (b'{"id":"","button":"confirm"}', "'id' is missing or not a non-empty string"),
        (b'{"id":7,"button":"confirm"}', "'id' is missing or not a non-empty string"),
        (b'{"id":null,"button":"confirm"}', "'id' is missing"),
        (b'{"id":"e1"}', "'button' is missing"),
        (b'{"id":"e1","button":1}', "'button' is missing or not a string"),
        (b'{"id":"e1","button":"stop"}', "unknown button 'stop'"),
        (b'{"id":"e1","button":"CONFIRM"}', "unknown button 'CONFIRM'"),
        (b'{"id":"e1","button":""}', "unknown button ''"),
        (b'{"id":"e1","button":"confirm","display":true}', "'display' must be a string or an integer"),
        (b'{"id":"e1","button":"confirm","display":1.5}', "'display' must be a string or an integer"),
        (b'{"id":"e1","button":"confirm","display":[3]}', "'display' must be a string or an integer"),
        (b'{"id":"e1","button":"confirm","display":{"v":3}}', "'display' must be a string or an integer"),
    ],
)
def test_decode_event_rejects_malformed(payload: bytes, reason: str) -> None:
    with pytest.raises(MalformedPayload) as caught:
        decode_event(payload)
    assert reason in str(caught.value)


def test_unknown_button_names_the_allowed_ones() -> None:
    with pytest.raises(MalformedPayload) as caught:
        decode_event(b'{"id":"e1","button":"stop"}')
    assert "confirm, short, plus, minus" in str(caught.value)


def test_malformed_payload_is_a_value_error() -> None:
    assert issubclass(MalformedPayload, ValueError)


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        (
            ModuleEvent(id="e1", button=Button.CONFIRM, display="3"),
            b'{"id":"e1","button":"confirm","display":"3"}',
        ),
        # no display: the key is left out rather than sent as null
        (ModuleEvent(id="e2", button=Button.PLUS, display=None), b'{"id":"e2","button":"plus"}'),
    ],
)
def test_encode_event_bytes_and_round_trip(event: ModuleEvent, payload: bytes) -> None:
    assert encode_event(event) == payload
    assert decode_event(encode_event(event)) == event


# -- acks -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "seq"),
    [
        (b'{"seq":17}', 17),
        (b'{"seq": 0}', 0),
        (b'{"seq":9007199254740993}', 9007199254740993),
        (b'{"seq":3,"module":"A-01-01"}', 3),
    ],
)
def test_decode_ack(payload: bytes, seq: int) -> None:
    assert decode_ack(payload) == seq


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not JSON"),
        (b"17", "expected a JSON object, got int"),
        (b"[17]", "expected a JSON object, got list"),
        (b"{}", "'seq' must be a non-negative integer, got None"),
        (b'{"seq":-1}', "'seq' must be a non-negative integer, got -1"),
        (b'{"seq":"17"}', "'seq' must be a non-negative integer, got '17'"),
        (b'{"seq":1.5}', "'seq' must be a non-negative integer, got 1.5"),
        (b'{"seq":true}', "'seq' must be a non-negative integer, got True"),
        (b'{"seq":null}', "'seq' must be a non-negative integer, got None"),
    ],
)
def test_decode_ack_rejects_malformed(payload: bytes, reason: str) -> None:
    with pytest.raises(MalformedPayload) as caught:
        decode_ack(payload)
    assert reason in str(caught.value)


@pytest.mark.parametrize("seq", [0, 1, 17, 2**40])
def test_encode_ack_round_trip(seq: int) -> None:
    assert encode_ack(seq) == b'{"seq":%d}' % seq
    assert decode_ack(encode_ack(seq)) == seq


# -- status -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "online"),
    [
        (b"online", True),
        (b"offline", False),
        (b'"online"', True),
        (b'"offline"', False),
        (b"ONLINE", True),
        (b"Offline", False),
        (b" online\n", True),
        (b"offline\r\n", False),
    ],
)
def test_decode_status(payload: bytes, online: bool) -> None:
    assert decode_status(payload) is online


@pytest.mark.parametrize(
    "payload",
    [b"", b"on", b"off", b"1", b"0", b"true", b'{"status":"online"}', b"online offline", b"\xff\xfe"],
)
def test_decode_status_rejects_anything_else(payload: bytes) -> None:
    with pytest.raises(MalformedPayload, match="status must be 'online' or 'offline'"):
        decode_status(payload)


def test_decode_status_quotes_at_most_40_characters() -> None:
    with pytest.raises(MalformedPayload) as caught:
        decode_status(b"x" * 1000)
    assert "x" * 40 in str(caught.value)
    assert "x" * 41 not in str(caught.value)


# -- commands ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instruction", "payload"),
    [
        (
            LightBin(module="A-01-01", seq=17, color="green", blink=Blink.NONE, display="3"),
            b'{"seq":17,"color":"green","blink":"none","display":"3"}',
        ),
        (
            LightBin(module="A-01-01", seq=19, color="red", blink=Blink.FAST, display="ERR"),
            b'{"seq":19,"color":"red","blink":"fast","display":"ERR"}',
        ),
        (
            LightBin(module="A-01-01", seq=20, color="blue", blink=Blink.SLOW, display=""),
            b'{"seq":20,"color":"blue","blink":"slow","display":""}',
        ),
        (ClearBin(module="A-01-01", seq=18), b'{"seq":18,"off":true}'),
        (ClearBin(module="A-01-01", seq=0), b'{"seq":0,"off":true}'),
    ],
)
def test_encode_command_bytes(instruction: Instruction, payload: bytes) -> None:
    assert encode_command(instruction) == payload


@pytest.mark.parametrize(
    ("instruction", "decoded"),
    [
        (
            LightBin(module="m", seq=17, color="green", blink=Blink.NONE, display="3"),
            ModuleCommand(seq=17, off=False, color="green", blink=Blink.NONE, display="3"),
        ),
        (
            LightBin(module="m", seq=21, color="orange", blink=Blink.SLOW, display="12"),
            ModuleCommand(seq=21, off=False, color="orange", blink=Blink.SLOW, display="12"),
        ),
        (ClearBin(module="m", seq=18), ModuleCommand(seq=18, off=True)),
    ],
)
def test_encode_command_round_trip(instruction: Instruction, decoded: ModuleCommand) -> None:
    assert decode_command(encode_command(instruction)) == decoded


@pytest.mark.parametrize(
    ("payload", "decoded"),
    [
        # blink defaults to none, a missing display to empty, an integer display to text
        (
            b'{"seq":1,"color":"blue"}',
            ModuleCommand(seq=1, off=False, color="blue", blink=Blink.NONE, display=""),
        ),
        (
            b'{"seq":2,"color":"blue","display":4}',
            ModuleCommand(seq=2, off=False, color="blue", blink=Blink.NONE, display="4"),
        ),
        # "off" must be exactly true to turn the module off
        (b'{"seq":3,"off":true,"color":"blue"}', ModuleCommand(seq=3, off=True)),
        (
            b'{"seq":4,"off":false,"color":"blue"}',
            ModuleCommand(seq=4, off=False, color="blue", blink=Blink.NONE, display=""),
        ),
    ],
)
def test_decode_command(payload: bytes, decoded: ModuleCommand) -> None:
    assert decode_command(payload) == decoded


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not JSON"),
        (b"[]", "expected a JSON object, got list"),
        (b'{"color":"blue"}', "'seq' must be a non-negative integer"),
        (b'{"seq":-3,"off":true}', "'seq' must be a non-negative integer"),
        (b'{"seq":"3","off":true}', "'seq' must be a non-negative integer"),
        (b'{"seq":1}', "'color' is missing"),
        (b'{"seq":1,"color":""}', "'color' is missing"),
        (b'{"seq":1,"color":3}', "'color' is missing"),
        (b'{"seq":1,"color":"blue","blink":"strobe"}', "unknown blink 'strobe'"),
        (b'{"seq":1,"color":"blue","display":false}', "'display' must be a string or an integer"),
    ],
)
def test_decode_command_rejects_malformed(payload: bytes, reason: str) -> None:
    with pytest.raises(MalformedPayload) as caught:
        decode_command(payload)
    assert reason in str(caught.value)
