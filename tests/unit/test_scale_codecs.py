"""Scale wire codecs (MT-SICS, Toledo continuous, NCI SCP-01) and MQTT weights, by byte tables and properties."""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from floorgate.core.commands import ScaleCondition
from floorgate.devices.scales import mt_sics, nci, toledo_continuous
from floorgate.devices.scales.frames import Frame, Garbage, Reading, Reply, to_grams
from floorgate.devices.scales.mqtt_scale import MalformedWeight, decode_weight, encode_weight
from floorgate.devices.scales.serial_scale import PROTOCOLS, FrameReader, ToledoStream

pytestmark = pytest.mark.unit

OVER = ScaleCondition.OVERLOAD
UNDER = ScaleCondition.UNDERLOAD
ERROR = ScaleCondition.ERROR
D = Decimal

# -- units ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "grams"),
    [
        ("1.25", "lb", "566.9904625"),
        ("1", "oz", "28.349523125"),
        ("0.001", "kg", "1.000"),
        ("2", "t", "2000000"),
        ("250", "mg", "0.250"),
        ("1", "ozt", "31.1034768"),
    ],
)
def test_units_convert_to_grams_exactly(value: str, unit: str, grams: str) -> None:
    assert to_grams(D(value), unit) == D(grams)


# -- MT-SICS ----------------------------------------------------------------------------------------------

MT_SICS_TABLE: list[tuple[bytes, Frame | None, int]] = [
    (b"S S     100.00 g\r\n", Reading(grams=D("100.00"), stable=True, division_g=D("0.01")), 18),
    (b"S D      12.5 kg\r\n", Reading(grams=D("12500.0"), stable=False, division_g=D("100.0")), 18),
    (b"S S    -3.250 kg\r\n", Reading(grams=D("-3250.000"), stable=True, division_g=D("1.000")), 18),
    (b"S S      1.25 lb\r\n", Reading(grams=D("566.9904625"), stable=True, division_g=D("4.5359237")), 18),
    (b"S +\r\n", Reading(grams=None, stable=False, condition=OVER), 5),
    (b"S -\r\n", Reading(grams=None, stable=False, condition=UNDER), 5),
    (b"S I\r\n", Reply(command="S", status="I", text="S I"), 5),
    (b"ES\r\n", Reply(command="ES", status="", text="ES"), 4),
    (b"ET\r\n", Reply(command="ET", status="", text="ET"), 4),
    (b"EL\r\n", Reply(command="EL", status="", text="EL"), 4),
    (b"Z A\r\n", Reply(command="Z", status="A", text="Z A"), 5),
    (b"T S 120.00 g\r\n", Reply(command="T", status="S", text="T S 120.00 g"), 14),
    (b"S S 1.0 g\r\nS S 2.0 g\r\n", Reading(grams=D("1.0"), stable=True, division_g=D("0.1")), 11),
    # partial frames: wait for more
    (b"S S    100", None, 0),
    (b"S S 100.00 g\r", None, 0),
    (b"", None, 0),
    # garbage: skipped up to where a frame can start again
    (b"hello\nS S 1 g\r\n", Garbage(raw=b"hello\n", reason="line feed without carriage return"), 6),
    (b"\xff\xfe\r\n", Garbage(raw=b"\xff\xfe\r\n", reason="not ASCII"), 4),
    (b"X Y\r\n", Garbage(raw=b"X Y\r\n", reason="unknown reply 'X'"), 5),
    (b"S S abc g\r\n", Garbage(raw=b"S S abc g\r\n", reason="weight is not a number"), 11),
    (b"S S 1.0 stone\r\n", Garbage(raw=b"S S 1.0 stone\r\n", reason="unknown unit 'stone'"), 15),
    (b"S Q 1.0 g\r\n", Garbage(raw=b"S Q 1.0 g\r\n", reason="malformed weight reply"), 11),
    (b"\r\n", Garbage(raw=b"\r\n", reason="empty line"), 2),
]


