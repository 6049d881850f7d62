"""Every parser of device bytes, fuzzed: a decoded value or the codec's own error naming the problem, nothing else.

The unit tests (tests/unit/test_ptl_codec.py, test_scale_codecs.py, test_serial_framing.py,
test_hid_decoder.py, test_barcodes.py) hold the byte tables and random-bytes properties. This module adds
what they leave out: near-valid mutations of valid frames (truncation, bit flips, wrong checksums, huge
numbers, NaN and infinity, unicode, empty), JSON of every shape, framings other than the configured ones,
key streams a keyboard never sends, round trips over generated values rather than a few examples, and the
one property across all of them: no exception other than the codec's documented one, and no hang.

Documented outcomes, per codec:
- PTL, MQTT scanner and MQTT scale payloads: the value, or MalformedPayload / MalformedScan / MalformedWeight
  with a message; an accepted payload carries only text the store can hold.
- MT-SICS, NCI, Toledo continuous: (frame, consumed) with a Reading, a Reply or a Garbage naming its reason,
  or (None, 0) for a partial frame; never an exception.
- Serial scanner framing: Scan or Garbage with a reason; HID decoding: text or nothing; barcodes: a Barcode,
  INVALID with its problem named.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from floorgate.core.barcodes import MAX_CODE_CHARS, CodeKind, interpret
from floorgate.core.commands import Button
from floorgate.core.instructions import Blink, ClearBin, LightBin
from floorgate.devices.json_payload import is_text
from floorgate.devices.ptl import codec as ptl
from floorgate.devices.scales import mt_sics, nci, toledo_continuous
from floorgate.devices.scales.frames import GRAMS_PER_UNIT, Garbage, Reading, Reply, to_grams
from floorgate.devices.scales.mqtt_scale import MalformedWeight, decode_weight, encode_weight
from floorgate.devices.scales.serial_scale import PROTOCOLS, FrameReader
from floorgate.devices.scanners import serial_framing
from floorgate.devices.scanners.hid_decoder import HidDecoder
from floorgate.devices.scanners.input_event import KEY_PRESS, KEY_RELEASE, KeyEvent, key_events, unpack
from floorgate.devices.scanners.keyboard_layouts import KEYPAD_DIGITS, LAYOUTS, Key, Level, layout_named
from floorgate.devices.scanners.mqtt_scanner import MalformedScan, decode_scan, encode_scan

pytestmark = pytest.mark.failure

FUZZ = settings(max_examples=200, deadline=None, derandomize=True)
# A parse that hangs (a quadratic blow-up, a loop that never ends) fails on the suite's own timeout
# (`timeout` in pyproject.toml); how fast a parse is belongs to bench/, not to a test that a slow or busy
# machine would fail.

# -- JSON payloads: PTL, MQTT scanners and scales -----------------------------------------------------------

lone_surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2)
odd_numbers = st.sampled_from(
    [float("nan"), float("inf"), -float("inf"), -0.0, 1e308, 5e-324, 10**30, -(10**30)]
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | odd_numbers
    | st.text(max_size=12)
    | lone_surrogates
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)
# Byte-level damage that a radio, a buffer or a firmware bug does to a frame.


@st.composite
def mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    damage = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "empty", "repeat", "none"]))
    if damage == "empty" or not valid:
        return b""
    at = draw(st.integers(0, len(valid) - 1))
    if damage == "truncate":
        return valid[:at]
    if damage == "flip":
        bit = draw(st.integers(0, 7))
        return valid[:at] + bytes([valid[at] ^ 1 << bit]) + valid[at + 1 :]
    if damage == "insert":
        return valid[:at] + draw(st.binary(min_size=1, max_size=4)) + valid[at:]
    if damage == "delete":
        return valid[:at] + valid[at + 1 :]
    if damage == "repeat":
        return valid * draw(st.integers(2, 3))
    return valid


def with_field(valid: dict[str, Any], name: str, value: Any) -> bytes:
    # json.dumps writes NaN, Infinity and "\udc00" escapes: what a careless device sends.
    return json.dumps({**valid, name: value}).encode()


def json_payloads(valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Anything, JSON of any shape, the valid object with one field wrong or missing, or its bytes damaged."""
    encoded = json.dumps(valid).encode()
    return st.one_of(
        st.binary(max_size=80),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.builds(with_field, st.just(valid), st.sampled_from(sorted(valid)), json_values),
        st.sampled_from(sorted(valid)).map(
            lambda k: json.dumps({n: v for n, v in valid.items() if n != k}).encode()
        ),
        mutated(encoded),
        st.integers(4_301, 5_000).map(lambda n: encoded.replace(b"{", b'{"n": ' + b"7" * n + b", ", 1)),
        st.integers(1_000, 20_000).map(lambda n: b"[" * n + b"]" * n),
    )


