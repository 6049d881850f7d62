"""Serial scanner framing through byte tables: whole, partial, empty and malformed frames."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from floorgate.devices.scanners.serial_framing import Frame, Garbage, Scan, SerialFramer, SerialFraming

pytestmark = pytest.mark.unit

CR = SerialFraming()
STX_ETX = SerialFraming(prefix=b"\x02", suffix=b"\x03")


@pytest.mark.parametrize(
    ("framing", "buffer", "frame", "consumed"),
    [
        (CR, b"O-1\r", Scan("O-1"), 4),
        (CR, b"O-1", None, 0),  # partial: wait for the suffix
        (CR, b"\r", None, 1),  # an empty line: consumed, nothing to report
        (CR, b"\nO-1\r", Scan("O-1"), 5),  # the LF of a CR LF scanner in front of the next code
        (CR, b"]C10104006381333931\x1d21S\r", Scan("]C10104006381333931\x1d21S"), 24),
        (CR, b"A\x00B\r", Garbage(b"A\x00B", "control characters in the code"), 4),
        (CR, b"caf\xe9\r", Scan("café"), 5),  # a Latin code page
        (STX_ETX, b"\x02O-1\x03", Scan("O-1"), 5),
        (STX_ETX, b"\x02O-1", None, 0),
        (STX_ETX, b"O-1\x03", Garbage(b"O-1", "no prefix"), 4),
        (STX_ETX, b"zz\x02O-1\x03", Garbage(b"zz", "bytes before the prefix"), 2),
        (SerialFraming(suffix=b"\r\n"), b"O-1\r\nO-2", Scan("O-1"), 5),
        (
            SerialFraming(max_length=4),
            b"123456789012345",
            Garbage(b"123456789012345", "no suffix within the longest code"),
            15,
        ),
        (SerialFraming(max_length=4), b"12345\r", Garbage(b"12345", "longer than the longest code"), 6),
    ],
)
def test_frames_decode_from_byte_tables(
    framing: SerialFraming, buffer: bytes, frame: Frame | None, consumed: int
) -> None:
    assert framing.decode(buffer) == (frame, consumed)


def test_the_framer_carries_partial_codes_across_reads() -> None:
    framer = SerialFramer(CR)
    assert framer.feed(b"O-") == []
    assert framer.feed(b"1\rT-9\rOP:") == [Scan("O-1"), Scan("T-9")]
    assert framer.feed(b"ann\r\n") == [Scan("OP:ann")]


def test_garbage_is_counted_and_the_next_code_still_reads() -> None:
    framer = SerialFramer(STX_ETX)
    assert framer.feed(b"noise\x02O-1\x03") == [Garbage(b"noise", "bytes before the prefix"), Scan("O-1")]
    assert framer.garbage == 1


def test_a_suffix_is_required() -> None:
    with pytest.raises(ValueError, match="suffix"):
        SerialFraming(suffix=b"")


@given(
    st.sampled_from([CR, STX_ETX, SerialFraming(suffix=b"\r\n", max_length=8)]),
    st.lists(st.binary(max_size=64), max_size=20),
)
def test_any_bytes_on_the_line_never_crash_the_framer(framing: SerialFraming, chunks: list[bytes]) -> None:
    framer = SerialFramer(framing)
    for chunk in chunks:
        for frame in framer.feed(chunk):
            assert isinstance(frame, Scan | Garbage)


@given(
    st.lists(
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=30), max_size=10
    ),
    st.integers(1, 7),
)
def test_codes_split_anywhere_come_out_whole_and_in_order(codes: list[str], cut: int) -> None:
    data = b"".join(code.encode() + b"\r" for code in codes)
    framer = SerialFramer(CR)
    frames = [f for i in range(0, len(data), cut) for f in framer.feed(data[i : i + cut])]
    assert frames == [Scan(c) for c in codes]
