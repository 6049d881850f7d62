"""Pick-to-light rules of the floor, driven through commands with no I/O."""

from __future__ import annotations

import pytest

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.errors import CommandRejected, RejectionKind
from floorgate.core.floor import Floor, Outcome
from floorgate.core.instructions import ERROR_COLOR, PICKER_PALETTE, Blink, ClearBin, LightBin
from floorgate.core.model import LineStatus, OrderStatus
from tests.support.floor_commands import (
    NOW,
    cleared,
    lights_on,
    make_floor,
    of_type,
    press,
    receive,
    restored_copy,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def floor() -> Floor:
    f = make_floor()
    receive(f, "O1", ("L1", "SKU-1", 3, "A-01"), ("L2", "SKU-2", 2, "A-02"), ("L3", "SKU-4", 1, "B-01"))
    return f


def test_starting_an_order_lights_its_open_lines_in_that_zone_with_the_quantity(floor: Floor) -> None:
    outcome = floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)

    lit = lights_on(outcome)
    assert set(lit) == {"M-A-01", "M-A-02"}
    assert lit["M-A-01"].display == "3"
    assert lit["M-A-02"].display == "2"
    assert lit["M-A-01"].blink is Blink.NONE
    assert lit["M-A-01"].color == lit["M-A-02"].color == PICKER_PALETTE[0]
    (started,) = of_type(outcome, ev.OrderStarted)
    assert isinstance(started, ev.OrderStarted)
    assert started.lines_lit == ["L1", "L2"]
    assert floor.orders["O1"].status is OrderStatus.PICKING
    assert floor.orders["O1"].lines["L3"].status is LineStatus.OPEN


def test_each_active_picker_in_a_zone_gets_a_different_colour_and_red_is_never_one() -> None:
    floor = make_floor()
    receive(floor, "O1", ("L1", "SKU-1", 1, "A-01"))
    receive(floor, "O2", ("L1", "SKU-2", 1, "A-02"))
    receive(floor, "O3", ("L1", "SKU-4", 1, "B-01"))
    first = floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)
    second = floor.handle(cmd.StartOrder(order_id="O2", zone="A", operator="bob"), NOW)
    other_zone = floor.handle(cmd.StartOrder(order_id="O3", zone="B", operator="cat"), NOW)

    colours = [first.reply["color"], second.reply["color"]]
    assert len(set(colours)) == 2
    assert ERROR_COLOR not in PICKER_PALETTE
    assert other_zone.reply["color"] == PICKER_PALETTE[0]  # palettes are per zone


def test_a_picker_keeps_one_colour_across_orders_and_frees_it_when_done() -> None:
    floor = make_floor()
    receive(floor, "O1", ("L1", "SKU-1", 1, "A-01"))
    receive(floor, "O2", ("L1", "SKU-2", 1, "A-02"))
    receive(floor, "O3", ("L1", "SKU-3", 1, "A-03"))
    a = floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)
    b = floor.handle(cmd.StartOrder(order_id="O2", zone="A", operator="ann"), NOW)
    assert a.reply["color"] == b.reply["color"]

    press(floor, "M-A-01", "1")
    press(floor, "M-A-02", "1")
    c = floor.handle(cmd.StartOrder(order_id="O3", zone="A", operator="bob"), NOW)
    assert c.reply["color"] == PICKER_PALETTE[0]  # ann's colour is free again


def test_a_location_needed_by_two_active_orders_is_lit_for_the_first_and_queued_for_the_second() -> None:
    floor = make_floor()
    receive(floor, "O1", ("L1", "SKU-1", 2, "A-01"))
    receive(floor, "O2", ("L1", "SKU-1", 5, "A-01"))
    floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)
    second = floor.handle(cmd.StartOrder(order_id="O2", zone="A", operator="bob"), NOW)

    assert lights_on(second) == {}
    (started,) = of_type(second, ev.OrderStarted)
    assert isinstance(started, ev.OrderStarted)
    assert started.lines_queued == ["L1"]
    assert floor.orders["O2"].lines["L1"].status is LineStatus.OPEN

    done = press(floor, "M-A-01", "2")
    relit = lights_on(done)
    assert relit["M-A-01"].display == "5"
    assert relit["M-A-01"].color == second.reply["color"]
    assert "M-A-01" not in cleared(done)
    assert floor.orders["O2"].lines["L1"].status is LineStatus.LIT


