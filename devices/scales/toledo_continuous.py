"""Toledo continuous output codec: the stream of 17-byte frames (18 with a checksum) a scale sends unasked.

    STX SWA SWB SWC  w w w w w w  t t t t t t  CR [CHK]

Status words A, B and C are bit fields (bit 7 is parity and ignored); the weight and tare are six digits
with neither sign nor decimal point: SWA says where the point is and the display increment, SWB the
sign, net/gross, motion, out of range and lb/kg, SWC other units. CHK is the two's complement of the sum
of the lower 7 bits of every byte from STX to CR, so all of them plus CHK sum to 0 modulo 128.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from floorgate.core.commands import ScaleCondition
from floorgate.devices.scales.frames import Frame, Garbage, Reading, to_grams

STX = 0x02
CR = 0x0D
FRAME_LEN = 17  # STX, three status words, 6 weight digits, 6 tare digits, CR
CHECKSUM_LEN = FRAME_LEN + 1

# SWA bits 0-2: where the decimal point is, as a power of ten applied to the six digits.
DECIMAL_EXPONENT: MappingProxyType[int, int] = MappingProxyType(
    {0: 2, 1: 1, 2: 0, 3: -1, 4: -2, 5: -3, 6: -4, 7: -5}
)
# SWA bits 3-4: the display increment (count by 1, 2 or 5 of the last digit).
INCREMENT: MappingProxyType[int, int] = MappingProxyType({1: 1, 2: 2, 3: 5})


@dataclass(frozen=True, slots=True)
class StatusBit:
    word: int  # 0 = SWA, 1 = SWB, 2 = SWC
    bit: int
    flag: str


# SWB and SWC flags, one row per bit the edge uses.
STATUS_BITS: tuple[StatusBit, ...] = (
    StatusBit(1, 0, "net"),
    StatusBit(1, 1, "negative"),
    StatusBit(1, 2, "out_of_range"),
    StatusBit(1, 3, "motion"),
    StatusBit(1, 4, "kg"),
    StatusBit(1, 6, "zero_not_captured"),  # power-up zero not yet taken: the weight means nothing
    StatusBit(2, 3, "print_request"),
    StatusBit(2, 4, "expanded"),  # weight shown x10: one more digit of resolution
)
# SWC bits 0-2: the unit, where 0 means "lb or kg as SWB bit 4 says".
SWC_UNITS: MappingProxyType[int, str] = MappingProxyType(
    {1: "g", 2: "t", 3: "oz", 4: "ozt", 5: "dwt", 6: "ton"}
)
_UNIT_CODES = MappingProxyType({unit: code for code, unit in SWC_UNITS.items()})


class ToledoCommand(StrEnum):
    """Commands a scale in continuous mode accepts (CR terminated)."""

    PRINT = "P"
    TARE = "T"
    ZERO = "Z"
    CLEAR = "C"


def encode(command: ToledoCommand) -> bytes:
    return command.value.encode("ascii") + b"\r"


def checksum(frame: bytes | bytearray) -> int:
    return -sum(b & 0x7F for b in frame) & 0x7F


def flags_of(swa: int, swb: int, swc: int) -> frozenset[str]:
    words = (swa, swb, swc)
    return frozenset(row.flag for row in STATUS_BITS if words[row.word] >> row.bit & 1)


def decode(buffer: bytes | bytearray, *, with_checksum: bool | None = None) -> tuple[Frame | None, int]:
    """One frame from the front of `buffer`; (None, 0) while it is incomplete.

    `with_checksum`: True or False when the scale is configured so; None tells them apart frame by frame
    (the byte after CR is a checksum unless it is the next frame's STX and would not check out).
    """
    start = _find_stx(buffer)
    if start < 0:
        return (Garbage(raw=bytes(buffer), reason="no STX"), len(buffer)) if buffer else (None, 0)
    if start > 0:
        return Garbage(raw=bytes(buffer[:start]), reason="bytes before STX"), start
    # Fail fast on a frame that cannot be one (a CR too early or a non-digit), so one lost byte costs
    # one frame and not a wait for the next 17 bytes.
    for index in range(4, min(len(buffer), FRAME_LEN - 1)):
        if not _is_digit(buffer[index]):
            return Garbage(raw=bytes(buffer[:index]), reason="weight or tare is not six digits"), index
    if len(buffer) < FRAME_LEN:
        return None, 0
    if buffer[FRAME_LEN - 1] & 0x7F != CR:
        return Garbage(raw=bytes(buffer[:1]), reason="no CR after the tare"), 1
    body = bytes(buffer[:FRAME_LEN])
    if with_checksum is False:
        return _parse(body), FRAME_LEN
    if len(buffer) < CHECKSUM_LEN:
        return None, 0
    chk = buffer[FRAME_LEN] & 0x7F
    good = chk == checksum(body)
    if with_checksum is None and chk == STX and not good:
        return _parse(body), FRAME_LEN
    if not good:
        # Leave the byte after CR: if it is the next STX (a scale without checksum) it resynchronises.
        return Garbage(raw=body, reason="checksum mismatch"), FRAME_LEN
    return _parse(body), CHECKSUM_LEN


def _find_stx(buffer: bytes | bytearray) -> int:
    for index, byte in enumerate(buffer):
        if byte & 0x7F == STX:
            return index
    return -1


def _is_digit(byte: int) -> bool:
    char = byte & 0x7F
    # Some indicators blank leading zeros with spaces.
    return 0x30 <= char <= 0x39 or char == 0x20


def _digits(field: bytes) -> Decimal:
    return Decimal(bytes(b & 0x7F for b in field).decode("ascii").replace(" ", "0"))


def _parse(frame: bytes) -> Frame:
    swa, swb, swc = (b & 0x7F for b in frame[1:4])
    flags = flags_of(swa, swb, swc)
    exponent = DECIMAL_EXPONENT[swa & 0b111] - (1 if "expanded" in flags else 0)
    increment = INCREMENT.get(swa >> 3 & 0b11, 1)
    unit_code = swc & 0b111
    if unit_code == 0:
        unit = "kg" if "kg" in flags else "lb"
    elif unit_code in SWC_UNITS:
        unit = SWC_UNITS[unit_code]
    else:
        return Garbage(raw=frame, reason="custom unit (SWC 7) cannot be converted to grams")
    stable = "motion" not in flags
    division = to_grams(Decimal(increment).scaleb(exponent), unit)
    if "out_of_range" in flags:
        condition = ScaleCondition.UNDERLOAD if "negative" in flags else ScaleCondition.OVERLOAD
        return Reading(grams=None, stable=False, condition=condition, net="net" in flags, division_g=division)
    if "zero_not_captured" in flags:
        return Reading(grams=None, stable=False, condition=ScaleCondition.ERROR, division_g=division)
    weight = to_grams(_digits(frame[4:10]).scaleb(exponent), unit)
    tare = to_grams(_digits(frame[10:16]).scaleb(exponent), unit)
    return Reading(
        grams=-weight if "negative" in flags else weight,
        stable=stable,
        net="net" in flags,
        tare_g=tare,
        division_g=division,
    )


def encode_frame(
    weight_counts: int,
    tare_counts: int = 0,
    *,
    decimal_code: int = 2,
    increment: int = 1,
    unit: str = "kg",
    net: bool = False,
    motion: bool = False,
    out_of_range: bool = False,
    zero_not_captured: bool = False,
    with_checksum: bool = True,
) -> bytes:
    """A frame as an indicator sends it; `weight_counts` is the signed display value without its point."""
    increment_code = next(code for code, step in INCREMENT.items() if step == increment)
    swa = 0b0100000 | increment_code << 3 | decimal_code
    swb = (
        0b0100000
        | int(net)
        | int(weight_counts < 0) << 1
        | int(out_of_range) << 2
        | int(motion) << 3
        | int(unit == "kg") << 4
        | int(zero_not_captured) << 6
    )
    swc = 0b0100000 | (0 if unit in {"kg", "lb"} else _UNIT_CODES[unit])
    body = (
        bytes([STX, swa, swb, swc])
        + f"{min(abs(weight_counts), 999_999):06d}".encode("ascii")
        + f"{min(abs(tare_counts), 999_999):06d}".encode("ascii")
        + bytes([CR])
    )
    return body + bytes([checksum(body)]) if with_checksum else body