@pytest.mark.parametrize(("data", "frame", "consumed"), MT_SICS_TABLE)
def test_mt_sics_decodes_replies_partials_and_garbage(
    data: bytes, frame: Frame | None, consumed: int
) -> None:
    assert mt_sics.decode(data) == (frame, consumed)


def test_mt_sics_noise_without_a_line_end_is_garbage_once_longer_than_any_reply() -> None:
    noise = b"x" * (mt_sics.MAX_LINE + 1) + b"\r"
    frame, consumed = mt_sics.decode(noise)
    assert isinstance(frame, Garbage)
    assert consumed == len(noise) - 1  # the CR may start a real terminator


@pytest.mark.parametrize(
    ("command", "wire"),
    [
        (mt_sics.MtSicsCommand.STABLE_WEIGHT, b"S\r\n"),
        (mt_sics.MtSicsCommand.WEIGHT_NOW, b"SI\r\n"),
        (mt_sics.MtSicsCommand.WEIGHT_REPEAT, b"SIR\r\n"),
        (mt_sics.MtSicsCommand.ZERO, b"Z\r\n"),
        (mt_sics.MtSicsCommand.TARE, b"T\r\n"),
        (mt_sics.MtSicsCommand.RESET, b"@\r\n"),
    ],
)
def test_mt_sics_encodes_commands_with_cr_lf(command: mt_sics.MtSicsCommand, wire: bytes) -> None:
    assert mt_sics.encode(command) == wire


def test_mt_sics_weight_reply_round_trips() -> None:
    wire = mt_sics.encode_weight("-0.25", "kg", stable=False)
    assert wire == b"S D      -0.25 kg\r\n"
    assert mt_sics.decode(wire)[0] == Reading(grams=D("-250.00"), stable=False, division_g=D("10.00"))


# -- Toledo continuous --------------------------------------------------------------------------------------

# STX, SWA '-' (x1, XXX.XXX), SWB '0' (kg, bit 5), SWC ' ', weight 001234, tare 000000, CR
KG_FRAME = b"\x02-0 001234000000\r"


def test_toledo_checksum_is_the_twos_complement_of_the_seven_bit_sum() -> None:
    assert toledo_continuous.checksum(KG_FRAME) == 0x2A
    assert sum(b & 0x7F for b in KG_FRAME + b"\x2a") % 128 == 0


TOLEDO_TABLE: list[tuple[bytes, bool | None, Frame | None, int]] = [
    (
        KG_FRAME + b"*",
        True,
        Reading(grams=D("1234.000"), stable=True, tare_g=D("0.000"), division_g=D("1.000")),
        18,
    ),
    (
        KG_FRAME,
        False,
        Reading(grams=D("1234.000"), stable=True, tare_g=D("0.000"), division_g=D("1.000")),
        17,
    ),
    # auto: the next frame's STX after CR means "no checksum"
    (
        KG_FRAME + KG_FRAME[:1],
        None,
        Reading(grams=D("1234.000"), stable=True, tare_g=D("0.000"), division_g=D("1.000")),
        17,
    ),
    # negative, net, tare 0.200 kg
    (
        b"\x02-3 001234000200\r",
        False,
        Reading(grams=D("-1234.000"), stable=True, net=True, tare_g=D("200.000"), division_g=D("1.000")),
        17,
    ),
    # motion, pounds XXXX.XX: 25.00 lb
    (
        b"\x02,( 002500000000\r",
        False,
        Reading(grams=D("11339.80925"), stable=False, tare_g=D("0.00000"), division_g=D("4.5359237")),
        17,
    ),
    # grams (SWC unit 1), count by 5 of XXXXX.X: 1234.5 g, division 0.5 g
    (
        b"\x02;\x20!012345000000\r",
        False,
        Reading(grams=D("1234.5"), stable=True, tare_g=D("0.0"), division_g=D("0.5")),
        17,
    ),
    # parity bits set on the status words are ignored
    (
        b"\x02\xad\xb0\xa0001234000000\r",
        False,
        Reading(grams=D("1234.000"), stable=True, tare_g=D("0.000"), division_g=D("1.000")),
        17,
    ),
    # out of range, positive: overload; negative: underload
    (
        b"\x02-4 999999000000\r",
        False,
        Reading(grams=None, stable=False, condition=OVER, division_g=D("1.000")),
        17,
    ),
    (
        b"\x02-6 999999000000\r",
        False,
        Reading(grams=None, stable=False, condition=UNDER, division_g=D("1.000")),
        17,
    ),
    # power-up zero not captured: no weight to trust
    (
        b"\x02-p 001234000000\r",
        False,
        Reading(grams=None, stable=False, condition=ERROR, division_g=D("1.000")),
        17,
    ),
    # partial frames
    (KG_FRAME[:9], None, None, 0),
    (KG_FRAME, True, None, 0),
    (KG_FRAME, None, None, 0),
    # garbage
    (b"ab" + KG_FRAME, False, Garbage(raw=b"ab", reason="bytes before STX"), 2),
    (b"zzz", False, Garbage(raw=b"zzz", reason="no STX"), 3),
    (b"\x02-0 0012x4", False, Garbage(raw=b"\x02-0 0012", reason="weight or tare is not six digits"), 8),
    (b"\x02-0 0012340000000\r", False, Garbage(raw=b"\x02", reason="no CR after the tare"), 1),
    (KG_FRAME + b"+", True, Garbage(raw=KG_FRAME, reason="checksum mismatch"), 17),
    (KG_FRAME + b"+", None, Garbage(raw=KG_FRAME, reason="checksum mismatch"), 17),
    (
        b"\x02-0\x27001234000000\r",
        False,
        Garbage(raw=b"\x02-0\x27001234000000\r", reason="custom unit (SWC 7) cannot be converted to grams"),
        17,
    ),
]