def assert_decoded_or_refused(decode: Any, payload: bytes, error: type[ValueError]) -> Any:
    """The decoded value, or None when `decode` refused with `error` and a message; anything else fails."""
    reason = ""
    try:
        value = decode(payload)
    except error as err:
        value, reason = None, str(err)
        assert reason, f"expected {error.__name__} to say what was wrong, for {payload[:80]!r}"
    return value


def assert_storable(*texts: str | None) -> None:
    for text in texts:
        assert text is None or is_text(text), (
            f"expected only text UTF-8 can encode to be accepted, got {text!r}"
        )


VALID_EVENT = {"id": "e-1", "button": "confirm", "display": "3"}


@FUZZ
@given(json_payloads(VALID_EVENT))
@example(b'{"id": "\\ud800", "button": "confirm"}')  # a lone surrogate was accepted and failed every commit
@example(b'{"id": "e", "button": "confirm", "display": "\\udc00"}')
@example(b'{"seq": ' + b"9" * 4301 + b"}")  # json.loads raised ValueError, not JSONDecodeError
@example(b"[" * 100_000)  # ... and RecursionError
def test_ptl_event_payloads_decode_or_are_malformed(payload: bytes) -> None:
    event = assert_decoded_or_refused(ptl.decode_event, payload, ptl.MalformedPayload)
    if event is not None:
        assert event.id
        assert isinstance(event.button, Button)
        assert_storable(event.id, event.display)


@FUZZ
@given(json_payloads({"seq": 17}))
def test_ptl_ack_payloads_decode_or_are_malformed(payload: bytes) -> None:
    seq = assert_decoded_or_refused(ptl.decode_ack, payload, ptl.MalformedPayload)
    assert seq is None or (isinstance(seq, int) and seq >= 0)


@FUZZ
@given(
    st.one_of(
        json_payloads({"seq": 3, "color": "green", "blink": "none", "display": "2"}), mutated(b"online")
    )
)
def test_ptl_command_and_status_payloads_decode_or_are_malformed(payload: bytes) -> None:
    assert_decoded_or_refused(ptl.decode_command, payload, ptl.MalformedPayload)
    assert assert_decoded_or_refused(ptl.decode_status, payload, ptl.MalformedPayload) in {True, False, None}


@FUZZ
@given(json_payloads({"id": "s-1", "data": "]C10104012345678901"}))
@example(b'{"id": "s-1", "data": "\\udfff"}')
def test_mqtt_scan_payloads_decode_or_are_malformed(payload: bytes) -> None:
    decoded = assert_decoded_or_refused(decode_scan, payload, MalformedScan)
    if decoded is not None:
        assert_storable(*decoded)


@FUZZ
@given(json_payloads({"id": "w-1", "grams": 1234.5, "stable": True, "condition": "ok"}))
@example(b'{"id": "\\udc00", "grams": 1, "stable": true}')
def test_mqtt_weight_payloads_decode_or_are_malformed(payload: bytes) -> None:
    weight = assert_decoded_or_refused(decode_weight, payload, MalformedWeight)
    if weight is not None:
        assert_storable(weight.id)
        assert weight.grams is None or (weight.grams.is_finite() and abs(weight.grams) <= 10**9)


texts = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20)


