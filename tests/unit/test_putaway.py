"""Putaway through commands: bins lit with the quantity, the confirmed value put, scans, waits and refusals."""

from __future__ import annotations

import pytest

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.errors import RejectionKind
from floorgate.core.floor import Floor, Outcome
from floorgate.core.instructions import ERROR_COLOR, Blink, LightBin
from floorgate.core.model import LineStatus, PutawayStatus
from tests.support.floor_commands import (
    NOW,
    cleared,
    floor_events,
    lights_on,
    make_floor,
    of_type,
    press,
    receive,
    refused,
    restored_copy,
)

pytestmark = pytest.mark.unit

GTIN_1 = "4006381333931"  # SKU-1


def put(
    floor: Floor, task_id: str, sku: str, qty: int, location: str | None = None, zone: str | None = None
) -> Outcome:
    return floor.handle(
        cmd.ReceivePutaway(task_id=task_id, sku=sku, qty=qty, location=location, zone=zone), NOW
    )


def test_a_putaway_lights_its_bin_with_the_quantity_and_the_confirmed_value_is_added_to_on_hand() -> None:
    floor = make_floor()
    received = put(floor, "P1", "SKU-1", 12, "A-01")
    assert lights_on(received)["M-A-01"].display == "12"
    assert lights_on(received)["M-A-01"].color == "white"
    assert of_type(received, ev.PutawayReceived) == [
        ev.PutawayReceived(
            task_id="P1", sku="SKU-1", qty=12, location="A-01", zone="A", station=None, lit=True
        )
    ]
    assert floor.state.putaways["P1"].status is PutawayStatus.LIT

    confirmed = press(floor, "M-A-01", "12")
    assert floor_events(confirmed) == [
        ev.PutawayConfirmed(
            task_id="P1",
            sku="SKU-1",
            location="A-01",
            zone="A",
            qty=12,
            put=12,
            on_hand=22,
            station=None,
            operator=None,
        ),
        ev.InventoryAdjusted(location="A-01", sku="SKU-1", on_hand=22, previous=10, reason="putaway"),
    ]
    assert "M-A-01" in cleared(confirmed)
    assert floor.locations["A-01"].on_hand == 22
    assert floor.state.putaways["P1"].status is PutawayStatus.PUT
    assert floor.state.putaways["P1"].put == 12


def test_a_stocker_who_put_fewer_confirms_the_value_shown_and_that_is_what_counts() -> None:
    floor = make_floor()
    put(floor, "P1", "SKU-2", 5, "A-02")
    press(floor, "M-A-02", "4", cmd.Button.MINUS)
    confirmed = press(floor, "M-A-02", "4")
    assert of_type(confirmed, ev.PutawayConfirmed)[0].put == 4  # type: ignore[attr-defined]
    assert floor.locations["A-02"].on_hand == 14


def test_a_putaway_without_a_location_goes_to_the_least_full_bin_holding_its_sku() -> None:
    floor = make_floor()
    floor.handle(cmd.UpsertLocation(code="A-04", zone="A", module="M-A-04", sku="SKU-1", on_hand=2), NOW)
    put(floor, "P1", "SKU-1", 3)
    assert floor.state.putaways["P1"].location == "A-04"
    put(floor, "P2", "SKU-1", 3, zone="A")
    assert floor.state.putaways["P2"].location == "A-04"


def test_a_putaway_for_a_sku_with_no_bin_in_the_zone_is_refused_naming_the_sku() -> None:
    floor = make_floor()
    rejected = refused(floor, cmd.ReceivePutaway(task_id="P1", sku="SKU-1", qty=3, zone="B"))
    assert (rejected.kind, rejected.field) == (RejectionKind.INVALID, "sku")
    assert "zone 'B'" in rejected.message
    assert floor.state.putaways == {}


def test_a_putaway_for_an_unknown_sku_is_refused_and_nothing_changes() -> None:
    floor = make_floor()
    rejected = refused(floor, cmd.ReceivePutaway(task_id="P1", sku="NOPE", qty=3, location="A-01"))
    assert (rejected.kind, rejected.field) == (RejectionKind.INVALID, "sku")
    assert floor.state.putaways == {}
    assert "M-A-01" not in floor.lights