@pytest.mark.parametrize(("data", "with_checksum", "frame", "consumed"), TOLEDO_TABLE)
def test_toledo_decodes_status_words_weights_checksums_partials_and_garbage(
    data: bytes, with_checksum: bool | None, frame: Frame | None, consumed: int
) -> None:
    assert toledo_continuous.decode(data, with_checksum=with_checksum) == (frame, consumed)


def test_toledo_encoder_matches_the_hand_built_frame() -> None:
    assert toledo_continuous.encode_frame(1234, decimal_code=5, unit="kg") == KG_FRAME + b"*"
    frame = toledo_continuous.encode_frame(
        -250, 120, decimal_code=3, increment=5, unit="g", net=True, motion=True
    )
    assert toledo_continuous.decode(frame)[0] == Reading(
        grams=D("-25.0"), stable=False, net=True, tare_g=D("12.0"), division_g=D("0.5")
    )


def test_toledo_stream_learns_there_is_no_checksum_and_keeps_the_next_frame() -> None:
    stream = ToledoStream()
    reader = FrameReader(stream)
    frames = reader.feed(KG_FRAME + KG_FRAME + KG_FRAME)
    assert stream.with_checksum is False
    # Once it knows, a frame is read at its CR: no wait for the next frame's first byte.
    assert [type(f) for f in frames] == [Reading, Reading, Reading]
    assert [type(f) for f in reader.feed(KG_FRAME)] == [Reading]


def test_toledo_stream_learns_there_is_a_checksum() -> None:
    stream = ToledoStream()
    frames = FrameReader(stream).feed((KG_FRAME + b"*") * 3)
    assert stream.with_checksum is True
    assert len(frames) == 3


def test_toledo_commands_end_with_cr() -> None:
    assert toledo_continuous.encode(toledo_continuous.ToledoCommand.ZERO) == b"Z\r"


# -- NCI SCP-01 ----------------------------------------------------------------------------------------------

