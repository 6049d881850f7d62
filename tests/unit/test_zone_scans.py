"""Scans at a zone's start station: badges, order and tote scans, and item scans in scan-verify zones."""

from __future__ import annotations

import pytest

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.floor import Floor, Outcome
from floorgate.core.instructions import ERROR_COLOR, PICKER_PALETTE, Blink, LightBin
from floorgate.core.model import ExceptionStatus, LineStatus, OrderStatus

pytestmark = pytest.mark.unit

NOW = 1_700_000_000.0
GS = "\x1d"
GTIN_1 = "4006381333931"  # SKU-1
GTIN_2 = "5901234123457"  # SKU-2
GTIN_OTHER = "96385074"  # SKU-9, in no bin


def make_floor(*, scan_verify: bool = True) -> Floor:
    floor = Floor()
    floor.handle(cmd.DefineZone(zone="A", scan_verify=scan_verify), NOW)
    floor.handle(cmd.DefineZone(zone="B"), NOW)
    floor.handle(cmd.DefineStation(station="ZS-A", kind=cmd.StationKind.ZONE, zone="A"), NOW)
    floor.handle(cmd.DefineStation(station="ZS-B", kind=cmd.StationKind.ZONE, zone="B"), NOW)
    for sku, gtin in [("SKU-1", GTIN_1), ("SKU-2", GTIN_2), ("SKU-9", GTIN_OTHER), ("SKU-4", "036000291452")]:
        floor.handle(cmd.UpsertItem(sku=sku, gtins=(gtin,)), NOW)
    for code, zone, sku in [("A-01", "A", "SKU-1"), ("A-02", "A", "SKU-2"), ("B-01", "B", "SKU-4")]:
        floor.handle(cmd.UpsertLocation(code=code, zone=zone, module=f"M-{code}", sku=sku, on_hand=10), NOW)
    floor.handle(
        cmd.ReceiveOrder(
            order_id="O1",
            tote="T-9",
            lines=(
                cmd.NewOrderLine(line_id="L1", sku="SKU-1", qty=3, location="A-01"),
                cmd.NewOrderLine(line_id="L2", sku="SKU-2", qty=2, location="A-02"),
                cmd.NewOrderLine(line_id="L3", sku="SKU-4", qty=1, location="B-01"),
            ),
        ),
        NOW,
    )
    return floor


def scan(floor: Floor, data: str, station: str = "ZS-A") -> Outcome:
    return floor.handle(cmd.RecordScan(station=station, data=data, scanner=f"{station}-scanner"), NOW)


def press(floor: Floor, module: str, display: str, button: cmd.Button = cmd.Button.CONFIRM) -> Outcome:
    return floor.handle(cmd.PressButton(module=module, button=button, display=display), NOW)


def only(outcome: Outcome, kind: type[ev.Event]) -> ev.Event:
    found = [e for e in outcome.events if isinstance(e, kind)]
    assert len(found) == 1, outcome.events
    return found[0]


def lights(outcome: Outcome) -> dict[str, LightBin]:
    return {i.module: i for i in outcome.instructions if isinstance(i, LightBin)}


@pytest.fixture
def floor() -> Floor:
    return make_floor()


# -- badges ---------------------------------------------------------------------------------------


def test_a_badge_scan_signs_the_operator_in_at_the_station(floor: Floor) -> None:
    outcome = scan(floor, "OP:ann")

    signed = only(outcome, ev.OperatorSignedIn)
    assert signed == ev.OperatorSignedIn(station="ZS-A", operator="ann", previous=None)
    assert floor.stations["ZS-A"].operator == "ann"
    assert "ZS-A" in floor.changes.stations


def test_the_same_badge_again_changes_nothing_and_another_replaces_it(floor: Floor) -> None:
    scan(floor, "OP:ann")
    assert scan(floor, "OP:ann").events == []
    signed = only(scan(floor, "OP:bob"), ev.OperatorSignedIn)
    assert signed == ev.OperatorSignedIn(station="ZS-A", operator="bob", previous="ann")


def test_the_signed_in_operator_survives_the_site_file_defining_the_station_again(floor: Floor) -> None:
    scan(floor, "OP:ann")
    floor.handle(cmd.DefineStation(station="ZS-A", kind=cmd.StationKind.ZONE, zone="A"), NOW)
    assert floor.stations["ZS-A"].operator == "ann"


# -- starting orders ------------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["O1", "ORD:O1", "]C0O1", "TOTE:T-9", "T-9"])
def test_an_order_or_its_tote_scanned_at_the_start_station_starts_it_in_that_zone(
    floor: Floor, data: str
) -> None:
    outcome = scan(floor, data)

    started = only(outcome, ev.OrderStarted)
    assert isinstance(started, ev.OrderStarted)
    assert (started.order, started.zone, started.lines_lit) == ("O1", "A", ["L1", "L2"])
    assert set(lights(outcome)) == {"M-A-01", "M-A-02"}
    assert floor.orders["O1"].status is OrderStatus.PICKING


