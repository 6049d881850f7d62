"""The put wall: a picked batch sorted into cubbies by item scans and cubby lights, driven through commands."""

from __future__ import annotations

import pytest

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.errors import CommandRejected
from floorgate.core.floor import Floor
from floorgate.core.instructions import ERROR_COLOR, Blink
from floorgate.core.model import BatchStatus, SortState
from floorgate.core.put_wall import DONE_COLOR, PUT_COLOR
from tests.support.batch_floor import GTINS, batch_floor, batch_of_three, picked_batch, scan_at_wall, start
from tests.support.floor_commands import NOW, cleared, lights_on, of_type, press, restored_copy

pytestmark = pytest.mark.unit


@pytest.fixture
def floor() -> Floor:
    f = batch_floor()
    picked_batch(f)
    return f


def put(floor: Floor, sku: str, cubby: str, times: int = 1) -> None:
    """Scan the item `times` times and confirm the cubby it lit, as a sorter does."""
    for _ in range(times):
        lit = lights_on(scan_at_wall(floor, GTINS[sku]))
        assert set(lit) == {cubby}
    assert of_type(press(floor, cubby, None), ev.PutConfirmed)


def test_the_first_item_scan_gives_each_order_a_cubby_and_lights_the_oldest_orders_that_needs_it(
    floor: Floor,
) -> None:
    outcome = scan_at_wall(floor, GTINS["SKU-1"])

    (started,) = of_type(outcome, ev.BatchSortStarted)
    assert isinstance(started, ev.BatchSortStarted)
    assert started.cubbies == {"O1": "W1-01", "O2": "W1-02", "O3": "W1-03"}
    light = lights_on(outcome)["W1-01"]
    assert (light.color, light.display) == (PUT_COLOR, "1")
    assert floor.batches["B1"].status is BatchStatus.SORTING
    wall = floor.walls["W1"]
    assert (wall.sku, wall.cubby, wall.qty, wall.error) == ("SKU-1", "W1-01", 1, False)


def test_an_item_scanned_again_before_the_confirm_adds_to_the_same_cubby(floor: Floor) -> None:
    scan_at_wall(floor, GTINS["SKU-1"])

    outcome = scan_at_wall(floor, "SKU-1")  # the SKU itself, as a label may carry it

    assert lights_on(outcome)["W1-01"].display == "2"
    third = scan_at_wall(floor, GTINS["SKU-1"])
    assert set(lights_on(third)) == {"W1-02"}  # O1 has both its units coming: O2 is next


def test_a_confirm_records_the_put_and_a_full_cubby_blinks_done(floor: Floor) -> None:
    scan_at_wall(floor, GTINS["SKU-1"])
    scan_at_wall(floor, GTINS["SKU-1"])

    outcome = press(floor, "W1-01", "2")

    (confirmed,) = of_type(outcome, ev.PutConfirmed)
    assert confirmed == ev.PutConfirmed(order="O1", batch="B1", wall="W1", cubby="W1-01", sku="SKU-1", qty=2)
    assert cleared(outcome) == {"W1-01"}  # O1 still waits for its SKU-2
    scan_at_wall(floor, GTINS["SKU-2"])
    done = lights_on(press(floor, "W1-01", "1"))["W1-01"]
    assert (done.color, done.blink) == (DONE_COLOR, Blink.SLOW)
    assert floor.batches["B1"].orders[0].state is SortState.DONE


def test_a_confirm_on_a_done_cubby_sorts_the_order_once_and_frees_the_cubby(floor: Floor) -> None:
    put(floor, "SKU-1", "W1-01", times=2)
    put(floor, "SKU-2", "W1-01")

    outcome = press(floor, "W1-01", "done")

    (sorted_,) = of_type(outcome, ev.OrderSorted)
    assert sorted_ == ev.OrderSorted(
        order="O1",
        batch="B1",
        wall="W1",
        cubby="W1-01",
        items=[{"sku": "SKU-1", "qty": 2}, {"sku": "SKU-2", "qty": 1}],
    )
    assert cleared(outcome) == {"W1-01"}
    again = press(floor, "W1-01", None)
    assert of_type(again, ev.OrderSorted) == []
    assert [e.kind for e in of_type(again, ev.ExceptionRaised) if isinstance(e, ev.ExceptionRaised)] == [
        "cubby_not_lit"
    ]


def test_every_order_sorted_sorts_the_batch(floor: Floor) -> None:
    put(floor, "SKU-1", "W1-01", times=2)
    put(floor, "SKU-2", "W1-01")
    put(floor, "SKU-1", "W1-02")
    put(floor, "SKU-1", "W1-03", times=3)
    put(floor, "SKU-2", "W1-03", times=2)
    sorted_orders = []
    for cubby in ("W1-01", "W1-02", "W1-03"):
        outcome = press(floor, cubby, "done")
        sorted_orders += [e.order for e in of_type(outcome, ev.OrderSorted) if isinstance(e, ev.OrderSorted)]

    assert sorted_orders == ["O1", "O2", "O3"]
    (done,) = of_type(outcome, ev.BatchSorted)
    assert done == ev.BatchSorted(batch="B1", wall="W1", orders=["O1", "O2", "O3"])
    assert floor.batches["B1"].status is BatchStatus.SORTED
    assert floor.put_wall.sorting("W1") is None