NCI_TABLE: list[tuple[bytes, Frame | None, int]] = [
    (b"\n  1.234kg\r\n00\r\x03", Reading(grams=D("1234.000"), stable=True, division_g=D("1.000")), 16),
    (b"\n 12.50lb\r\n10\r\x03", Reading(grams=D("5669.904625"), stable=False, division_g=D("4.5359237")), 15),
    (b"\n  0.000kg\r\n20\r\x03", Reading(grams=D("0.000"), stable=True, division_g=D("1.000")), 16),
    (b"\n -0.250kg\r\n00\r\x03", Reading(grams=D("-250.000"), stable=True, division_g=D("1.000")), 16),
    (b"\n  1250g\r\n00\r\x03", Reading(grams=D("1250"), stable=True, division_g=D("1")), 14),
    (
        b"\n 10.5oz\r\n00\r\x03",
        Reading(grams=D("297.6699928125"), stable=True, division_g=D("2.8349523125")),
        14,
    ),
    (
        b"\n  1.234kg\r\n0p4\r\x03",
        Reading(grams=D("1234.000"), stable=True, net=True, division_g=D("1.000")),
        17,
    ),
    # over / under capacity and errors carry no weight
    (b"\n^^^^^^kg\r\n02\r\x03", Reading(grams=None, stable=False, condition=OVER), 15),
    (b"\n------kg\r\n01\r\x03", Reading(grams=None, stable=False, condition=UNDER), 15),
    (b"\n  1.234kg\r\n40\r\x03", Reading(grams=None, stable=False, condition=ERROR), 16),
    (b"\n  1.234kg\r\n08\r\x03", Reading(grams=None, stable=False, condition=ERROR), 16),
    # status-only replies (S, Z, T) and the unrecognised-command reply
    (b"\n00\r\x03", Reply(command="status", status="ok", text=""), 5),
    (b"\n02\r\x03", Reply(command="status", status="overload", text="over_capacity"), 5),
    (b"\n?\r\x03", Reply(command="?", status="", text="unrecognised command"), 4),
    # partial frames
    (b"\n  1.234kg\r\n00\r", None, 0),
    (b"\n  1.2", None, 0),
    (b"", None, 0),
    # garbage
    (b"zz\n  1.234kg\r\n00\r\x03", Garbage(raw=b"zz", reason="bytes before LF"), 2),
    (b"abc", Garbage(raw=b"abc", reason="no LF"), 3),
    (b"\n1.0kg\r\nAB\r\x03", Garbage(raw=b"\n1.0kg\r\nAB\r\x03", reason="bad status bytes"), 12),
    (
        b"\nabc kg\r\n00\r\x03",
        Garbage(raw=b"\nabc kg\r\n00\r\x03", reason="weight line is not a number and a unit"),
        13,
    ),
    (b"\n1.0 st\r\n00\r\x03", Garbage(raw=b"\n1.0 st\r\n00\r\x03", reason="unknown unit 'st'"), 13),
    (b"\n1.0kg\r\n00\x03", Garbage(raw=b"\n1.0kg\r\n00\x03", reason="no CR before ETX"), 11),
]


@pytest.mark.parametrize(("data", "frame", "consumed"), NCI_TABLE)
def test_nci_decodes_weights_status_bits_partials_and_garbage(
    data: bytes, frame: Frame | None, consumed: int
) -> None:
    assert nci.decode(data) == (frame, consumed)


def test_nci_noise_without_etx_is_skipped_to_the_next_line_feed() -> None:
    noise = b"\n" + b"x" * nci.MAX_FRAME + b"\n  1.234kg\r\n00\r\x03"
    frame, consumed = nci.decode(noise)
    assert isinstance(frame, Garbage)
    assert nci.decode(noise[consumed:])[0] == Reading(grams=D("1234.000"), stable=True, division_g=D("1.000"))


def test_nci_status_bits_round_trip_through_the_table() -> None:
    flags = frozenset({"motion", "at_zero", "over_capacity", "rom_error", "net"})
    status = nci.decode_status(nci.encode_status(flags, three_bytes=True))
    assert status is not None
    assert status.flags == flags
    assert status.condition is ERROR


@pytest.mark.parametrize(
    ("command", "wire"),
    [(nci.NciCommand.WEIGHT, b"W\r"), (nci.NciCommand.ZERO, b"Z\r"), (nci.NciCommand.STATUS, b"S\r")],
)
def test_nci_encodes_commands_with_cr(command: nci.NciCommand, wire: bytes) -> None:
    assert nci.encode(command) == wire


