"""What the scale codecs decode to: a reading in exact grams, a reply to a command, or garbage to skip."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

from floorgate.core.commands import ScaleCondition

# Exact factors (international avoirdupois pound 0.45359237 kg by definition, ounce = pound / 16, troy
# ounce 31.1034768 g, pennyweight = troy ounce / 20, carat 0.2 g, short ton 2000 lb): Decimal keeps
# 1.25 lb = 566.9904625 g exact, where float arithmetic would drift.
GRAMS_PER_UNIT: Mapping[str, Decimal] = MappingProxyType(
    {
        "mg": Decimal("0.001"),
        "g": Decimal(1),
        "kg": Decimal(1000),
        "t": Decimal(1_000_000),
        "lb": Decimal("453.59237"),
        "oz": Decimal("28.349523125"),
        "ozt": Decimal("31.1034768"),
        "dwt": Decimal("1.55517384"),
        "ct": Decimal("0.2"),
        "ton": Decimal("907184.74"),
    }
)


class UnknownUnit(ValueError):
    """A unit of weight no table here knows: the reading cannot be turned into grams."""


def to_grams(value: Decimal, unit: str) -> Decimal:
    factor = GRAMS_PER_UNIT.get(unit.strip().lower())
    if factor is None:
        raise UnknownUnit(unit)
    return value * factor


def parse_decimal(text: str) -> Decimal | None:
    """A decimal number as scales print it (sign, digits, one point), or None when it is not one."""
    cleaned = text.strip()
    if not cleaned or any(c not in "0123456789.-+" for c in cleaned):
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def resolution(text: str) -> Decimal:
    """The step of the last printed digit: "12.35" → 0.01, "1200" → 1."""
    cleaned = text.strip().lstrip("+-")
    if "." not in cleaned:
        return Decimal(1)
    return Decimal(1).scaleb(-len(cleaned.split(".", 1)[1]))


@dataclass(frozen=True, kw_only=True, slots=True)
class Reading:
    """One weight from a scale. `grams` is None when there is no number (overload, underload, error).

    `division_g` is the scale's display step in grams when the frame tells it: the stability fallback
    calls readings "the same" when they are within one division.
    """

    grams: Decimal | None
    stable: bool
    condition: ScaleCondition = ScaleCondition.OK
    net: bool = False
    tare_g: Decimal | None = None
    division_g: Decimal | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Reply:
    """An answer that carries no weight: a command acknowledged, refused, or an error code."""

    command: str
    status: str
    text: str = ""

    @property
    def is_error(self) -> bool:
        return self.command in {"ES", "ET", "EL", "?"} or self.status in {"I", "L"}


@dataclass(frozen=True, kw_only=True, slots=True)
class Garbage:
    """Bytes that are no frame of the protocol; the codec skipped them to find the next frame."""

    raw: bytes
    reason: str


Frame = Reading | Reply | Garbage
