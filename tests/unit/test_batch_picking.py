"""Batch picking: orders picked as one walk, each bin lit once for the batch, driven through commands."""

from __future__ import annotations

import pytest

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.errors import CommandRejected, RejectionKind
from floorgate.core.floor import Floor
from floorgate.core.instructions import ERROR_COLOR, PICKER_PALETTE, Blink
from floorgate.core.model import BatchStatus, LineStatus, OrderStatus, SortState
from tests.support.batch_floor import batch_floor, batch_of_three, start
from tests.support.floor_commands import NOW, cleared, lights_on, of_type, press, receive, restored_copy

pytestmark = pytest.mark.unit


@pytest.fixture
def floor() -> Floor:
    f = batch_floor()
    batch_of_three(f)
    return f


def line_state(floor: Floor, order_id: str, line_id: str = "L1") -> tuple[LineStatus, int]:
    line = floor.orders[order_id].lines[line_id]
    return line.status, line.picked


def test_starting_a_batch_lights_each_bin_once_with_the_batchs_summed_quantity_in_the_pickers_colour(
    floor: Floor,
) -> None:
    outcome = start(floor)

    lit = lights_on(outcome)
    assert {m: (light.display, light.color) for m, light in lit.items()} == {
        "M-A-01": ("6", PICKER_PALETTE[0]),
        "M-A-02": ("3", PICKER_PALETTE[0]),
    }
    (started,) = of_type(outcome, ev.BatchStarted)
    assert started == ev.BatchStarted(
        batch="B1",
        zone="A",
        operator="ann",
        color=PICKER_PALETTE[0],
        locations_lit=["A-01", "A-02"],
        locations_queued=[],
    )
    assert floor.batches["B1"].status is BatchStatus.PICKING
    assert all(floor.orders[o].status is OrderStatus.PICKING for o in ("O1", "O2", "O3"))
    # The bins are the batch's, not any one order line's.
    assert floor.board.claim_of("A-01") == ("batch", "B1")
    assert floor.board.holder("A-01") is None


def test_confirming_a_batch_bin_picks_every_orders_line_there_and_on_hand_falls_as_for_order_picks(
    floor: Floor,
) -> None:
    start(floor)

    outcome = press(floor, "M-A-01", "6")

    confirmed = of_type(outcome, ev.PickConfirmed)
    assert [(e.order, e.line, e.picked, e.on_hand) for e in confirmed if isinstance(e, ev.PickConfirmed)] == [
        ("O1", "L1", 2, 8),
        ("O2", "L1", 1, 7),
        ("O3", "L1", 3, 4),
    ]
    assert cleared(outcome) == {"M-A-01"}
    assert floor.locations["A-01"].on_hand == 4
    assert [line_state(floor, o) for o in ("O1", "O2", "O3")] == [
        (LineStatus.PICKED, 2),
        (LineStatus.PICKED, 1),
        (LineStatus.PICKED, 3),
    ]
    # O2 had nothing else to pick: picking finishes it as it would its own pick.
    assert [e.order for e in of_type(outcome, ev.OrderPicked) if isinstance(e, ev.OrderPicked)] == ["O2"]


def test_a_short_at_a_batch_bin_falls_on_the_latest_orders_first_and_they_carry_the_short_lines(
    floor: Floor,
) -> None:
    start(floor)

    outcome = press(floor, "M-A-01", "4", cmd.Button.SHORT)

    shorted = [e for e in of_type(outcome, ev.PickShorted) if isinstance(e, ev.PickShorted)]
    assert [(e.order, e.picked, e.short) for e in shorted] == [("O3", 1, 2)]
    assert [line_state(floor, o) for o in ("O1", "O2", "O3")] == [
        (LineStatus.PICKED, 2),
        (LineStatus.PICKED, 1),
        (LineStatus.SHORT, 1),
    ]
    assert floor.locations["A-01"].on_hand == 6
    (raised,) = of_type(outcome, ev.ExceptionRaised)
    assert isinstance(raised, ev.ExceptionRaised)
    assert (raised.kind, raised.location, raised.detail["batch"]) == ("inventory_short", "A-01", "B1")


def test_a_short_larger_than_the_latest_order_spreads_on_to_the_next_latest(floor: Floor) -> None:
    start(floor)

    press(floor, "M-A-01", "1", cmd.Button.SHORT)

    assert [line_state(floor, o) for o in ("O1", "O2", "O3")] == [
        (LineStatus.SHORT, 1),
        (LineStatus.SHORT, 0),
        (LineStatus.SHORT, 0),
    ]
    assert floor.batches["B1"].orders[0].picked == {"SKU-1": 1}