def test_an_item_no_order_of_the_batch_needs_is_rejected_in_red_on_the_walls_screen(floor: Floor) -> None:
    scan_at_wall(floor, GTINS["SKU-1"])

    outcome = scan_at_wall(floor, GTINS["SKU-4"])

    (rejected,) = of_type(outcome, ev.PutRejected)
    assert isinstance(rejected, ev.PutRejected)
    assert (rejected.reason, rejected.batch, rejected.sku) == ("not_needed", "B1", "SKU-4")
    assert outcome.instructions == []
    wall = floor.walls["W1"]
    assert wall.error
    assert "no order of the batch needs it" in wall.message


def test_one_unit_more_than_the_orders_got_is_rejected_as_too_many(floor: Floor) -> None:
    put(floor, "SKU-2", "W1-01")
    put(floor, "SKU-2", "W1-03", times=2)

    outcome = scan_at_wall(floor, GTINS["SKU-2"])

    (rejected,) = of_type(outcome, ev.PutRejected)
    assert isinstance(rejected, ev.PutRejected)
    assert rejected.reason == "too_many"


def test_a_confirm_of_more_than_the_cubby_was_sent_is_rejected_and_flashes_red(floor: Floor) -> None:
    scan_at_wall(floor, GTINS["SKU-1"])

    outcome = press(floor, "W1-01", "3")

    (rejected,) = of_type(outcome, ev.PutRejected)
    assert isinstance(rejected, ev.PutRejected)
    assert (rejected.reason, rejected.cubby, rejected.order, rejected.shown) == (
        "too_many",
        "W1-01",
        "O1",
        "3",
    )
    red = lights_on(outcome)["W1-01"]
    assert (red.color, red.blink, red.display) == (ERROR_COLOR, Blink.FAST, "1")
    assert floor.batches["B1"].orders[0].put == {}
    assert of_type(press(floor, "W1-01", "1"), ev.PutConfirmed)


def test_a_scan_at_a_wall_with_no_batch_to_sort_is_rejected_and_nothing_changes() -> None:
    floor = batch_floor()
    batch_of_three(floor)
    start(floor)

    outcome = scan_at_wall(floor, GTINS["SKU-1"])

    (rejected,) = of_type(outcome, ev.PutRejected)
    assert isinstance(rejected, ev.PutRejected)
    assert (rejected.reason, rejected.batch) == ("no_batch_sorting", None)
    assert outcome.instructions == []
    assert floor.batches["B1"].status is BatchStatus.PICKING
    assert floor.walls["W1"].error


def test_a_confirm_on_a_free_cubby_is_an_exception_and_changes_nothing(floor: Floor) -> None:
    outcome = press(floor, "W1-04", "1")

    (raised,) = of_type(outcome, ev.ExceptionRaised)
    assert isinstance(raised, ev.ExceptionRaised)
    assert (raised.kind, raised.device) == ("cubby_not_lit", "W1-04")
    assert of_type(outcome, ev.PutConfirmed) == []
    assert floor.batches["B1"].status is BatchStatus.PICKED
    # Still answered with a newer seq, as every confirm is.
    assert [i.module for i in outcome.instructions] == ["W1-04"]


def test_an_order_cancelled_mid_sort_blinks_its_cubby_for_removal_and_names_its_items(floor: Floor) -> None:
    put(floor, "SKU-1", "W1-01", times=2)
    put(floor, "SKU-2", "W1-01")
    put(floor, "SKU-1", "W1-02")
    put(floor, "SKU-1", "W1-03")

    outcome = floor.handle(cmd.CancelOrder(order_id="O3"), NOW)

    (gone,) = of_type(outcome, ev.OrderSortCancelled)
    assert gone == ev.OrderSortCancelled(
        order="O3",
        batch="B1",
        wall="W1",
        cubby="W1-03",
        in_cubby=[{"sku": "SKU-1", "qty": 1}],
        not_sorted=[{"sku": "SKU-1", "qty": 2}, {"sku": "SKU-2", "qty": 2}],
    )
    blink = lights_on(outcome)["W1-03"]
    assert (blink.color, blink.blink) == (ERROR_COLOR, Blink.FAST)
    raised = [e for e in of_type(outcome, ev.ExceptionRaised) if isinstance(e, ev.ExceptionRaised)]
    assert [e.kind for e in raised] == ["sort_cancelled"]
    assert "3 x SKU-1" in raised[0].message
    # The cancelled order's units are nobody's now: one scanned is one too many.
    (rejected,) = of_type(scan_at_wall(floor, GTINS["SKU-2"]), ev.PutRejected)
    assert isinstance(rejected, ev.PutRejected)
    assert rejected.reason == "too_many"
    emptied = press(floor, "W1-03", "out")
    assert cleared(emptied) == {"W1-03"}
    assert floor.batches["B1"].orders[2].state is SortState.CANCELLED


def test_a_restored_floor_keeps_the_cubbies_what_was_sent_to_them_and_their_lights(floor: Floor) -> None:
    scan_at_wall(floor, GTINS["SKU-1"])

    copy = restored_copy(floor)

    assert copy.put_wall.sorting("W1") is not None
    assert copy.lights["W1-01"].display == "1"
    (confirmed,) = of_type(press(copy, "W1-01", "1"), ev.PutConfirmed)
    assert isinstance(confirmed, ev.PutConfirmed)
    assert (confirmed.order, confirmed.qty) == ("O1", 1)


def test_a_cubby_cannot_be_a_bins_module_or_another_walls() -> None:
    floor = batch_floor()

    with pytest.raises(CommandRejected, match="location 'A-01'"):
        floor.handle(cmd.DefineWall(wall="W2", cubbies=("M-A-01",)), NOW)
    with pytest.raises(CommandRejected, match="cubby of wall 'W1'"):
        floor.handle(cmd.DefineWall(wall="W2", cubbies=("W1-01",)), NOW)
    assert set(floor.walls) == {"W1"}