def test_confirming_the_requested_quantity_confirms_the_pick_and_clears_the_light(floor: Floor) -> None:
    floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)

    outcome = press(floor, "M-A-01", "3")

    (confirmed,) = of_type(outcome, ev.PickConfirmed)
    assert confirmed == ev.PickConfirmed(
        order="O1",
        line="L1",
        sku="SKU-1",
        location="A-01",
        zone="A",
        qty=3,
        picked=3,
        operator="ann",
        on_hand=7,
    )
    assert cleared(outcome) == {"M-A-01"}
    line = floor.orders["O1"].lines["L1"]
    assert (line.status, line.picked) == (LineStatus.PICKED, 3)


def test_confirming_less_than_requested_is_a_short_that_finishes_the_line_and_raises_an_exception(
    floor: Floor,
) -> None:
    floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)

    outcome = press(floor, "M-A-01", "1", cmd.Button.SHORT)

    (short,) = of_type(outcome, ev.PickShorted)
    assert isinstance(short, ev.PickShorted)
    assert (short.qty, short.picked, short.short, short.on_hand) == (3, 1, 2, 9)
    (raised,) = of_type(outcome, ev.ExceptionRaised)
    assert isinstance(raised, ev.ExceptionRaised)
    assert (raised.kind, raised.location, raised.order) == ("inventory_short", "A-01", "O1")
    assert cleared(outcome) == {"M-A-01"}
    assert floor.orders["O1"].lines["L1"].status is LineStatus.SHORT
    assert floor.locations["A-01"].on_hand == 9


def test_the_confirm_button_with_a_lower_value_is_also_a_short(floor: Floor) -> None:
    floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    outcome = press(floor, "M-A-01", "0")
    assert of_type(outcome, ev.PickShorted)
    assert floor.locations["A-01"].on_hand == 10


def test_confirming_more_than_requested_is_rejected_and_flashes_the_request_in_red(floor: Floor) -> None:
    start = floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)

    outcome = press(floor, "M-A-01", "4")

    (rejected,) = of_type(outcome, ev.PickRejected)
    assert isinstance(rejected, ev.PickRejected)
    assert (rejected.reason, rejected.shown, rejected.qty) == ("over_pick", "4", 3)
    red = lights_on(outcome)["M-A-01"]
    assert (red.color, red.blink, red.display) == (ERROR_COLOR, Blink.FAST, "3")
    assert floor.orders["O1"].lines["L1"].status is LineStatus.LIT
    assert floor.locations["A-01"].on_hand == 10

    fixed = press(floor, "M-A-01", "3")
    assert of_type(fixed, ev.PickConfirmed)
    assert cleared(fixed) == {"M-A-01"}
    assert start.reply["color"] != ERROR_COLOR


def test_an_unreadable_display_value_is_rejected_not_guessed(floor: Floor) -> None:
    floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    outcome = press(floor, "M-A-01", "3a")
    (rejected,) = of_type(outcome, ev.PickRejected)
    assert isinstance(rejected, ev.PickRejected)
    assert rejected.reason == "unreadable_display"
    assert floor.orders["O1"].lines["L1"].status is LineStatus.LIT


