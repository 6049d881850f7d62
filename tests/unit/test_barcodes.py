"""Barcode interpretation: AIM prefixes, GS1 element strings through biip, check digits and the scan grammar."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from floorgate.core.barcodes import (
    Barcode,
    CodeKind,
    ScanGrammar,
    gtin_check_digit_ok,
    interpret,
    normalize_gtin,
    split_symbology,
)

pytestmark = pytest.mark.unit

GS = "\x1d"
GTIN13 = "4006381333931"
GTIN14 = "04006381333931"


@pytest.mark.parametrize(
    ("data", "symbology", "code"),
    [
        ("]C1010400638133393110ABC", "]C1", "010400638133393110ABC"),
        ("]d2" + "01" + GTIN14, "]d2", "01" + GTIN14),
        ("]Q3" + "01" + GTIN14, "]Q3", "01" + GTIN14),
        ("]e0" + "01" + GTIN14, "]e0", "01" + GTIN14),
        ("]E0" + GTIN13, "]E0", GTIN13),
        ("]E4" + "96385074", "]E4", "96385074"),
        ("]I1" + GTIN14, "]I1", GTIN14),
        ("O-1", None, "O-1"),
        ("]", None, "]"),
    ],
)
def test_the_aim_symbology_identifier_is_split_from_the_code(
    data: str, symbology: str | None, code: str
) -> None:
    assert split_symbology(data) == (symbology, code)


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        (GTIN13, True),
        (GTIN14, True),
        ("96385074", True),
        ("036000291452", True),
        ("4006381333932", False),
        ("400638133393", False),
        ("40063813339a1", False),
        ("", False),
    ],
)
def test_gtin_check_digits_are_verified(digits: str, ok: bool) -> None:
    assert gtin_check_digit_ok(digits) is ok


def test_gtins_of_every_length_normalise_to_gtin_14() -> None:
    assert normalize_gtin(GTIN13) == GTIN14
    assert normalize_gtin("96385074") == "00000096385074"
    assert normalize_gtin("036000291452") == "00036000291452"
    assert normalize_gtin("4006381333932") is None


def test_a_gs1_128_item_scan_gives_gtin_lot_serial_and_expiry() -> None:
    barcode = interpret(f"]C101{GTIN14}10LOT-7{GS}17261231{GS}21SN0042")

    assert barcode.kind is CodeKind.ITEM
    assert barcode.symbology == "]C1"
    assert (barcode.gtin, barcode.lot, barcode.serial, barcode.expiry) == (
        GTIN14,
        "LOT-7",
        "SN0042",
        "2026-12-31",
    )


def test_a_gs1_datamatrix_item_with_count_is_read() -> None:
    barcode = interpret(f"]d201{GTIN14}30{12}")
    assert (barcode.kind, barcode.gtin, barcode.count) == (CodeKind.ITEM, GTIN14, 12)


@pytest.mark.parametrize("symbology", ["]C1", "]d2", "]Q3", "]e0"])
def test_every_gs1_symbology_carries_an_element_string(symbology: str) -> None:
    barcode = interpret(f"{symbology}01{GTIN14}21S1")
    assert (barcode.kind, barcode.gtin, barcode.serial) == (CodeKind.ITEM, GTIN14, "S1")


@pytest.mark.parametrize(
    "data", ["]E0" + GTIN13, "]E4" + "96385074", "]I1" + GTIN14, GTIN13, "036000291452", "01" + GTIN14]
)
def test_bare_gtins_are_items(data: str) -> None:
    barcode = interpret(data)
    assert barcode.kind is CodeKind.ITEM
    assert barcode.gtin == normalize_gtin(barcode.gtin or "")


def test_an_sscc_is_a_container_label() -> None:
    barcode = interpret("]C100106141411234567897")
    assert (barcode.kind, barcode.sscc) == (CodeKind.CONTAINER, "106141411234567897")


@pytest.mark.parametrize(
    "data",
    [
        "]C101" + "04006381333932",  # wrong GTIN check digit
        "]E0" + "4006381333932",
        "]C100106141411234567890",  # wrong SSCC check digit
        "]C1" + "3012",  # GS1 but neither item nor container
        "]Q3hello",  # GS1 QR that is not an element string
        f"]C101{GTIN14}17261399",  # month 13
    ],
)
def test_codes_that_claim_gs1_or_gtin_but_fail_are_invalid_with_the_reason(data: str) -> None:
    barcode = interpret(data)
    assert barcode.kind is CodeKind.INVALID
    assert barcode.problem


@pytest.mark.parametrize(
    ("data", "kind", "value"),
    [
        ("OP:ann", CodeKind.BADGE, "ann"),
        ("op:ann", CodeKind.BADGE, "ann"),
        ("]C0OP:bob", CodeKind.BADGE, "bob"),
        ("TOTE:T-9", CodeKind.TOTE, "T-9"),
        ("ORD:O-1", CodeKind.ORDER, "O-1"),
        ("O-1", CodeKind.TEXT, "O-1"),
        ("3012", CodeKind.TEXT, "3012"),
        ("OP:", CodeKind.TEXT, "OP:"),
        ("", CodeKind.TEXT, ""),
    ],
)
def test_the_grammar_prefixes_mark_badges_totes_and_orders(data: str, kind: CodeKind, value: str) -> None:
    barcode = interpret(data)
    assert (barcode.kind, barcode.value) == (kind, value)


def test_a_configured_badge_prefix_is_used() -> None:
    grammar = ScanGrammar(badge_prefixes=("EMP-",))
    assert interpret("EMP-77", grammar).kind is CodeKind.BADGE
    assert interpret("OP:77", grammar).kind is CodeKind.TEXT


def test_a_leading_group_separator_for_fnc1_is_ignored() -> None:
    assert interpret(f"]C1{GS}01{GTIN14}").gtin == GTIN14


@given(st.text(max_size=60))
def test_any_text_is_interpreted_without_raising(data: str) -> None:
    assert isinstance(interpret(data), Barcode)


@given(
    st.sampled_from(["]C1", "]d2", "]Q3", "]e0", "]E0", "]I1", ""]), st.text("0123456789\x1dAB", max_size=50)
)
def test_any_gs1_looking_text_is_interpreted_without_raising(symbology: str, body: str) -> None:
    assert isinstance(interpret(symbology + body), Barcode)
