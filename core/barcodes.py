"""Barcode interpretation: AIM symbology identifiers, GS1 element strings (via biip) and the scan grammar (pure).

`interpret()` turns what a scanner read into a `Barcode` of our own; no biip type leaves this module.
The grammar (badges, totes, order references, items, containers) is described in docs/scanning.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from biip.gs1_messages import GS1Message

# ISO/IEC 15424 symbology identifier: "]" + code character + modifier character, e.g. ]C1, ]d2, ]Q3, ]e0.
_AIM_PREFIX = re.compile(r"^\][A-Za-z][0-9A-Za-z]")

GROUP_SEPARATOR = "\x1d"
# The most characters one barcode holds (a QR code of 7089 digits). Interpreting costs time in proportion to
# the length, and a scan is interpreted inside the single writer: longer input is refused before parsing.
MAX_CODE_CHARS = 7089

# Symbologies whose data is a GS1 element string (FNC1 in first position): GS1-128, GS1 DataMatrix,
# GS1 QR, GS1 DataBar (and its expanded forms), GS1 DotCode.
GS1_SYMBOLOGIES = frozenset({"]C1", "]d2", "]Q3", "]e0", "]e1", "]e2", "]J1"})
# Symbologies that carry a bare GTIN: EAN-13/UPC-A (]E0), EAN-8 (]E4), ITF-14 (]I1).
GTIN_SYMBOLOGIES = frozenset({"]E0", "]E4", "]I1"})
_GTIN_LENGTHS = frozenset({8, 12, 13, 14})
# Application identifiers that make an element string an item or a container label.
_ITEM_AIS = frozenset({"01", "02"})
_CONTAINER_AI = "00"


class CodeKind(StrEnum):
    """What a scanned code is, before the floor decides what it means at a station."""

    BADGE = "badge"  # an operator's badge: `OP:<id>` (prefixes in ScanGrammar)
    TOTE = "tote"  # an explicit tote label: `TOTE:<id>`
    ORDER = "order"  # an explicit order reference: `ORD:<id>`
    ITEM = "item"  # a GTIN, bare (EAN/UPC/ITF-14) or in a GS1 element string with AI 01/02
    CONTAINER = "container"  # an SSCC (AI 00) shipping label
    INVALID = "invalid"  # looks like a GTIN/GS1 code but fails its check digit or syntax
    TEXT = "text"  # anything else; the flow looks it up as an order id or a tote


@dataclass(frozen=True, kw_only=True, slots=True)
class ScanGrammar:
    """Prefixes that mark badges, totes and order references; compared without regard to case."""

    badge_prefixes: tuple[str, ...] = ("OP:",)
    tote_prefixes: tuple[str, ...] = ("TOTE:",)
    order_prefixes: tuple[str, ...] = ("ORD:",)


DEFAULT_GRAMMAR = ScanGrammar()


@dataclass(frozen=True, kw_only=True, slots=True)
class Barcode:
    """A scanned code, interpreted. `value` is the badge id, tote, order id, GTIN-14, SSCC or the text."""

    raw: str
    symbology: str | None
    code: str
    kind: CodeKind
    value: str
    gtin: str | None = None
    lot: str | None = None
    serial: str | None = None
    expiry: str | None = None  # ISO date (AI 17)
    sscc: str | None = None
    count: int | None = None
    problem: str | None = None


def split_symbology(data: str) -> tuple[str | None, str]:
    """(`]C1`-style symbology identifier or None, the code without it)."""
    match = _AIM_PREFIX.match(data)
    if match is None:
        return None, data
    return match.group(0), data[match.end() :]


def gtin_check_digit_ok(digits: str) -> bool:
    """The GS1 mod-10 check digit of a GTIN-8/12/13/14."""
    return len(digits) in _GTIN_LENGTHS and _mod10_ok(digits)


def normalize_gtin(text: str) -> str | None:
    """The GTIN-14 form of a GTIN-8/12/13/14 with a valid check digit, else None."""
    digits = text.strip()
    if not gtin_check_digit_ok(digits):
        return None
    return digits.zfill(14)


def interpret(data: str, grammar: ScanGrammar = DEFAULT_GRAMMAR) -> Barcode:
    """Interpret a scan: AIM prefix, then the grammar's prefixes, then GS1 and GTIN, else text."""
    raw = data
    symbology, code = split_symbology(data.strip("\r\n"))
    if len(code) > MAX_CODE_CHARS:
        problem = f"{len(code)} characters is longer than any barcode ({MAX_CODE_CHARS})"
        return _invalid(raw, symbology, code, problem)
    # A leading GS is how some scanners transmit FNC1 in first position; it carries no data.
    code = code.lstrip(GROUP_SEPARATOR)
    for kind, prefixes in (
        (CodeKind.BADGE, grammar.badge_prefixes),
        (CodeKind.TOTE, grammar.tote_prefixes),
        (CodeKind.ORDER, grammar.order_prefixes),
    ):
        value = _after_prefix(code, prefixes)
        if value is not None:
            return Barcode(raw=raw, symbology=symbology, code=code, kind=kind, value=value)
    if symbology in GS1_SYMBOLOGIES:
        return _gs1(raw, symbology, code, required=True)
    if symbology in GTIN_SYMBOLOGIES or (symbology is None and len(code) in _GTIN_LENGTHS):
        gtin = normalize_gtin(code)
        if gtin is not None:
            return Barcode(raw=raw, symbology=symbology, code=code, kind=CodeKind.ITEM, value=gtin, gtin=gtin)
        if symbology is not None:
            return _invalid(raw, symbology, code, f"{code!r} is not a GTIN with a valid check digit")
    if symbology is None and code[:2] in {*_ITEM_AIS, _CONTAINER_AI} and code.isascii():
        parsed = _gs1(raw, symbology, code, required=False)
        if parsed.kind is not CodeKind.TEXT:
            return parsed
    return Barcode(raw=raw, symbology=symbology, code=code, kind=CodeKind.TEXT, value=code)


