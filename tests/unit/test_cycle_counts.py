"""Cycle counts through commands: blind and open counts, variances, recounts, waits, cancels and refusals."""

from __future__ import annotations

import pytest

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.errors import RejectionKind
from floorgate.core.floor import Floor, Outcome
from floorgate.core.instructions import Blink
from floorgate.core.model import CountBinStatus, CountStatus, ExceptionStatus, LineStatus
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


def count(
    floor: Floor, count_id: str, *locations: str, zone: str | None = None, blind: bool = True
) -> Outcome:
    return floor.handle(cmd.StartCount(count_id=count_id, zone=zone, locations=locations, blind=blind), NOW)


def exceptions_of(outcome: Outcome) -> list[str]:
    return [e.kind for e in of_type(outcome, ev.ExceptionRaised)]  # type: ignore[attr-defined]


def test_a_blind_count_shows_zero_and_a_difference_sets_the_record_and_raises_a_variance() -> None:
    floor = make_floor()
    started = count(floor, "C1", "A-01")
    light = lights_on(started)["M-A-01"]
    assert (light.display, light.color, light.blink) == ("0", "white", Blink.SLOW)
    assert of_type(started, ev.CountStarted) == [
        ev.CountStarted(
            count_id="C1", zone=None, blind=True, locations_lit=["A-01"], locations_queued=[], by=None
        )
    ]

    counted = press(floor, "M-A-01", "9")
    assert floor_events(counted)[:2] == [
        ev.CountRecorded(
            count_id="C1",
            location="A-01",
            sku="SKU-1",
            expected=10,
            counted=9,
            variance=-1,
            blind=True,
            recount=0,
        ),
        ev.InventoryAdjusted(location="A-01", sku="SKU-1", on_hand=9, previous=10, reason="cycle_count"),
    ]
    assert exceptions_of(counted) == ["count_variance"]  # 10 % is above the default 5 %
    raised = of_type(counted, ev.ExceptionRaised)[0]
    assert raised.location == "A-01"  # type: ignore[attr-defined]
    assert raised.detail["variance_pct"] == 10.0  # type: ignore[attr-defined]
    assert of_type(counted, ev.CountCompleted) == [
        ev.CountCompleted(count_id="C1", zone=None, bins=1, bins_with_variance=1, net_adjustment=-1)
    ]
    assert "M-A-01" in cleared(counted)
    assert floor.locations["A-01"].on_hand == 9
    assert floor.state.counts["C1"].status is CountStatus.COMPLETED


def test_an_open_count_shows_the_record_and_a_matching_count_changes_nothing() -> None:
    floor = make_floor()
    assert lights_on(count(floor, "C1", "A-02", blind=False))["M-A-02"].display == "10"
    counted = press(floor, "M-A-02", "10")
    assert [type(e) for e in floor_events(counted)] == [ev.CountRecorded, ev.CountCompleted]
    assert floor.locations["A-02"].on_hand == 10


def test_a_difference_within_the_threshold_adjusts_without_an_exception_and_one_above_raises() -> None:
    floor = make_floor()
    floor.handle(cmd.UpsertLocation(code="A-01", zone="A", module="M-A-01", on_hand=100), NOW)
    floor.handle(cmd.UpsertLocation(code="A-02", zone="A", module="M-A-02", on_hand=100), NOW)
    count(floor, "C1", "A-01", "A-02")
    within = press(floor, "M-A-01", "95")  # 5 %: not above
    assert of_type(within, ev.InventoryAdjusted)
    assert exceptions_of(within) == []
    above = press(floor, "M-A-02", "94")
    assert exceptions_of(above) == ["count_variance"]
    completed = of_type(above, ev.CountCompleted)[0]
    assert (completed.bins_with_variance, completed.net_adjustment) == (2, -11)  # type: ignore[attr-defined]


def test_the_site_threshold_applies_to_counts_started_after_it() -> None:
    floor = make_floor()
    floor.handle(cmd.DefineCountPolicy(variance_exception_pct=20.0), NOW)
    count(floor, "C1", "A-01")
    assert floor.state.counts["C1"].variance_exception_pct == 20.0
    assert exceptions_of(press(floor, "M-A-01", "9")) == []
    assert refused(floor, cmd.DefineCountPolicy(variance_exception_pct=float("nan"))).field == (
        "variance_exception_pct"
    )