def test_a_batch_is_picked_when_every_bin_is_done_with_what_each_order_got(floor: Floor) -> None:
    start(floor)
    press(floor, "M-A-01", "5", cmd.Button.SHORT)

    outcome = press(floor, "M-A-02", "3")

    (picked,) = of_type(outcome, ev.BatchPicked)
    assert isinstance(picked, ev.BatchPicked)
    assert picked.orders == [
        {"order": "O1", "items": [{"sku": "SKU-1", "qty": 2}, {"sku": "SKU-2", "qty": 1}]},
        {"order": "O2", "items": [{"sku": "SKU-1", "qty": 1}]},
        {"order": "O3", "items": [{"sku": "SKU-1", "qty": 2}, {"sku": "SKU-2", "qty": 2}]},
    ]
    assert floor.batches["B1"].status is BatchStatus.PICKED
    assert all(floor.orders[o].status is OrderStatus.PICKED for o in ("O1", "O2", "O3"))


def test_more_than_the_bin_asks_for_is_refused_in_red_and_changes_nothing(floor: Floor) -> None:
    start(floor)

    outcome = press(floor, "M-A-01", "7")

    (rejected,) = of_type(outcome, ev.BatchPickRejected)
    assert isinstance(rejected, ev.BatchPickRejected)
    assert (rejected.reason, rejected.qty, rejected.shown) == ("over_pick", 6, "7")
    red = lights_on(outcome)["M-A-01"]
    assert (red.color, red.blink, red.display) == (ERROR_COLOR, Blink.FAST, "6")
    assert floor.locations["A-01"].on_hand == 10
    assert line_state(floor, "O1") == (LineStatus.OPEN, 0)


def test_a_bin_lit_for_an_order_makes_the_batch_wait_for_it() -> None:
    floor = batch_floor()
    receive(floor, "O9", ("L1", "SKU-1", 1, "A-01"))
    floor.handle(cmd.StartOrder(order_id="O9", zone="A", operator="bob"), NOW)
    batch_of_three(floor)

    started = start(floor)

    (event,) = of_type(started, ev.BatchStarted)
    assert isinstance(event, ev.BatchStarted)
    assert (event.locations_lit, event.locations_queued) == (["A-02"], ["A-01"])
    handed_on = press(floor, "M-A-01", "1")
    assert lights_on(handed_on)["M-A-01"].display == "6"
    assert floor.board.claim_of("A-01") == ("batch", "B1")


def test_an_order_of_a_batch_cannot_be_started_on_its_own(floor: Floor) -> None:
    with pytest.raises(CommandRejected, match="batch 'B1'") as refused:
        floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    assert refused.value.kind is RejectionKind.CONFLICT


def test_an_identical_batch_replay_is_accepted_once_and_a_different_body_conflicts(floor: Floor) -> None:
    assert batch_of_three(floor).reply == {"created": False}
    with pytest.raises(CommandRejected) as refused:
        floor.handle(cmd.ReceiveBatch(batch_id="B1", order_ids=("O1",), wall="W1"), NOW)
    assert refused.value.kind is RejectionKind.CONFLICT


@pytest.mark.parametrize(
    ("order_ids", "wall", "kind", "message"),
    [
        (("O1", "O2"), "W9", RejectionKind.INVALID, "unknown wall 'W9'"),
        (("O1", "O1"), "W1", RejectionKind.INVALID, "appears twice"),
        ((), "W1", RejectionKind.INVALID, "at least one order"),
        (("O1", "NOPE"), "W1", RejectionKind.NOT_FOUND, "no order 'NOPE'"),
        (("O1", "O2", "O3", "O4", "O5"), "W1", RejectionKind.INVALID, "4 cubbies"),
    ],
)
def test_a_bad_batch_is_refused_naming_what_is_wrong_and_nothing_changes(
    order_ids: tuple[str, ...], wall: str, kind: RejectionKind, message: str
) -> None:
    floor = batch_floor()
    for order_id in ("O4", "O5"):
        receive(floor, order_id, ("L1", "SKU-2", 1, "A-02"))

    with pytest.raises(CommandRejected, match=message) as refused:
        floor.handle(cmd.ReceiveBatch(batch_id="B1", order_ids=order_ids, wall=wall), NOW)

    assert refused.value.kind is kind
    assert floor.batches == {}
    assert all(order.batch is None for order in floor.orders.values())