def test_a_scan_start_does_exactly_what_start_order_does() -> None:
    by_scan, by_command = make_floor(), make_floor()
    scan(by_scan, "OP:ann")
    scanned = scan(by_scan, "O1")
    commanded = by_command.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)
    assert scanned.events == commanded.events
    assert scanned.instructions == commanded.instructions


def test_an_order_started_after_a_badge_scan_is_that_operators(floor: Floor) -> None:
    scan(floor, "OP:ann")
    started = only(scan(floor, "O1"), ev.OrderStarted)
    assert isinstance(started, ev.OrderStarted)
    assert started.operator == "ann"
    assert floor.orders["O1"].runs["A"].operator == "ann"


def test_scanning_a_running_order_again_lights_nothing_new(floor: Floor) -> None:
    scan(floor, "O1")
    again = scan(floor, "O1")
    assert again.events == []
    assert again.instructions == []


def test_an_unknown_order_scan_raises_an_exception_and_repeats_are_counted(floor: Floor) -> None:
    first = scan(floor, "ORD:NOPE")
    raised = only(first, ev.ExceptionRaised)
    assert isinstance(raised, ev.ExceptionRaised)
    assert raised.kind == "unexpected_scan"
    assert raised.device == "ZS-A-scanner"
    assert "NOPE" in raised.message

    assert scan(floor, "what is this").events == []
    assert floor.exceptions[raised.exception_id].count == 2


def test_a_scan_of_a_cancelled_order_is_a_rejected_scan_not_a_crash(floor: Floor) -> None:
    floor.handle(cmd.CancelOrder(order_id="O1"), NOW)
    raised = only(scan(floor, "O1"), ev.ExceptionRaised)
    assert isinstance(raised, ev.ExceptionRaised)
    assert (raised.kind, raised.order) == ("scan_rejected", "O1")
    assert "cancelled" in raised.message


def test_a_tote_of_a_finished_order_starts_nothing(floor: Floor) -> None:
    floor.handle(cmd.CancelOrder(order_id="O1"), NOW)
    raised = only(scan(floor, "TOTE:T-9"), ev.ExceptionRaised)
    assert isinstance(raised, ev.ExceptionRaised)
    assert raised.kind == "unexpected_scan"


def test_an_unreadable_gs1_code_raises_an_unreadable_scan_exception(floor: Floor) -> None:
    raised = only(scan(floor, "]C10104006381333932"), ev.ExceptionRaised)
    assert isinstance(raised, ev.ExceptionRaised)
    assert raised.kind == "unreadable_scan"
    assert "check digit" in raised.message


def test_a_container_label_at_a_zone_station_is_unexpected(floor: Floor) -> None:
    raised = only(scan(floor, "]C100106141411234567897"), ev.ExceptionRaised)
    assert isinstance(raised, ev.ExceptionRaised)
    assert raised.kind == "unexpected_scan"
    assert "SSCC" in raised.message


def test_a_scan_at_an_unknown_station_is_an_exception(floor: Floor) -> None:
    raised = only(scan(floor, "O1", station="NOWHERE"), ev.ExceptionRaised)
    assert isinstance(raised, ev.ExceptionRaised)
    assert raised.kind == "unexpected_scan"
    assert floor.exceptions[raised.exception_id].status is ExceptionStatus.OPEN


# -- item scans in a scan-verify zone -------------------------------------------------------------


@pytest.fixture
def picking(floor: Floor) -> Floor:
    scan(floor, "OP:ann")
    scan(floor, "O1")
    return floor


def test_a_confirm_without_an_item_scan_is_rejected_as_scan_required_in_red(picking: Floor) -> None:
    outcome = press(picking, "M-A-01", "3")

    rejected = only(outcome, ev.PickRejected)
    assert isinstance(rejected, ev.PickRejected)
    assert (rejected.line, rejected.reason) == ("L1", "scan_required")
    red = lights(outcome)["M-A-01"]
    assert (red.color, red.blink) == (ERROR_COLOR, Blink.FAST)
    assert picking.orders["O1"].lines["L1"].status is LineStatus.LIT


def test_a_short_of_nothing_needs_no_item_scan(picking: Floor) -> None:
    outcome = press(picking, "M-A-01", "0", cmd.Button.SHORT)
    assert isinstance(only(outcome, ev.PickShorted), ev.PickShorted)


def test_a_short_with_some_picked_needs_an_item_scan(picking: Floor) -> None:
    rejected = only(press(picking, "M-A-01", "1", cmd.Button.SHORT), ev.PickRejected)
    assert isinstance(rejected, ev.PickRejected)
    assert rejected.reason == "scan_required"