def test_a_count_of_a_zone_covers_its_bins_with_modules_and_the_last_completes_it() -> None:
    floor = make_floor()
    floor.handle(cmd.UpsertLocation(code="A-09", zone="A", sku="SKU-9", on_hand=4), NOW)  # no module
    started = count(floor, "C1", zone="A")
    assert set(lights_on(started)) == {"M-A-01", "M-A-02", "M-A-03"}
    assert list(floor.state.counts["C1"].bins) == ["A-01", "A-02", "A-03"]
    assert of_type(press(floor, "M-A-01", "10"), ev.CountCompleted) == []
    assert of_type(press(floor, "M-A-03", "1"), ev.CountCompleted) == []
    assert of_type(press(floor, "M-A-02", "10"), ev.CountCompleted)


def test_a_count_waits_for_the_pick_lit_in_its_bin_and_lights_when_the_pick_is_done() -> None:
    floor = make_floor()
    receive(floor, "O1", ("L1", "SKU-1", 3, "A-01"))
    floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    started = count(floor, "C1", "A-01", "A-02")
    assert set(lights_on(started)) == {"M-A-02"}
    assert of_type(started, ev.CountStarted)[0].locations_queued == ["A-01"]  # type: ignore[attr-defined]
    assert floor.state.counts["C1"].bins["A-01"].status is CountBinStatus.QUEUED

    picked = press(floor, "M-A-01", "3")
    assert of_type(picked, ev.PickConfirmed)
    assert lights_on(picked)["M-A-01"].display == "0"
    counted = press(floor, "M-A-01", "7")
    assert of_type(counted, ev.CountRecorded)[0].expected == 7  # type: ignore[attr-defined]
    assert exceptions_of(counted) == []


def test_a_pick_waits_for_a_bin_being_counted_and_lights_when_it_is_counted() -> None:
    floor = make_floor()
    count(floor, "C1", "A-01")
    receive(floor, "O1", ("L1", "SKU-1", 3, "A-01"))
    started = floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    assert "M-A-01" not in lights_on(started)
    assert floor.orders["O1"].lines["L1"].status is LineStatus.OPEN

    counted = press(floor, "M-A-01", "8")
    assert of_type(counted, ev.PickConfirmed) == []
    assert lights_on(counted)["M-A-01"].display == "3"
    picked = press(floor, "M-A-01", "3")
    assert of_type(picked, ev.PickConfirmed)[0].on_hand == 5  # type: ignore[attr-defined]


def test_a_recount_lights_the_bins_that_differed_and_records_against_the_corrected_record() -> None:
    floor = make_floor()
    count(floor, "C1", "A-01", "A-02")
    press(floor, "M-A-01", "9")
    press(floor, "M-A-02", "10")
    recount = floor.handle(cmd.RecountBins(count_id="C1", by="supervisor"), NOW)
    assert recount.reply == {"recounting": ["A-01"]}
    assert set(lights_on(recount)) == {"M-A-01"}
    assert floor.state.counts["C1"].status is CountStatus.COUNTING

    again = press(floor, "M-A-01", "8")
    recorded = of_type(again, ev.CountRecorded)[0]
    assert (recorded.expected, recorded.counted, recorded.recount) == (9, 8, 1)  # type: ignore[attr-defined]
    completed = of_type(again, ev.CountCompleted)[0]
    assert completed.net_adjustment == -2  # type: ignore[attr-defined]
    entry = floor.state.counts["C1"].bins["A-01"]
    assert (entry.expected, entry.counted, entry.adjusted, entry.recounts) == (10, 8, -2, 1)
    assert floor.locations["A-01"].on_hand == 8


def test_a_recount_of_a_bin_not_counted_or_not_in_the_count_is_refused() -> None:
    floor = make_floor()
    count(floor, "C1", "A-01", "A-02")
    press(floor, "M-A-01", "10")
    assert refused(floor, cmd.RecountBins(count_id="C1", locations=("A-02",))).kind is RejectionKind.CONFLICT
    assert refused(floor, cmd.RecountBins(count_id="C1", locations=("B-01",))).field == "locations[0]"
    assert refused(floor, cmd.RecountBins(count_id="C1")).kind is RejectionKind.CONFLICT  # none differed
    assert refused(floor, cmd.RecountBins(count_id="C9")).kind is RejectionKind.NOT_FOUND


def test_cancelling_a_count_hands_its_bins_on_and_a_later_confirm_is_an_exception_that_changes_nothing() -> (
    None
):
    floor = make_floor()
    receive(floor, "O1", ("L1", "SKU-1", 3, "A-01"))
    count(floor, "C1", "A-01", "A-02")
    floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    cancelled = floor.handle(cmd.CancelCount(count_id="C1"), NOW)
    assert of_type(cancelled, ev.CountCancelled) == [
        ev.CountCancelled(count_id="C1", counted=[], not_counted=["A-01", "A-02"], by=None)
    ]
    assert lights_on(cancelled)["M-A-01"].display == "3"  # the waiting pick
    assert "M-A-02" in cleared(cancelled)

    late = press(floor, "M-A-02", "4")
    assert exceptions_of(late) == ["button_not_lit"]
    assert of_type(late, ev.CountRecorded) == []
    assert floor.locations["A-02"].on_hand == 10
    assert floor.handle(cmd.CancelCount(count_id="C1"), NOW).reply == {"already_cancelled": True}