@FUZZ
@given(
    st.builds(
        ptl.ModuleEvent, id=texts, button=st.sampled_from(Button), display=st.none() | st.text(max_size=8)
    ),
    st.integers(0, 2**63),
)
def test_ptl_events_and_acks_round_trip(event: ptl.ModuleEvent, seq: int) -> None:
    assert ptl.decode_event(ptl.encode_event(event)) == event
    assert ptl.decode_ack(ptl.encode_ack(seq)) == seq


@FUZZ
@given(
    st.one_of(
        st.builds(
            LightBin,
            module=st.just("M-1"),
            seq=st.integers(0, 2**31),
            color=texts,
            blink=st.sampled_from(Blink),
            display=st.text(max_size=8),
        ),
        st.builds(ClearBin, module=st.just("M-1"), seq=st.integers(0, 2**31)),
    ),
)
def test_ptl_commands_round_trip(instruction: LightBin | ClearBin) -> None:
    decoded = ptl.decode_command(ptl.encode_command(instruction))
    assert decoded.seq == instruction.seq
    if isinstance(instruction, ClearBin):
        assert decoded.off
    else:
        expected = (instruction.color, instruction.blink, instruction.display)
        assert (decoded.color, decoded.blink, decoded.display) == expected


@FUZZ
@given(
    texts,
    st.text(max_size=200),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).filter(lambda d: abs(d) <= 10**6),
    st.booleans(),
)
def test_mqtt_scans_and_weights_round_trip(message_id: str, data: str, grams: Decimal, stable: bool) -> None:
    assert decode_scan(encode_scan(message_id, data)) == (message_id, data)
    weight = decode_weight(encode_weight(message_id[:128], float(grams), stable=stable))
    assert weight.grams == Decimal(str(float(grams)))
    assert weight.stable is stable


@FUZZ
@given(st.text(max_size=60))
def test_any_topic_is_a_ptl_topic_of_the_site_or_none(topic: str) -> None:
    parsed = ptl.parse_ptl_topic("s", topic)
    if parsed is not None:
        module, kind = parsed
        assert ptl.ptl_topic("s", module, kind) == topic


# -- serial scales: MT-SICS, NCI, Toledo continuous -------------------------------------------------------

units = st.sampled_from(sorted(GRAMS_PER_UNIT))
printed_weights = st.decimals(
    min_value=-99999, max_value=99999, places=3, allow_nan=False, allow_infinity=False
)


def assert_progress(frame: object, consumed: int, buffer: bytes) -> None:
    if frame is None:
        assert consumed == 0, f"a partial frame consumes nothing, consumed {consumed} of {buffer!r}"
    else:
        assert isinstance(frame, Reading | Reply | Garbage), frame
        assert 0 < consumed <= len(buffer), f"expected progress within the buffer, consumed {consumed}"
        if isinstance(frame, Garbage):
            assert frame.reason, f"expected garbage to say why, for {buffer!r}"
        if isinstance(frame, Reading) and frame.grams is not None:
            assert frame.grams.is_finite()


def mt_sics_frames() -> st.SearchStrategy[bytes]:
    weights = st.builds(
        lambda w, u, s: mt_sics.encode_weight(str(w), u, stable=s), printed_weights, units, st.booleans()
    )
    odd = st.sampled_from(
        ["1e999", "NaN", "inf", "9" * 60, "-0", "\uff11\uff12\uff13", "1.2.3", "+-1", "."]
    ).map(lambda w: f"S S {w} g\r\n".encode())
    return st.one_of(weights, odd, st.sampled_from([b"S +\r\n", b"ES\r\n", b"Z A\r\n", b"S I\r\n"]))


def nci_frames() -> st.SearchStrategy[bytes]:
    flags = st.frozensets(st.sampled_from([row.flag for row in nci.STATUS_BITS]))
    weights = st.builds(lambda w, u, f: nci.encode_weight_reply(str(w), u, f), printed_weights, units, flags)
    odd = st.sampled_from(["1e999", "NaN", "9" * 40, "١٢٣", "- 1.5"]).map(
        lambda w: b"\n" + w.encode() + b"kg\r\n00\r\x03"
    )
    return st.one_of(weights, odd, st.builds(nci.encode_status_reply, flags), st.just(nci.UNRECOGNISED))