@pytest.mark.parametrize("qty", [0, -1, 100_001])
def test_a_putaway_of_no_negative_or_absurd_quantity_is_refused(qty: int) -> None:
    floor = make_floor()
    rejected = refused(floor, cmd.ReceivePutaway(task_id="P1", sku="SKU-1", qty=qty, location="A-01"))
    assert (rejected.kind, rejected.field) == (RejectionKind.INVALID, "qty")


def test_a_putaway_into_an_unknown_or_another_skus_bin_is_refused_naming_the_location() -> None:
    floor = make_floor()
    for location in ("Z-99", "A-02"):
        rejected = refused(floor, cmd.ReceivePutaway(task_id="P1", sku="SKU-1", qty=3, location=location))
        assert (rejected.kind, rejected.field) == (RejectionKind.INVALID, "location")


def test_an_identical_replay_is_received_once_and_a_different_body_conflicts() -> None:
    floor = make_floor()
    assert put(floor, "P1", "SKU-1", 12, "A-01").reply == {"created": True}
    replay = put(floor, "P1", "SKU-1", 12, "A-01")
    assert replay.reply == {"created": False}
    assert replay.events == []
    rejected = refused(floor, cmd.ReceivePutaway(task_id="P1", sku="SKU-1", qty=11, location="A-01"))
    assert rejected.kind is RejectionKind.CONFLICT


@pytest.mark.parametrize("display", ["-3", "abc", "100001", None])
def test_a_confirm_showing_no_quantity_changes_nothing_but_flashes_red_and_raises_an_exception(
    display: str | None,
) -> None:
    floor = make_floor()
    put(floor, "P1", "SKU-1", 12, "A-01")
    outcome = press(floor, "M-A-01", display)
    assert of_type(outcome, ev.PutawayConfirmed) == []
    raised = of_type(outcome, ev.ExceptionRaised)
    assert [e.kind for e in raised] == ["putaway_rejected"]  # type: ignore[attr-defined]
    assert lights_on(outcome)["M-A-01"] == LightBin(
        module="M-A-01", seq=floor.lights["M-A-01"].seq, color=ERROR_COLOR, blink=Blink.FAST, display="12"
    )
    assert floor.locations["A-01"].on_hand == 10
    assert floor.state.putaways["P1"].status is PutawayStatus.LIT
    assert of_type(press(floor, "M-A-01", "12"), ev.PutawayConfirmed)  # the right value still counts


def test_a_putaway_waits_for_the_pick_lit_in_its_bin_and_lights_when_the_pick_is_done() -> None:
    floor = make_floor()
    receive(floor, "O1", ("L1", "SKU-1", 3, "A-01"))
    floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    waiting = put(floor, "P1", "SKU-1", 12, "A-01")
    assert "M-A-01" not in lights_on(waiting)
    assert floor.state.putaways["P1"].status is PutawayStatus.QUEUED
    assert floor.state.putaways["P1"].ticket is not None

    picked = press(floor, "M-A-01", "3")
    assert of_type(picked, ev.PickConfirmed)
    assert lights_on(picked)["M-A-01"].display == "12"
    assert floor.state.putaways["P1"].status is PutawayStatus.LIT
    press(floor, "M-A-01", "12")
    assert floor.locations["A-01"].on_hand == 10 - 3 + 12


def test_a_pick_waits_for_a_putaway_lit_in_its_bin() -> None:
    floor = make_floor()
    put(floor, "P1", "SKU-1", 12, "A-01")
    receive(floor, "O1", ("L1", "SKU-1", 3, "A-01"))
    started = floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    assert "M-A-01" not in lights_on(started)
    assert floor.orders["O1"].lines["L1"].status is LineStatus.OPEN

    confirmed = press(floor, "M-A-01", "12")
    assert of_type(confirmed, ev.PutawayConfirmed)
    assert of_type(confirmed, ev.PickConfirmed) == []
    assert lights_on(confirmed)["M-A-01"].display == "3"
    assert floor.orders["O1"].lines["L1"].status is LineStatus.LIT


def putaway_station(floor: Floor) -> None:
    floor.handle(cmd.UpsertItem(sku="SKU-1", gtins=(GTIN_1,)), NOW)
    floor.handle(
        cmd.DefineStation(station="PUT-A", kind=cmd.StationKind.ZONE, zone="A", mode=cmd.StationMode.PUTAWAY),
        NOW,
    )
    floor.handle(
        cmd.DefineStation(station="PUT-B", kind=cmd.StationKind.ZONE, zone="B", mode=cmd.StationMode.PUTAWAY),
        NOW,
    )