def _after_prefix(code: str, prefixes: tuple[str, ...]) -> str | None:
    folded = code.casefold()
    for prefix in prefixes:
        if prefix and folded.startswith(prefix.casefold()):
            value = code[len(prefix) :].strip()
            return value or None
    return None


def _invalid(raw: str, symbology: str | None, code: str, problem: str) -> Barcode:
    return Barcode(
        raw=raw, symbology=symbology, code=code, kind=CodeKind.INVALID, value=code, problem=problem
    )


def _gs1(raw: str, symbology: str | None, code: str, *, required: bool) -> Barcode:
    """A GS1 element string. `required`: the symbology says it is one, so a failure is INVALID, not text."""
    message, problem = _parse_gs1(code)
    if message is None:
        if required:
            return _invalid(raw, symbology, code, problem or "not a GS1 element string")
        return Barcode(raw=raw, symbology=symbology, code=code, kind=CodeKind.TEXT, value=code)
    fields: dict[str, str] = {}
    for element in message.element_strings:
        # The first occurrence wins; a repeated AI in one symbol is a label error we do not guess about.
        fields.setdefault(element.ai.ai, element.value)
        if element.ai.ai == "17" and element.date is not None:
            fields.setdefault("expiry", element.date.isoformat())
    count_text = fields.get("30")
    count = int(count_text) if count_text is not None and count_text.isdigit() else None
    found = Barcode(
        raw=raw,
        symbology=symbology,
        code=code,
        kind=CodeKind.TEXT,
        value=code,
        lot=fields.get("10"),
        serial=fields.get("21"),
        expiry=fields.get("expiry"),
        count=count,
    )
    item = fields.get("01") or fields.get("02")
    if item is not None:
        gtin = normalize_gtin(item)
        if gtin is None:
            return _invalid(raw, symbology, code, f"GTIN {item!r} has a wrong check digit")
        return replace(found, kind=CodeKind.ITEM, value=gtin, gtin=gtin)
    sscc = fields.get(_CONTAINER_AI)
    if sscc is not None:
        if len(sscc) != 18 or not _mod10_ok(sscc):
            return _invalid(raw, symbology, code, f"SSCC {sscc!r} has a wrong check digit")
        return replace(found, kind=CodeKind.CONTAINER, value=sscc, sscc=sscc)
    if required:
        return _invalid(raw, symbology, code, "a GS1 element string without a GTIN (01/02) or SSCC (00)")
    return Barcode(raw=raw, symbology=symbology, code=code, kind=CodeKind.TEXT, value=code)


def preload() -> None:
    """Import biip (its GS1 tables take a twentieth of a second to load) now rather than at the first scan:
    a start does so once the floor's lights are out, leaving it out of the restart's first moments."""
    import biip  # noqa: F401 - imported for its side effect: loaded once, then a lookup


def _parse_gs1(code: str) -> tuple[GS1Message | None, str | None]:
    import biip  # loaded by `preload` at start-up; a dictionary lookup from then on

    if not code:
        return None, "empty code"
    try:
        result = biip.parse(code)
    except biip.BiipException as err:
        return None, str(err)
    message = result.gs1_message
    if message is None or not message.element_strings:
        return None, result.gs1_message_error
    return message, None


def _mod10_ok(digits: str) -> bool:
    """The GS1 mod-10 check digit (GTINs, SSCCs): weights 3,1,3,... from the digit before the check."""
    if not digits.isdigit() or not digits.isascii() or len(digits) < 2:
        return False
    body = [int(c) for c in digits[:-1]]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == int(digits[-1])