@pytest.mark.parametrize(
    ("command", "kind", "field"),
    [
        (cmd.StartCount(count_id="C1", locations=("Z-99",)), RejectionKind.INVALID, "locations[0]"),
        (cmd.StartCount(count_id="C1", locations=("A-01", "A-01")), RejectionKind.INVALID, "locations[1]"),
        (cmd.StartCount(count_id="C1"), RejectionKind.INVALID, "locations"),
        (cmd.StartCount(count_id="C1", zone="A", locations=("A-01",)), RejectionKind.INVALID, "locations"),
        (cmd.StartCount(count_id="C1", zone="Q"), RejectionKind.INVALID, "zone"),
    ],
)
def test_a_count_that_cannot_be_counted_is_refused_naming_the_field(
    command: cmd.StartCount, kind: RejectionKind, field: str
) -> None:
    floor = make_floor()
    rejected = refused(floor, command)
    assert (rejected.kind, rejected.field) == (kind, field)
    assert floor.state.counts == {}


def test_a_bin_without_a_module_or_already_being_counted_cannot_be_counted() -> None:
    floor = make_floor()
    floor.handle(cmd.UpsertLocation(code="A-09", zone="A", sku="SKU-9", on_hand=4), NOW)
    assert refused(floor, cmd.StartCount(count_id="C1", locations=("A-09",))).field == "locations[0]"
    count(floor, "C1", "A-01")
    rejected = refused(floor, cmd.StartCount(count_id="C2", locations=("A-02", "A-01")))
    assert (rejected.kind, rejected.field) == (RejectionKind.CONFLICT, "locations[1]")


def test_an_identical_count_replay_is_started_once_and_a_different_body_conflicts() -> None:
    floor = make_floor()
    count(floor, "C1", "A-01")
    replay = count(floor, "C1", "A-01")
    assert (replay.reply, replay.events, replay.instructions) == ({"created": False}, [], [])
    assert refused(floor, cmd.StartCount(count_id="C1", locations=("A-01",), blind=False)).kind is (
        RejectionKind.CONFLICT
    )


@pytest.mark.parametrize("display", ["-1", "many", "100001", None])
def test_a_count_confirm_showing_no_quantity_is_an_exception_and_the_bin_stays_to_count(
    display: str | None,
) -> None:
    floor = make_floor()
    count(floor, "C1", "A-01")
    outcome = press(floor, "M-A-01", display)
    assert exceptions_of(outcome) == ["count_rejected"]
    assert of_type(outcome, ev.CountRecorded) == []
    assert floor.locations["A-01"].on_hand == 10
    assert floor.state.counts["C1"].bins["A-01"].status is CountBinStatus.LIT
    assert lights_on(outcome)["M-A-01"].display == "0"
    assert of_type(press(floor, "M-A-01", "10"), ev.CountCompleted)


def test_a_variance_exception_is_resolved_like_any_other() -> None:
    floor = make_floor()
    count(floor, "C1", "A-03")
    raised = of_type(press(floor, "M-A-03", "4"), ev.ExceptionRaised)[0]
    exception_id = raised.exception_id  # type: ignore[attr-defined]
    assert raised.detail["variance_pct"] is not None  # type: ignore[attr-defined]
    floor.handle(cmd.ResolveException(exception_id=exception_id, resolved_by="sue"), NOW)
    assert floor.exceptions[exception_id].status is ExceptionStatus.RESOLVED


def test_a_restored_floor_goes_on_with_a_count_half_done() -> None:
    floor = make_floor()
    receive(floor, "O1", ("L1", "SKU-1", 3, "A-01"))
    floor.handle(cmd.StartOrder(order_id="O1", zone="A"), NOW)
    count(floor, "C1", "A-01", "A-02")
    press(floor, "M-A-02", "10")
    copy = restored_copy(floor)
    picked = press(copy, "M-A-01", "3")
    assert lights_on(picked)["M-A-01"].display == "0"
    done = press(copy, "M-A-01", "7")
    assert of_type(done, ev.CountCompleted)
    assert copy.state.counts["C1"].status is CountStatus.COMPLETED