def test_a_button_on_a_module_that_is_not_lit_is_an_exception_and_changes_nothing_but_is_answered(
    floor: Floor,
) -> None:
    before = (floor.locations["A-01"].on_hand, floor.orders["O1"].lines["L1"].status)

    outcome = press(floor, "M-A-01", "3")

    (raised,) = of_type(outcome, ev.ExceptionRaised)
    assert isinstance(raised, ev.ExceptionRaised)
    assert raised.kind == "button_not_lit"
    # The module repeats its press until it sees a newer seq: it is told "off" again, under seq 1.
    assert outcome.instructions == [ClearBin(module="M-A-01", seq=1)]
    assert (floor.locations["A-01"].on_hand, floor.orders["O1"].lines["L1"].status) == before
    assert press(floor, "M-A-01", "3", cmd.Button.SHORT).instructions == [ClearBin(module="M-A-01", seq=2)]


def test_a_button_on_an_unknown_module_is_an_exception_and_gives_it_no_light(floor: Floor) -> None:
    """A module no location has is nobody's to light: answering would give any id that publishes a light
    row of its own. Its repeats carry the same message id, so the edge applies the press once."""
    outcome = press(floor, "M-NOWHERE", "1")
    (raised,) = of_type(outcome, ev.ExceptionRaised)
    assert isinstance(raised, ev.ExceptionRaised)
    assert (raised.kind, raised.device) == ("unknown_module", "M-NOWHERE")
    assert outcome.instructions == []
    assert "M-NOWHERE" not in floor.lights


def test_a_reissued_light_keeps_what_the_module_shows_and_whose_pick_it_is(floor: Floor) -> None:
    started = floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)
    shown = lights_on(started)["M-A-01"]

    reissued = Outcome()
    floor.board.reissue("M-A-01", reissued, past=40)

    assert reissued.instructions == [
        LightBin(module="M-A-01", seq=41, color=shown.color, blink=shown.blink, display=shown.display)
    ]
    light = floor.lights["M-A-01"]
    assert (light.seq, light.order_id, light.line_id) == (41, "O1", "L1")
    assert of_type(press(floor, "M-A-01", shown.display), ev.PickConfirmed)


def test_repeats_of_an_open_exception_are_counted_not_raised_again(floor: Floor) -> None:
    press(floor, "M-NOWHERE", "1")
    again = press(floor, "M-NOWHERE", "1")
    assert not of_type(again, ev.ExceptionRaised)
    (exception,) = floor.exceptions.values()
    assert exception.count == 2


def test_plus_and_minus_on_a_lit_module_change_nothing(floor: Floor) -> None:
    floor.handle(cmd.ReportDeviceStatus(device="M-A-01", kind="ptl", online=True), NOW)
    floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    outcome = press(floor, "M-A-01", "4", cmd.Button.PLUS)
    assert outcome.events == []
    assert outcome.instructions == []


def test_finishing_every_line_in_a_zone_completes_the_zone_and_then_the_order(floor: Floor) -> None:
    floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)
    press(floor, "M-A-01", "3")
    zone_a = press(floor, "M-A-02", "2")
    assert of_type(zone_a, ev.OrderZoneCompleted)
    assert not of_type(zone_a, ev.OrderPicked)
    assert floor.orders["O1"].status is OrderStatus.PICKING

    floor.handle(cmd.StartOrder(order_id="O1", zone="B", operator="cat"), NOW)
    last = press(floor, "M-B-01", "1")
    (picked,) = of_type(last, ev.OrderPicked)
    assert isinstance(picked, ev.OrderPicked)
    assert [(ln["line_id"], ln["picked"], ln["status"]) for ln in picked.lines] == [
        ("L1", 3, "picked"),
        ("L2", 2, "picked"),
        ("L3", 1, "picked"),
    ]
    assert floor.orders["O1"].status is OrderStatus.PICKED


def test_a_short_line_counts_as_done_for_the_order(floor: Floor) -> None:
    receive(floor, "O9", ("L1", "SKU-3", 5, "A-03"))
    floor.handle(cmd.StartOrder(order_id="O9", zone="A"), NOW)
    outcome = press(floor, "M-A-03", "1", cmd.Button.SHORT)
    assert of_type(outcome, ev.OrderPicked)
    assert floor.locations["A-03"].on_hand == 0


