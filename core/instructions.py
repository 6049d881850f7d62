"""Device instructions: what the floor tells modules to show after a commit."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Blink(StrEnum):
    NONE = "none"
    SLOW = "slow"
    FAST = "fast"


# Okabe-Ito-derived colours a PTL module can show, most distinguishable first under the common colour
# vision deficiencies. Red is never a picker's colour: it is kept for errors and always flashes fast.
PICKER_PALETTE: tuple[str, ...] = ("blue", "orange", "green", "yellow", "magenta", "cyan", "white")
ERROR_COLOR = "red"


@dataclass(frozen=True, kw_only=True, slots=True)
class LightBin:
    """Light a module: colour, blink and the quantity (or text) on its display."""

    module: str
    seq: int
    color: str
    blink: Blink
    display: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ClearBin:
    """Turn a module off."""

    module: str
    seq: int


Instruction = LightBin | ClearBin
