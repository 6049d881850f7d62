"""Mettler Toledo MT-SICS (Standard Interface Command Set) codec: commands out, CR LF terminated replies in.

Level 0/1 subset the edge needs: `S` (stable weight), `SI` (weight now), `SIR` (weight now, repeated),
`Z` (zero), `T` (tare), `@` (reset). Weight replies are `S S <weight> <unit>` (stable) and
`S D <weight> <unit>` (dynamic); `S I` (busy), `S +` (overload), `S -` (underload); `ES`, `ET`, `EL` are
syntax, transmission and logical errors. Every line ends with CR LF.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType

from floorgate.core.commands import ScaleCondition
from floorgate.devices.scales.frames import (
    Frame,
    Garbage,
    Reading,
    Reply,
    UnknownUnit,
    parse_decimal,
    resolution,
    to_grams,
)

TERMINATOR = b"\r\n"
# The longest reply we accept (a weight line is about 20 characters): beyond this without a CR LF the bytes
# are noise, not a frame still arriving.
MAX_LINE = 128


class MtSicsCommand(StrEnum):
    STABLE_WEIGHT = "S"
    WEIGHT_NOW = "SI"
    WEIGHT_REPEAT = "SIR"
    ZERO = "Z"
    TARE = "T"
    RESET = "@"


# Weight-reply status → (stable, condition) for replies that carry a weight ("S S", "S D").
_WEIGHT_STATUS = MappingProxyType({"S": True, "D": False})
# Weight-reply status → condition for replies without a number.
_NO_WEIGHT_STATUS = MappingProxyType({"+": ScaleCondition.OVERLOAD, "-": ScaleCondition.UNDERLOAD})
_ERRORS = frozenset({"ES", "ET", "EL"})
# Replies to zero and tare: A done, I busy, + / - out of range.
_ACK_COMMANDS = frozenset({"Z", "ZI", "T", "TA", "TAC", "@", "I4"})


def encode(command: MtSicsCommand) -> bytes:
    return command.value.encode("ascii") + TERMINATOR


def decode(buffer: bytes | bytearray) -> tuple[Frame | None, int]:
    """One frame from the front of `buffer` and the bytes it used; (None, 0) while a line is incomplete."""
    end = buffer.find(b"\n")
    if end < 0:
        if len(buffer) > MAX_LINE:
            # Keep a trailing CR: it may be the first half of the terminator of a real line.
            keep = 1 if buffer.endswith(b"\r") else 0
            return Garbage(raw=bytes(buffer[: len(buffer) - keep]), reason="no CR LF within a line"), len(
                buffer
            ) - keep
        return None, 0
    consumed = end + 1
    raw = bytes(buffer[:consumed])
    if end == 0 or buffer[end - 1] != 0x0D:
        return Garbage(raw=raw, reason="line feed without carriage return"), consumed
    try:
        text = raw[:-2].decode("ascii")
    except UnicodeDecodeError:
        return Garbage(raw=raw, reason="not ASCII"), consumed
    return _parse(text, raw), consumed


def _parse(text: str, raw: bytes) -> Frame:
    parts = text.split()
    if not parts:
        return Garbage(raw=raw, reason="empty line")
    head = parts[0]
    if head in _ERRORS and len(parts) == 1:
        return Reply(command=head, status="", text=text)
    if head in {"S", "SI", "SIR"}:
        return _weight_reply(parts, text, raw)
    if head in _ACK_COMMANDS and len(parts) >= 2:
        return Reply(command=head, status=parts[1], text=text)
    return Garbage(raw=raw, reason=f"unknown reply {head[:8]!r}")


def _weight_reply(parts: list[str], text: str, raw: bytes) -> Frame:
    if len(parts) == 2:
        condition = _NO_WEIGHT_STATUS.get(parts[1])
        if condition is not None:
            return Reading(grams=None, stable=False, condition=condition)
        if parts[1] in {"I", "L"}:
            return Reply(command=parts[0], status=parts[1], text=text)
        return Garbage(raw=raw, reason=f"unknown weight status {parts[1][:4]!r}")
    if len(parts) != 4 or parts[1] not in _WEIGHT_STATUS:
        return Garbage(raw=raw, reason="malformed weight reply")
    value = parse_decimal(parts[2])
    if value is None:
        return Garbage(raw=raw, reason="weight is not a number")
    try:
        grams = to_grams(value, parts[3])
        division = to_grams(resolution(parts[2]), parts[3])
    except UnknownUnit:
        return Garbage(raw=raw, reason=f"unknown unit {parts[3][:8]!r}")
    return Reading(grams=grams, stable=_WEIGHT_STATUS[parts[1]], division_g=division)


def encode_weight(
    weight: str, unit: str = "g", *, stable: bool = True, command: MtSicsCommand = MtSicsCommand.WEIGHT_NOW
) -> bytes:
    """A weight reply as a balance sends it (the weight right-aligned in ten characters)."""
    del command  # S, SI and SIR all answer with an "S" line
    return f"S {'S' if stable else 'D'} {weight:>10} {unit}".encode("ascii") + TERMINATOR


def encode_reply(command: str, status: str = "") -> bytes:
    """A reply without a weight: "S +", "Z A", "ES"."""
    return (f"{command} {status}" if status else command).encode("ascii") + TERMINATOR
