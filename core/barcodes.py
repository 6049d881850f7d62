"""Barcode interpretation: AIM symbology identifiers and the codes behind them (pure)."""

from __future__ import annotations

import re

# ISO/IEC 15424 symbology identifier: "]" + code character + modifier character, e.g. ]C1, ]d2, ]Q3, ]e0.
_AIM_PREFIX = re.compile(r"^\][A-Za-z][0-9A-Za-z]")


def split_symbology(data: str) -> tuple[str | None, str]:
    """(`]C1`-style symbology identifier or None, the code without it)."""
    match = _AIM_PREFIX.match(data)
    if match is None:
        return None, data
    return match.group(0), data[match.end() :]