def test_cancelling_an_order_clears_its_lights_and_hands_them_to_waiting_orders() -> None:
    floor = make_floor()
    receive(floor, "O1", ("L1", "SKU-1", 2, "A-01"), ("L2", "SKU-2", 1, "A-02"))
    receive(floor, "O2", ("L1", "SKU-1", 4, "A-01"))
    floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)
    floor.handle(cmd.StartOrder(order_id="O2", zone="A", operator="bob"), NOW)

    outcome = floor.handle(cmd.CancelOrder(order_id="O1"), NOW)

    assert cleared(outcome) == {"M-A-02"}
    assert lights_on(outcome)["M-A-01"].display == "4"
    assert floor.orders["O1"].status is OrderStatus.CANCELLED
    (cancelled,) = of_type(outcome, ev.OrderCancelled)
    assert isinstance(cancelled, ev.OrderCancelled)
    assert cancelled.previous_status == "picking"
    assert of_type(press(floor, "M-A-02", "1"), ev.ExceptionRaised)  # nobody's light any more


def test_cancelling_twice_is_harmless_and_a_cancelled_order_cannot_start(floor: Floor) -> None:
    floor.handle(cmd.CancelOrder(order_id="O1"), NOW)
    again = floor.handle(cmd.CancelOrder(order_id="O1"), NOW)
    assert again.events == []
    with pytest.raises(CommandRejected) as err:
        floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    assert err.value.kind is RejectionKind.CONFLICT


def test_an_identical_order_replay_is_accepted_once_and_a_different_body_conflicts(floor: Floor) -> None:
    replay = receive(
        floor, "O1", ("L1", "SKU-1", 3, "A-01"), ("L2", "SKU-2", 2, "A-02"), ("L3", "SKU-4", 1, "B-01")
    )
    assert replay.events == []
    assert replay.reply == {"created": False}
    with pytest.raises(CommandRejected) as err:
        receive(floor, "O1", ("L1", "SKU-1", 4, "A-01"))
    assert err.value.kind is RejectionKind.CONFLICT


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ((), "lines"),
        ((("L1", "SKU-1", 0, "A-01"),), "lines[0].qty"),
        ((("L1", "SKU-1", 1, "A-01"), ("L1", "SKU-2", 1, "A-02")), "lines[1].line_id"),
        ((("L1", "SKU-1", 1, "Z-99"),), "lines[0].location"),
        ((("L1", "SKU-2", 1, "A-01"),), "lines[0].location"),
    ],
)
def test_an_order_with_a_bad_line_is_refused_naming_the_field(
    lines: tuple[tuple[str, str, int, str | None], ...], field: str
) -> None:
    floor = make_floor()
    with pytest.raises(CommandRejected) as err:
        receive(floor, "BAD", *lines)
    assert err.value.kind is RejectionKind.INVALID
    assert err.value.field == field
    assert "BAD" not in floor.orders


def test_a_line_without_a_location_is_placed_in_a_bin_of_its_sku_in_the_started_zone() -> None:
    floor = make_floor()
    receive(floor, "O1", ("L1", "SKU-2", 1, None))
    outcome = floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    assert set(lights_on(outcome)) == {"M-A-02"}
    assert floor.orders["O1"].lines["L1"].location == "A-02"


def test_starting_an_order_with_nothing_in_the_zone_is_refused(floor: Floor) -> None:
    receive(floor, "OB", ("L1", "SKU-4", 1, "B-01"))
    with pytest.raises(CommandRejected) as err:
        floor.handle(cmd.StartOrder(order_id="OB", zone="A"), NOW)
    assert err.value.kind is RejectionKind.CONFLICT


