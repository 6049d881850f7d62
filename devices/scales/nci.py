"""NCI / Weigh-Tronix SCP-01 codec: single-letter commands out, LF … CR ETX framed replies in.

    W<CR>  →  <LF>  1.234kg<CR><LF>hh<CR><ETX>      weight, unit, status bytes
    S<CR>  →  <LF>hh<CR><ETX>                         status only (also the reply to Z and T)
    other  →  <LF>?<CR><ETX>                          unrecognised command

Status bytes are ASCII characters with bits 4 and 5 always set (so "00" is all clear); bit 7 is parity
and bit 6 of a byte says another status byte follows. The bits the edge uses are in `STATUS_BITS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

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

LF = 0x0A
CR = 0x0D
ETX = 0x03
# Longer than any reply (weight line ~12, three status bytes): beyond this without ETX it is noise.
MAX_FRAME = 64

_WEIGHT_LINE = re.compile(r"^\s*([-+]?\s*[0-9]*\.?[0-9]+)\s*([A-Za-z]+)\s*$")


class NciCommand(StrEnum):
    WEIGHT = "W"
    STATUS = "S"
    ZERO = "Z"
    TARE = "T"
    HIGH_RESOLUTION = "H"


@dataclass(frozen=True, slots=True)
class StatusBit:
    byte: int
    bit: int
    flag: str


STATUS_BITS: tuple[StatusBit, ...] = (
    StatusBit(0, 0, "motion"),
    StatusBit(0, 1, "at_zero"),
    StatusBit(0, 2, "ram_error"),
    StatusBit(0, 3, "eeprom_error"),
    StatusBit(1, 0, "under_capacity"),
    StatusBit(1, 1, "over_capacity"),
    StatusBit(1, 2, "rom_error"),
    StatusBit(1, 3, "calibration_error"),
    StatusBit(2, 2, "net"),
    StatusBit(2, 3, "initial_zero_error"),
)
ERROR_FLAGS = frozenset({"ram_error", "eeprom_error", "rom_error", "calibration_error", "initial_zero_error"})


@dataclass(frozen=True, slots=True)
class NciStatus:
    flags: frozenset[str]

    @property
    def condition(self) -> ScaleCondition:
        if self.flags & ERROR_FLAGS:
            return ScaleCondition.ERROR
        if "over_capacity" in self.flags:
            return ScaleCondition.OVERLOAD
        if "under_capacity" in self.flags:
            return ScaleCondition.UNDERLOAD
        return ScaleCondition.OK


def encode(command: NciCommand) -> bytes:
    return command.value.encode("ascii") + b"\r"


def decode_status(raw: bytes) -> NciStatus | None:
    """The status bytes of a reply, or None when they are not status bytes (bits 4 and 5 must be set)."""
    if not 1 <= len(raw) <= 4:
        return None
    values = [b & 0x7F for b in raw]
    if any(v & 0x30 != 0x30 for v in values):
        return None
    return NciStatus(
        frozenset(
            row.flag for row in STATUS_BITS if row.byte < len(values) and values[row.byte] >> row.bit & 1
        )
    )


def encode_status(flags: frozenset[str] | set[str], *, three_bytes: bool = False) -> bytes:
    count = 3 if three_bytes else 2
    values = [0x30] * count
    for row in STATUS_BITS:
        if row.flag in flags and row.byte < count:
            values[row.byte] |= 1 << row.bit
    for index in range(count - 1):
        if index > 0:
            values[index] |= 0x40  # another byte follows (byte 1 never carries this bit)
    return bytes(values)


def decode(buffer: bytes | bytearray) -> tuple[Frame | None, int]:
    """One reply from the front of `buffer`; (None, 0) while it is incomplete."""
    start = buffer.find(b"\n")
    if start < 0:
        return (Garbage(raw=bytes(buffer), reason="no LF"), len(buffer)) if buffer else (None, 0)
    if start > 0:
        return Garbage(raw=bytes(buffer[:start]), reason="bytes before LF"), start
    end = buffer.find(bytes([ETX]), 0, MAX_FRAME + 1)
    if end < 0:
        if len(buffer) > MAX_FRAME:
            # Skip to the next LF that could start a reply.
            again = buffer.find(b"\n", 1)
            skip = again if again > 0 else len(buffer)
            return Garbage(raw=bytes(buffer[:skip]), reason="no ETX within a reply"), skip
        return None, 0
    consumed = end + 1
    raw = bytes(buffer[:consumed])
    body = raw[1:-1]
    if not body.endswith(b"\r"):
        return Garbage(raw=raw, reason="no CR before ETX"), consumed
    lines = body[:-1].split(b"\r\n")
    if len(lines) == 1:
        if lines[0] == b"?":
            return Reply(command="?", status="", text="unrecognised command"), consumed
        status = decode_status(lines[0])
        if status is None:
            return Garbage(raw=raw, reason="bad status bytes"), consumed
        return Reply(
            command="status", status=status.condition.value, text=",".join(sorted(status.flags))
        ), consumed
    if len(lines) != 2:
        return Garbage(raw=raw, reason="too many lines"), consumed
    status = decode_status(lines[1])
    if status is None:
        return Garbage(raw=raw, reason="bad status bytes"), consumed
    return _reading(lines[0], status, raw), consumed


def _reading(line: bytes, status: NciStatus, raw: bytes) -> Frame:
    condition = status.condition
    stable = "motion" not in status.flags
    net = "net" in status.flags
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    match = _WEIGHT_LINE.match(text)
    if condition is not ScaleCondition.OK:
        # Over capacity or an error: indicators print dashes or the last number; neither is a weight.
        return Reading(grams=None, stable=False, condition=condition, net=net)
    if match is None:
        return Garbage(raw=raw, reason="weight line is not a number and a unit")
    number = match.group(1).replace(" ", "")
    value = parse_decimal(number)
    if value is None:
        return Garbage(raw=raw, reason="weight is not a number")
    try:
        grams = to_grams(value, match.group(2))
        division = to_grams(resolution(number), match.group(2))
    except UnknownUnit:
        return Garbage(raw=raw, reason=f"unknown unit {match.group(2)[:8]!r}")
    return Reading(grams=grams, stable=stable, net=net, division_g=division)


def encode_weight_reply(weight: str, unit: str, flags: frozenset[str] | set[str] = frozenset()) -> bytes:
    """A reply to W as a scale sends it."""
    return b"\n" + f"{weight}{unit}".encode("ascii") + b"\r\n" + encode_status(flags) + b"\r\x03"


def encode_status_reply(flags: frozenset[str] | set[str] = frozenset()) -> bytes:
    return b"\n" + encode_status(flags) + b"\r\x03"


UNRECOGNISED = b"\n?\r\x03"