def test_the_items_gtin_arms_the_line_and_its_lot_serial_expiry_go_into_the_pick(picking: Floor) -> None:
    armed = scan(picking, f"]C101{GTIN_1.zfill(14)}10LOT-7{GS}17261231{GS}21SN42")

    scanned = only(armed, ev.ItemScanned)
    assert scanned == ev.ItemScanned(
        order="O1",
        line="L1",
        sku="SKU-1",
        location="A-01",
        zone="A",
        gtin=GTIN_1.zfill(14),
        lot="LOT-7",
        serial="SN42",
        expiry="2026-12-31",
        operator="ann",
        station="ZS-A",
    )
    assert ("O1", "L1") in picking.changes.lines

    confirmed = only(press(picking, "M-A-01", "3"), ev.PickConfirmed)
    assert isinstance(confirmed, ev.PickConfirmed)
    assert (confirmed.lot, confirmed.serial, confirmed.expiry) == ("LOT-7", "SN42", "2026-12-31")
    assert confirmed.payload()["lot"] == "LOT-7"


def test_a_bare_ean_of_the_item_arms_its_line(picking: Floor) -> None:
    only(scan(picking, "]E0" + GTIN_2), ev.ItemScanned)
    confirmed = only(press(picking, "M-A-02", "2"), ev.PickConfirmed)
    assert isinstance(confirmed, ev.PickConfirmed)
    assert confirmed.lot is None
    assert "lot" not in confirmed.payload()


def test_another_items_gtin_is_rejected_as_wrong_item_and_the_bins_flash_red(picking: Floor) -> None:
    outcome = scan(picking, f"]C101{GTIN_OTHER.zfill(14)}10X")

    rejected = [e for e in outcome.events if isinstance(e, ev.PickRejected)]
    assert {(e.line, e.reason) for e in rejected} == {("L1", "wrong_item"), ("L2", "wrong_item")}
    assert {m: (li.color, li.blink) for m, li in lights(outcome).items()} == {
        "M-A-01": (ERROR_COLOR, Blink.FAST),
        "M-A-02": (ERROR_COLOR, Blink.FAST),
    }
    assert picking.orders["O1"].lines["L1"].scan is None


def test_the_right_item_after_a_wrong_one_restores_the_pickers_colour(picking: Floor) -> None:
    scan(picking, "]E0" + "9638507" + "4")
    restored = lights(scan(picking, "]E0" + GTIN_1))
    assert restored["M-A-01"].color == PICKER_PALETTE[0]
    assert restored["M-A-01"].display == "3"


def test_an_item_scan_picks_the_signed_in_operators_bin_when_two_pickers_have_that_sku() -> None:
    floor = make_floor()
    floor.handle(cmd.UpsertLocation(code="A-03", zone="A", module="M-A-03", sku="SKU-1", on_hand=5), NOW)
    floor.handle(
        cmd.ReceiveOrder(
            order_id="O0", lines=(cmd.NewOrderLine(line_id="X1", sku="SKU-1", qty=1, location="A-03"),)
        ),
        NOW,
    )
    floor.handle(cmd.StartOrder(order_id="O0", zone="A", operator="zed"), NOW)
    scan(floor, "OP:ann")
    scan(floor, "O1")

    scanned = only(scan(floor, GTIN_1), ev.ItemScanned)
    assert isinstance(scanned, ev.ItemScanned)
    assert (scanned.order, scanned.line) == ("O1", "L1")


def test_an_item_scan_with_nothing_lit_is_unexpected(floor: Floor) -> None:
    raised = only(scan(floor, GTIN_1), ev.ExceptionRaised)
    assert isinstance(raised, ev.ExceptionRaised)
    assert raised.kind == "unexpected_scan"
    assert "SKU-1" in raised.message


def test_outside_scan_verify_zones_a_confirm_needs_no_scan_and_a_stray_item_is_only_an_exception() -> None:
    floor = make_floor(scan_verify=False)
    scan(floor, "O1")
    stray = scan(floor, GTIN_OTHER)
    assert [type(e) for e in stray.events] == [ev.ExceptionRaised]
    assert isinstance(only(press(floor, "M-A-01", "3"), ev.PickConfirmed), ev.PickConfirmed)


def test_outside_scan_verify_zones_an_item_scan_still_captures_the_lot() -> None:
    floor = make_floor(scan_verify=False)
    scan(floor, "O1")
    scan(floor, f"]C101{GTIN_1.zfill(14)}10L9")
    confirmed = only(press(floor, "M-A-01", "3"), ev.PickConfirmed)
    assert isinstance(confirmed, ev.PickConfirmed)
    assert confirmed.lot == "L9"