def test_starting_an_unknown_order_or_zone_is_not_found(floor: Floor) -> None:
    with pytest.raises(CommandRejected) as err:
        floor.handle(cmd.StartOrder(order_id="NOPE", zone="A"), NOW)
    assert err.value.kind is RejectionKind.NOT_FOUND
    with pytest.raises(CommandRejected) as err:
        floor.handle(cmd.StartOrder(order_id="O1", zone="Q"), NOW)
    assert err.value.kind is RejectionKind.NOT_FOUND


def test_starting_an_order_again_in_the_same_zone_changes_nothing(floor: Floor) -> None:
    first = floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)
    again = floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)
    assert again.events == []
    assert again.instructions == []
    assert again.reply["color"] == first.reply["color"]


def test_light_sequence_numbers_only_grow_per_module(floor: Floor) -> None:
    start = floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    reject = press(floor, "M-A-01", "9")
    done = press(floor, "M-A-01", "3")
    seqs = [i.seq for o in (start, reject, done) for i in o.instructions if i.module == "M-A-01"]
    assert seqs == [1, 2, 3]


def test_setting_on_hand_records_an_inventory_adjustment(floor: Floor) -> None:
    outcome = floor.handle(cmd.UpsertLocation(code="A-01", zone="A", module="M-A-01", on_hand=4), NOW)
    (adjusted,) = of_type(outcome, ev.InventoryAdjusted)
    assert adjusted == ev.InventoryAdjusted(
        location="A-01", sku="SKU-1", on_hand=4, previous=10, reason="set"
    )


def test_a_module_cannot_belong_to_two_locations(floor: Floor) -> None:
    with pytest.raises(CommandRejected) as err:
        floor.handle(cmd.UpsertLocation(code="A-09", zone="A", module="M-A-01"), NOW)
    assert (err.value.kind, err.value.field) == (RejectionKind.CONFLICT, "module")


def test_a_location_in_an_unknown_zone_is_refused(floor: Floor) -> None:
    with pytest.raises(CommandRejected) as err:
        floor.handle(cmd.UpsertLocation(code="Q-01", zone="Q"), NOW)
    assert (err.value.kind, err.value.field) == (RejectionKind.INVALID, "zone")


def test_device_status_changes_are_events_only_when_the_state_changes(floor: Floor) -> None:
    status = cmd.ReportDeviceStatus(device="M-A-01", kind="ptl", online=False, reason="no_ack")
    first = floor.handle(status, NOW)
    second = floor.handle(status, NOW)
    assert [type(e) for e in first.events] == [ev.DeviceOffline]
    assert second.events == []
    back = floor.handle(cmd.ReportDeviceStatus(device="M-A-01", kind="ptl", online=True), NOW)
    assert [type(e) for e in back.events] == [ev.DeviceOnline]


def test_a_button_from_an_offline_module_brings_it_back_online(floor: Floor) -> None:
    floor.handle(cmd.ReportDeviceStatus(device="M-A-01", kind="ptl", online=False), NOW)
    floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    outcome = press(floor, "M-A-01", "3")
    assert of_type(outcome, ev.DeviceOnline)
    assert floor.devices["M-A-01"].online is True


def test_a_device_fault_is_recorded_as_an_exception(floor: Floor) -> None:
    outcome = floor.handle(
        cmd.RecordDeviceFault(device="M-A-01", kind="ptl", reason="not JSON", detail={"payload": "{"}), NOW
    )
    (raised,) = of_type(outcome, ev.ExceptionRaised)
    assert isinstance(raised, ev.ExceptionRaised)
    assert raised.kind == "device_fault"
    assert "not JSON" in raised.message