def test_an_order_already_in_a_batch_or_started_elsewhere_cannot_join_a_batch(floor: Floor) -> None:
    receive(floor, "O4", ("L1", "SKU-2", 1, "A-02"))
    floor.handle(cmd.StartOrder(order_id="O4", zone="A"), NOW)

    with pytest.raises(CommandRejected, match="already in batch 'B1'") as twice:
        floor.handle(cmd.ReceiveBatch(batch_id="B2", order_ids=("O1",), wall="W1"), NOW)
    with pytest.raises(CommandRejected, match="'O4' is picking") as started:
        floor.handle(cmd.ReceiveBatch(batch_id="B2", order_ids=("O4",), wall="W1"), NOW)

    assert twice.value.kind is started.value.kind is RejectionKind.CONFLICT
    assert set(floor.batches) == {"B1"}
    assert floor.orders["O4"].batch is None


def test_starting_an_unknown_batch_or_in_an_unknown_zone_is_not_found(floor: Floor) -> None:
    with pytest.raises(CommandRejected, match="no batch 'B9'") as batch:
        start(floor, batch_id="B9")
    with pytest.raises(CommandRejected, match="unknown zone") as zone:
        start(floor, zone="Z")
    assert batch.value.kind is zone.value.kind is RejectionKind.NOT_FOUND
    assert floor.batches["B1"].status is BatchStatus.OPEN


def test_starting_a_batch_again_in_the_same_zone_changes_nothing(floor: Floor) -> None:
    first = start(floor)
    again = start(floor)
    assert again.reply == {"color": first.reply["color"], "already_started": True}
    assert again.instructions == []


def test_an_order_cancelled_while_its_batch_is_picked_leaves_its_share_of_every_bin(floor: Floor) -> None:
    start(floor)

    outcome = floor.handle(cmd.CancelOrder(order_id="O3"), NOW)

    lit = lights_on(outcome)
    assert (lit["M-A-01"].display, lit["M-A-02"].display) == ("3", "1")
    (gone,) = of_type(outcome, ev.OrderSortCancelled)
    assert isinstance(gone, ev.OrderSortCancelled)
    assert (gone.order, gone.not_sorted) == ("O3", [])
    assert floor.batches["B1"].orders[2].state is SortState.CANCELLED
    press(floor, "M-A-01", "3")
    assert line_state(floor, "O3") == (LineStatus.OPEN, 0)
    assert floor.locations["A-01"].on_hand == 7


def test_a_bin_only_a_cancelled_order_needed_is_let_go(floor: Floor) -> None:
    start(floor)
    press(floor, "M-A-01", "6")

    outcome = floor.handle(cmd.CancelOrder(order_id="O1"), NOW)
    outcome = floor.handle(cmd.CancelOrder(order_id="O3"), NOW)

    assert cleared(outcome) == {"M-A-02"}
    assert floor.board.claim_of("A-02") is None
    (picked,) = of_type(outcome, ev.BatchPicked)
    assert isinstance(picked, ev.BatchPicked)
    assert picked.orders == [{"order": "O2", "items": [{"sku": "SKU-1", "qty": 1}]}]


def test_a_restored_floor_keeps_the_batchs_lit_and_queued_bins_and_its_orders() -> None:
    floor = batch_floor()
    receive(floor, "O9", ("L1", "SKU-2", 1, "A-02"))
    floor.handle(cmd.StartOrder(order_id="O9", zone="A", operator="bob"), NOW)
    batch_of_three(floor)
    start(floor)

    copy = restored_copy(floor)

    assert copy.board.claim_of("A-01") == ("batch", "B1")
    assert copy.orders["O1"].batch == "B1"
    handed_on = press(copy, "M-A-02", "1")
    assert lights_on(handed_on)["M-A-02"].display == "3"
    assert of_type(press(copy, "M-A-01", "6"), ev.PickConfirmed)


def test_scanning_the_batch_at_a_zones_start_station_starts_it_for_the_signed_in_picker(floor: Floor) -> None:
    floor.handle(cmd.DefineStation(station="ZS-A", kind=cmd.StationKind.ZONE, zone="A"), NOW)
    floor.handle(cmd.RecordScan(station="ZS-A", data="OP:bob"), NOW)

    outcome = floor.handle(cmd.RecordScan(station="ZS-A", data="B1"), NOW)

    (started,) = of_type(outcome, ev.BatchStarted)
    assert isinstance(started, ev.BatchStarted)
    assert (started.zone, started.operator) == ("A", "bob")
    assert lights_on(outcome)["M-A-01"].display == "6"
    again = floor.handle(cmd.RecordScan(station="ZS-A", data="B1"), NOW)
    assert again.instructions == []