def toledo_frames() -> st.SearchStrategy[bytes]:
    return st.builds(
        toledo_continuous.encode_frame,
        st.integers(-999_999, 999_999),
        st.integers(0, 999_999),
        decimal_code=st.integers(0, 7),
        increment=st.sampled_from([1, 2, 5]),
        unit=st.sampled_from(["kg", "lb", "g", "t", "oz", "ozt", "dwt", "ton"]),
        net=st.booleans(),
        motion=st.booleans(),
        out_of_range=st.booleans(),
        zero_not_captured=st.booleans(),
        with_checksum=st.booleans(),
    )


DECODERS = {
    "mt-sics": (mt_sics.decode, mt_sics_frames()),
    "nci": (nci.decode, nci_frames()),
    "toledo-checksum": (lambda b: toledo_continuous.decode(b, with_checksum=True), toledo_frames()),
    "toledo-plain": (lambda b: toledo_continuous.decode(b, with_checksum=False), toledo_frames()),
    "toledo-auto": (toledo_continuous.decode, toledo_frames()),
}


@pytest.mark.parametrize("name", sorted(DECODERS))
@FUZZ
@given(data=st.data())
def test_damaged_scale_frames_decode_to_a_frame_a_partial_or_garbage(name: str, data: st.DataObject) -> None:
    decode, frames = DECODERS[name]
    buffer = data.draw(frames.flatmap(mutated))
    frame, consumed = decode(buffer)
    assert_progress(frame, consumed, buffer)


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
@FUZZ
@given(data=st.data())
def test_a_stream_of_damaged_frames_in_any_chunks_never_stalls_the_reader(
    protocol: str, data: st.DataObject
) -> None:
    frames = {"mt-sics": mt_sics_frames(), "nci": nci_frames(), "toledo-continuous": toledo_frames()}[
        protocol
    ]
    stream = b"".join(data.draw(st.lists(frames.flatmap(mutated), max_size=12)))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    reader = FrameReader(PROTOCOLS[protocol].make_decoder(), max_buffer=256)
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        for frame in reader.feed(stream[start:end]):
            assert isinstance(frame, Reading | Reply | Garbage)


@FUZZ
@given(printed_weights, units, st.booleans())
def test_mt_sics_weights_round_trip_to_exact_grams(weight: Decimal, unit: str, stable: bool) -> None:
    frame, _ = mt_sics.decode(mt_sics.encode_weight(str(weight), unit, stable=stable))
    assert isinstance(frame, Reading), frame
    assert (frame.grams, frame.stable) == (to_grams(weight, unit), stable)


@FUZZ
@given(printed_weights, units)
def test_nci_weights_round_trip_to_exact_grams(weight: Decimal, unit: str) -> None:
    frame, _ = nci.decode(nci.encode_weight_reply(str(weight), unit))
    assert isinstance(frame, Reading), frame
    assert frame.grams == to_grams(weight, unit)


@FUZZ
@given(
    st.integers(-999_999, 999_999),
    st.integers(0, 7),
    st.sampled_from(["kg", "lb", "g", "oz"]),
    st.booleans(),
    st.integers(0, 16),
)
def test_toledo_frames_round_trip_and_a_wrong_checksum_is_never_a_weight(
    counts: int, decimal_code: int, unit: str, checked: bool, error: int
) -> None:
    wire = toledo_continuous.encode_frame(counts, decimal_code=decimal_code, unit=unit, with_checksum=checked)
    frame, consumed = toledo_continuous.decode(wire, with_checksum=checked)
    assert isinstance(frame, Reading), frame
    exponent = toledo_continuous.DECIMAL_EXPONENT[decimal_code]
    assert frame.grams == to_grams(Decimal(counts).scaleb(exponent), unit)
    assert consumed == len(wire)
    if checked and error:
        corrupted = wire[:-1] + bytes([(wire[-1] + error) & 0x7F])
        bad, _ = toledo_continuous.decode(corrupted, with_checksum=True)
        assert isinstance(bad, Garbage), f"expected a checksum mismatch to be garbage, got {bad}"
        assert bad.reason == "checksum mismatch"