def scan(floor: Floor, data: str, station: str = "PUT-A") -> Outcome:
    return floor.handle(cmd.RecordScan(station=station, data=data, scanner=f"{station}-scanner"), NOW)


def test_an_item_scan_at_a_putaway_station_lights_the_bin_of_its_sku_and_more_units_add_to_it() -> None:
    floor = make_floor()
    putaway_station(floor)
    first = scan(floor, GTIN_1)
    assert lights_on(first)["M-A-01"].display == "1"
    assert first.reply == {"task_id": "PUT-A-1", "qty": 1}
    more = scan(floor, f"]C101{GTIN_1.zfill(14)}3011")  # a case of 11 (GS1 AI 30)
    assert lights_on(more)["M-A-01"].display == "12"
    assert list(floor.state.putaways) == ["PUT-A-1"]
    confirmed = press(floor, "M-A-01", "12")
    event = of_type(confirmed, ev.PutawayConfirmed)[0]
    assert (event.task_id, event.put, event.station) == ("PUT-A-1", 12, "PUT-A")  # type: ignore[attr-defined]
    assert floor.locations["A-01"].on_hand == 22
    assert scan(floor, GTIN_1).reply["task_id"] == "PUT-A-2"


def test_a_badge_at_a_putaway_station_signs_in_and_its_putaways_carry_the_operator() -> None:
    floor = make_floor()
    putaway_station(floor)
    assert of_type(scan(floor, "OP:ann"), ev.OperatorSignedIn)
    scan(floor, GTIN_1)
    assert floor.state.putaways["PUT-A-1"].operator == "ann"


def test_an_item_scan_with_no_bin_of_its_sku_in_the_stations_zone_is_an_exception_and_nothing_lights() -> (
    None
):
    floor = make_floor()
    putaway_station(floor)
    outcome = scan(floor, GTIN_1, station="PUT-B")
    assert [e.kind for e in of_type(outcome, ev.ExceptionRaised)] == ["putaway_no_bin"]  # type: ignore[attr-defined]
    assert lights_on(outcome) == {}
    assert floor.state.putaways == {}


def test_an_unknown_gtin_at_a_putaway_station_is_an_unexpected_scan() -> None:
    floor = make_floor()
    putaway_station(floor)
    outcome = scan(floor, "5901234123457")
    assert [e.kind for e in of_type(outcome, ev.ExceptionRaised)] == ["unexpected_scan"]  # type: ignore[attr-defined]
    assert floor.state.putaways == {}


def test_an_item_scan_at_a_pick_station_makes_no_putaway() -> None:
    floor = make_floor()
    putaway_station(floor)
    floor.handle(cmd.DefineStation(station="ZS-A", kind=cmd.StationKind.ZONE, zone="A"), NOW)
    outcome = scan(floor, GTIN_1, station="ZS-A")
    assert floor.state.putaways == {}
    assert [e.kind for e in of_type(outcome, ev.ExceptionRaised)] == ["unexpected_scan"]  # type: ignore[attr-defined]


def test_cancelling_a_putaway_hands_its_bin_to_the_pick_waiting_there() -> None:
    floor = make_floor()
    put(floor, "P1", "SKU-1", 12, "A-01")
    receive(floor, "O1", ("L1", "SKU-1", 3, "A-01"))
    floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    cancelled = floor.handle(cmd.CancelPutaway(task_id="P1"), NOW)
    assert of_type(cancelled, ev.PutawayCancelled)
    assert lights_on(cancelled)["M-A-01"].display == "3"
    assert floor.state.putaways["P1"].status is PutawayStatus.CANCELLED
    assert floor.handle(cmd.CancelPutaway(task_id="P1"), NOW).reply == {"already_cancelled": True}
    assert refused(floor, cmd.CancelPutaway(task_id="P9")).kind is RejectionKind.NOT_FOUND


def test_a_restored_floor_keeps_a_putaway_queued_behind_the_pick_and_lights_it_after() -> None:
    floor = make_floor()
    receive(floor, "O1", ("L1", "SKU-1", 3, "A-01"))
    floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    put(floor, "P1", "SKU-1", 12, "A-01")
    copy = restored_copy(floor)
    picked = press(copy, "M-A-01", "3")
    assert lights_on(picked)["M-A-01"].display == "12"
    assert copy.state.putaways["P1"].status is PutawayStatus.LIT