# -- MQTT weights -----------------------------------------------------------------------------------------


def test_mqtt_weight_payload_of_the_contract_decodes() -> None:
    message = decode_weight(b'{"id": "w-1", "grams": 1234.5, "stable": true}')
    assert (message.id, message.grams, message.stable, message.condition) == (
        "w-1",
        D("1234.5"),
        True,
        ScaleCondition.OK,
    )


def test_mqtt_weight_round_trips_with_a_condition() -> None:
    message = decode_weight(encode_weight("w-2", None, stable=False, condition=OVER))
    assert (message.grams, message.condition) == (None, OVER)


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"grams": 1, "stable": true}',
        b'{"id": "x", "grams": "1", "stable": true}',
        b'{"id": "x", "grams": true, "stable": true}',
        b'{"id": "x", "grams": 1, "stable": "yes"}',
        b'{"id": "x", "grams": 1, "stable": true, "condition": "melted"}',
        b'{"id": "x", "grams": 1e300, "stable": true}',
        b'{"id": "x", "grams": null, "stable": true}',
    ],
)
def test_malformed_mqtt_weights_are_refused_with_a_reason(payload: bytes) -> None:
    with pytest.raises(MalformedWeight):
        decode_weight(payload)


# -- properties: random bytes never crash a codec or the framing ------------------------------------------

DECODERS = {
    "mt-sics": mt_sics.decode,
    "nci": nci.decode,
    "toledo-checksum": lambda b: toledo_continuous.decode(b, with_checksum=True),
    "toledo-plain": lambda b: toledo_continuous.decode(b, with_checksum=False),
    "toledo-auto": toledo_continuous.decode,
}


@pytest.mark.parametrize("name", sorted(DECODERS))
@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_never_crash_a_codec_and_it_always_makes_progress_or_waits(
    name: str, data: bytes
) -> None:
    frame, consumed = DECODERS[name](data)
    if frame is None:
        assert consumed == 0
    else:
        assert 0 < consumed <= len(data)


FRAME_ALPHABET = st.sampled_from(list(b"\x02\x03\n\r0123456789.- SDkgl+?*!,;(")) | st.integers(0, 255)


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
@settings(max_examples=200, deadline=None)
@given(chunks=st.lists(st.lists(FRAME_ALPHABET, max_size=80).map(bytes), max_size=20))
def test_random_chunks_never_crash_the_framing_and_the_buffer_stays_bounded(
    protocol: str, chunks: list[bytes]
) -> None:
    reader = FrameReader(PROTOCOLS[protocol].make_decoder(), max_buffer=256)
    for chunk in chunks:
        for frame in reader.feed(chunk):
            assert isinstance(frame, Reading | Reply | Garbage)
        assert len(reader._buffer) <= 256


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes_never_crash_the_mqtt_weight_decoder(data: bytes) -> None:
    with contextlib.suppress(MalformedWeight):
        decode_weight(data)


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
@settings(max_examples=100, deadline=None)
@given(noise=st.binary(max_size=60))
def test_a_frame_after_noise_and_a_resync_point_is_still_read(protocol: str, noise: bytes) -> None:
    """Whatever noise came before, a clean frame after the protocol's resynchronisation point is decoded."""
    good = {
        "mt-sics": (b"\r\n", mt_sics.encode_weight("1.00", "kg")),
        "nci": (b"\r\x03", nci.encode_weight_reply("1.000", "kg")),
        "toledo-continuous": (b"", toledo_continuous.encode_frame(1000, decimal_code=5) * 3),
    }[protocol]
    reader = FrameReader(PROTOCOLS[protocol].make_decoder())
    # Toledo resynchronises on the next STX by itself; three frames give it one clean start after noise.
    frames = reader.feed(noise.replace(b"\x02", b"") + good[0] + good[1])
    readings = [f for f in frames if isinstance(f, Reading)]
    assert readings
    assert readings[-1].grams == D("1000.000")