# -- serial scanner framing -------------------------------------------------------------------------------

framings = st.builds(
    serial_framing.SerialFraming,
    suffix=st.binary(min_size=1, max_size=3),
    prefix=st.binary(max_size=3),
    max_length=st.integers(1, 64),
)


@FUZZ
@given(framings, st.lists(st.binary(max_size=40), max_size=12))
def test_any_framing_reads_any_bytes_into_scans_and_garbage_with_a_bounded_buffer(
    framing: serial_framing.SerialFraming, chunks: list[bytes]
) -> None:
    framer = serial_framing.SerialFramer(framing)
    bound = framing.max_length + len(framing.prefix) + 2 * len(framing.suffix) + 40
    for chunk in chunks:
        for frame in framer.feed(chunk):
            assert isinstance(frame, serial_framing.Scan | serial_framing.Garbage)
            if isinstance(frame, serial_framing.Garbage):
                assert frame.reason
        assert len(framer._buffer) <= bound, "expected the framer to drop bytes that cannot become a code"


@FUZZ
@given(
    framings,
    st.lists(
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40), max_size=5
    ),
)
def test_codes_framed_with_any_prefix_and_suffix_come_back(
    framing: serial_framing.SerialFraming, codes: list[str]
) -> None:
    wire = [framing.prefix + code.encode() + framing.suffix for code in codes]

    def unambiguous(code: str, raw: bytes) -> bool:
        # The suffix only at the end, the prefix only at the start (and not a line end the framing skips).
        return (
            len(code) <= framing.max_length
            and raw.find(framing.suffix) == len(raw) - len(framing.suffix)
            and (not framing.prefix or raw.find(framing.prefix) == 0)
            and framing.prefix[:1] not in {b"\r", b"\n"}
        )

    if not all(unambiguous(code, raw) for code, raw in zip(codes, wire, strict=True)):
        return  # a code that contains its own framing cannot be told apart: not this property's case
    frames = serial_framing.SerialFramer(framing).feed(b"".join(wire))
    assert frames == [serial_framing.Scan(code) for code in codes]


# -- HID keyboard wedge -----------------------------------------------------------------------------------


@st.composite
def alt_codes(draw: st.DrawFn) -> list[KeyEvent]:
    """Alt held while keypad digits are typed: how scanners send GS, and a way to send a 5000-digit number."""
    digits = draw(st.integers(1, 6000))
    keypad = sorted(KEYPAD_DIGITS)
    events = [KeyEvent(Key.LEFTALT, KEY_PRESS, 1.0)]
    for index in range(digits):
        code = keypad[draw(st.integers(0, 9)) if index < 8 else index % 10]
        events += [KeyEvent(code, KEY_PRESS, 1.0), KeyEvent(code, KEY_RELEASE, 1.0)]
    return [*events, KeyEvent(Key.LEFTALT, KEY_RELEASE, 1.0), KeyEvent(Key.ENTER, KEY_PRESS, 1.0)]


key_events_any = st.builds(
    KeyEvent,
    st.integers(0, 0xFFFF),
    st.integers(-(2**31), 2**31 - 1),
    st.floats(min_value=-1e18, max_value=1e18, allow_nan=False),
)


@FUZZ
@given(
    st.sampled_from(sorted(LAYOUTS)),
    st.lists(key_events_any, max_size=100) | alt_codes(),
    st.booleans(),
)
@example(
    "us",
    [KeyEvent(Key.LEFTALT, KEY_PRESS, 1.0)]
    + [KeyEvent(Key.KP9, KEY_PRESS, 1.0)] * 4301
    + [KeyEvent(Key.LEFTALT, KEY_RELEASE, 1.0)],
    True,
)  # int() of 4301 digits raised ValueError
def test_any_key_stream_decodes_to_text_or_nothing(
    layout: str, events: list[KeyEvent], num_lock: bool
) -> None:
    decoder = HidDecoder(LAYOUTS[layout], num_lock=num_lock)
    for event in events:
        text = decoder.feed(event)
        assert text is None or (isinstance(text, str) and text and is_text(text))
    assert len(decoder.pending) <= decoder.max_length