def test_resolving_an_exception_closes_it_once(floor: Floor) -> None:
    press(floor, "M-NOWHERE", "1")
    (exception_id,) = floor.exceptions
    resolved = floor.handle(cmd.ResolveException(exception_id=exception_id, resolved_by="sue"), NOW)
    assert [type(e) for e in resolved.events] == [ev.ExceptionResolved]
    assert floor.handle(cmd.ResolveException(exception_id=exception_id), NOW).events == []
    fresh = press(floor, "M-NOWHERE", "1")
    assert of_type(fresh, ev.ExceptionRaised)  # a new occurrence after resolution is a new exception


def test_restoring_state_rebuilds_holders_queues_and_colours() -> None:
    floor = make_floor()
    receive(floor, "O1", ("L1", "SKU-1", 2, "A-01"))
    receive(floor, "O2", ("L1", "SKU-1", 3, "A-01"), ("L2", "SKU-2", 1, "A-02"))
    floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)
    started = floor.handle(cmd.StartOrder(order_id="O2", zone="A", operator="bob"), NOW)

    copy = restored_copy(floor)

    assert {c.module for c in copy.lit_commands()} == {"M-A-01", "M-A-02"}
    handed = copy.handle(cmd.PressButton(module="M-A-01", button=cmd.Button.CONFIRM, display="2"), NOW)
    relit = lights_on(handed)["M-A-01"]
    assert (relit.display, relit.color) == ("3", started.reply["color"])
    third = copy.handle(
        cmd.ReceiveOrder(order_id="O3", lines=(cmd.NewOrderLine(line_id="L", sku="SKU-3", qty=1),)), NOW
    )
    assert third.reply == {"created": True}
    new_picker = copy.handle(cmd.StartOrder(order_id="O3", zone="A", operator="cat"), NOW)
    assert (
        new_picker.reply["color"] not in {"blue", started.reply["color"]}
        or new_picker.reply["color"] == "blue"
    )


def test_an_unknown_module_exception_closes_itself_when_a_location_claims_the_module(floor: Floor) -> None:
    floor.handle(cmd.ReportDeviceStatus(device="M-NEW", kind="ptl", online=True), NOW)
    (exception,) = floor.exceptions.values()
    assert exception.kind == "unknown_module"

    outcome = floor.handle(cmd.UpsertLocation(code="A-09", zone="A", module="M-NEW"), NOW)

    (resolved,) = of_type(outcome, ev.ExceptionResolved)
    assert isinstance(resolved, ev.ExceptionResolved)
    assert (resolved.exception_id, resolved.resolved_by) == (exception.id, "floorgate")
    assert exception.status.value == "resolved"


def test_a_busy_modules_last_seen_is_saved_at_most_every_30_seconds(floor: Floor) -> None:
    floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    floor.changes.clear()
    press(floor, "M-A-01", "1", cmd.Button.PLUS)
    assert "M-A-01" in floor.changes.devices  # first sight: online, saved
    floor.changes.clear()
    floor.handle(cmd.PressButton(module="M-A-01", button=cmd.Button.PLUS, display="2"), NOW + 5)
    assert "M-A-01" not in floor.changes.devices
    assert floor.devices["M-A-01"].last_seen == NOW + 5  # the live view still moves
    floor.handle(cmd.PressButton(module="M-A-01", button=cmd.Button.PLUS, display="3"), NOW + 31)
    assert "M-A-01" in floor.changes.devices


def test_start_up_resends_every_lit_module_first_then_an_off_to_every_module_gone_dark() -> None:
    floor = make_floor()
    receive(floor, "O1", ("L1", "SKU-1", 1, "A-01"), ("L2", "SKU-2", 1, "A-02"))
    floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)
    floor.handle(cmd.PressButton(module="M-A-01", button=cmd.Button.CONFIRM, display="1"), NOW)

    commands = floor.light_commands()

    assert [(type(c).__name__, c.module) for c in commands] == [
        ("LightBin", "M-A-02"),
        ("ClearBin", "M-A-01"),
    ]
    # The off carries the seq the floor gave it, so a module showing an older command takes it.
    assert commands[1].seq == floor.lights["M-A-01"].seq