@FUZZ
@given(st.binary(max_size=24 * 40), st.sampled_from(sorted(LAYOUTS)))
def test_any_bytes_from_an_input_device_decode_to_text_or_nothing(data: bytes, layout: str) -> None:
    records, _ = unpack(data)
    decoder = HidDecoder(LAYOUTS[layout])
    for event in key_events(records):
        text = decoder.feed(event)
        assert text is None or isinstance(text, str)


@FUZZ
@given(st.sampled_from(sorted(LAYOUTS)), st.characters())
def test_every_character_a_layout_can_type_decodes_back_from_its_key(layout_name: str, char: str) -> None:
    layout = LAYOUTS[layout_name]
    stroke = layout.keystroke(char)
    if stroke is not None:
        code, level = stroke
        typed = layout.char(code, shift=level is Level.SHIFT, altgr=level is Level.ALTGR, caps_lock=False)
        assert typed == char


@FUZZ
@given(st.text(max_size=12))
def test_an_unknown_layout_name_is_refused_naming_the_known_ones(name: str) -> None:
    if name in LAYOUTS:
        assert layout_named(name).name == name
        return
    with pytest.raises(ValueError, match="known: de, fr, uk, us"):
        layout_named(name)


# -- barcodes (biip) --------------------------------------------------------------------------------------

GS = "\x1d"
symbologies = st.sampled_from(["", "]C1", "]d2", "]Q3", "]e0", "]E0", "]E4", "]I1", "]J1", "]A0", "]X9"])
gs1_alphabet = st.sampled_from(list("0123456789" + GS + "AZaz-./²١٢")) | st.characters()


def check_digit(body: str) -> str:
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


gtins = st.text("0123456789", min_size=13, max_size=13).map(lambda body: body + check_digit(body))
lots = st.text(st.sampled_from("ABCXYZabc0123456789-"), min_size=1, max_size=20)
today = date.today()
expiries = st.dates(min_value=today - timedelta(days=365 * 20), max_value=today + timedelta(days=365 * 20))


def assert_interpreted(data: str) -> Any:
    barcode = interpret(data)
    if barcode.kind is CodeKind.INVALID:
        assert barcode.problem, f"expected an invalid code to name its problem: {data[:80]!r}"
    if barcode.gtin is not None:
        assert barcode.gtin.isascii(), barcode.gtin
        assert barcode.gtin.isdigit(), barcode.gtin
        assert len(barcode.gtin) == 14, barcode.gtin
    assert barcode.count is None or isinstance(barcode.count, int)
    return barcode


@FUZZ
@given(symbologies, st.text(gs1_alphabet, max_size=80))
@example("", "0" * 1_000_000)  # biip's time grows with the input: a megabyte took seconds
@example("]C1", "01" + "1" * 100_000)
def test_any_scan_is_a_barcode_with_invalid_ones_saying_why(symbology: str, body: str) -> None:
    barcode = assert_interpreted(symbology + body)
    if len(body) > MAX_CODE_CHARS:
        assert barcode.kind is CodeKind.INVALID


@FUZZ
@given(data=st.data(), gtin=gtins, lot=lots, serial=lots, expiry=expiries)
def test_gs1_element_strings_round_trip_and_survive_damage(
    data: st.DataObject, gtin: str, lot: str, serial: str, expiry: date
) -> None:
    element_string = f"01{gtin}17{expiry:%y%m%d}10{lot}{GS}21{serial}"
    barcode = assert_interpreted("]C1" + element_string)
    assert (barcode.kind, barcode.gtin, barcode.lot, barcode.serial, barcode.expiry) == (
        CodeKind.ITEM,
        gtin,
        lot,
        serial,
        expiry.isoformat(),
    )
    damaged = data.draw(mutated(element_string.encode()))
    assert_interpreted("]C1" + damaged.decode("latin-1"))
