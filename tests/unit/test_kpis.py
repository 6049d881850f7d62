"""KPIs from committed events: shift totals, the rolling 15-minute window, rates and accuracy."""

from __future__ import annotations

import pytest

from floorgate.core import events as ev
from floorgate.web.kpis import (
    DATA_TYPES,
    MIN_SPAN_S,
    SHIFT_S,
    UNKNOWN_PICKER,
    Counts,
    KpiTracker,
    shift_start,
)

pytestmark = pytest.mark.unit

START = 1_700_000_000.0


def confirmed(picker: str | None = "ann") -> tuple[str, dict[str, object]]:
    return "pick.confirmed", {"operator": picker, "qty": 2, "picked": 2}


def test_lines_per_hour_and_accuracy_count_per_picker_and_in_total() -> None:
    kpis = KpiTracker(shift_started_at=START)
    for n in range(30):
        kpis.record(*confirmed("ann"), at=START + n)
    for n in range(10):
        kpis.record(*confirmed("bob"), at=START + n)
    kpis.record("pick.short", {"operator": "bob", "short": 1}, at=START + 20)
    kpis.record("pick.rejected", {"operator": "bob", "reason": "over_pick"}, at=START + 21)

    view = kpis.view(START + 1800)  # half an hour into the shift

    shift = view["shift"]
    assert shift["lines"] == 41
    assert shift["lines_per_hour"] == 82.0  # 41 lines in half an hour
    assert shift["shorts"] == 1
    assert shift["rejected_picks"] == 1
    assert shift["pick_accuracy"] == round(41 / 42, 4)  # a short is accurate; a refused pick is not
    pickers = {p["picker"]: p for p in shift["pickers"]}
    assert pickers["ann"]["lines"] == 30
    assert pickers["ann"]["lines_per_hour"] == 60.0
    assert pickers["ann"]["pick_accuracy"] == 1.0
    assert pickers["bob"]["lines"] == 11
    assert pickers["bob"]["shorts"] == 1
    assert pickers["bob"]["pick_accuracy"] == round(11 / 12, 4)
    assert [p["picker"] for p in shift["pickers"]] == ["ann", "bob"]  # busiest first


def test_the_rolling_window_forgets_events_older_than_fifteen_minutes() -> None:
    kpis = KpiTracker(shift_started_at=START)
    kpis.record(*confirmed(), at=START + 10)
    kpis.record("pack.rejected", {"order": "O-1"}, at=START + 10)
    kpis.record(*confirmed(), at=START + 1000)

    view = kpis.view(START + 1200)
    assert view["shift"]["lines"] == 2
    assert view["shift"]["weight_failures"] == 1
    assert view["last_15m"]["lines"] == 1
    assert view["last_15m"]["weight_failures"] == 0
    assert view["last_15m"]["seconds"] == 900.0
    assert view["last_15m"]["lines_per_hour"] == 4.0  # one line in a quarter of an hour
    assert view["last_15m"]["pickers"] == [
        {
            "picker": "ann",
            "lines": 1,
            "lines_per_hour": 4.0,
            "shorts": 0,
            "rejected_picks": 0,
            "pick_accuracy": 1.0,
        }
    ]

    later = kpis.view(START + 1000 + 901)
    assert later["last_15m"]["lines"] == 0
    assert later["last_15m"]["pickers"] == []  # a picker who left the window leaves the table
    assert later["last_15m"]["pick_accuracy"] is None  # no attempts: no accuracy to claim
    assert later["shift"]["lines"] == 2


def test_weight_checks_count_passes_failures_and_overrides() -> None:
    kpis = KpiTracker(shift_started_at=START)
    kpis.record("pack.verified", {"order": "O-1"}, at=START + 1)
    kpis.record("pack.rejected", {"order": "O-2"}, at=START + 2)
    kpis.record("pack.overridden", {"order": "O-2"}, at=START + 3)

    window = kpis.view(START + 60)["last_15m"]
    assert (window["weight_checks"], window["weight_failures"], window["overrides"]) == (2, 1, 1)


def test_events_per_second_counts_every_event_and_a_young_shift_is_not_blown_up() -> None:
    kpis = KpiTracker(shift_started_at=START)
    for n in range(120):
        kpis.record("device.online", {"device": f"M-{n}"}, at=START + 0.5)

    young = kpis.view(START + 1)["shift"]
    assert young["events_per_s"] == round(120 / MIN_SPAN_S, 2)  # not 120/s after one second
    assert kpis.view(START + 240)["shift"]["events_per_s"] == 0.5


def test_a_line_without_an_operator_is_still_counted() -> None:
    kpis = KpiTracker(shift_started_at=START)
    kpis.record(*confirmed(None), at=START + 5)
    assert kpis.view(START + 10)["shift"]["pickers"][0]["picker"] == UNKNOWN_PICKER


def test_events_before_the_shift_and_a_clock_step_back_are_handled() -> None:
    kpis = KpiTracker(shift_started_at=START)
    kpis.record(*confirmed(), at=START - 5)  # last shift's
    kpis.record(*confirmed(), at=START + 100)
    kpis.record(*confirmed(), at=START + 50)  # the clock stepped back: counted, in the newest bucket
    view = kpis.view(START + 120)
    assert view["shift"]["lines"] == 2
    assert view["last_15m"]["lines"] == 2
    assert kpis.view(START + 100 + 901)["last_15m"]["lines"] == 0


def test_starting_a_new_shift_resets_the_counts() -> None:
    kpis = KpiTracker(shift_started_at=START)
    kpis.record(*confirmed(), at=START + 1)
    kpis.start_shift(START + 3600)
    kpis.record(*confirmed(), at=START + 3601)
    view = kpis.view(START + 3700)
    assert view["shift"]["lines"] == 1
    assert view["last_15m"]["lines"] == 1


def test_the_current_shift_starts_on_the_clock_so_a_restart_finds_the_same_start() -> None:
    boundary = 1_700_006_400.0  # 00:00 UTC, 15 November 2023: a multiple of eight hours
    assert shift_start(boundary) == boundary
    assert shift_start(boundary + SHIFT_S - 1) == boundary  # late in the shift
    assert shift_start(boundary - 1) == boundary - SHIFT_S  # the shift before
    started = KpiTracker.current_shift(boundary + 3600)
    restarted = KpiTracker.current_shift(boundary + 7200)
    assert started.shift_started_at == restarted.shift_started_at == boundary


def test_a_shift_ends_at_its_boundary_and_the_next_starts_from_zero() -> None:
    boundary = 1_700_006_400.0
    kpis = KpiTracker.current_shift(boundary + SHIFT_S - 100)
    kpis.record(*confirmed(), at=boundary + SHIFT_S - 10)
    assert kpis.view(boundary + SHIFT_S - 1)["shift"]["lines"] == 1

    nobody_picked = kpis.view(boundary + SHIFT_S + 5)
    assert nobody_picked["shift_started_at"] == boundary + SHIFT_S
    assert (nobody_picked["shift"]["lines"], nobody_picked["last_15m"]["lines"]) == (0, 0)

    kpis.record(*confirmed(), at=boundary + 3 * SHIFT_S + 1)  # an edge left running past two shifts
    view = kpis.view(boundary + 3 * SHIFT_S + 2)
    assert view["shift_started_at"] == boundary + 3 * SHIFT_S
    assert view["shift"]["lines"] == 1


def test_only_the_events_named_in_data_types_are_counted_by_their_data() -> None:
    """A restart reads the data of DATA_TYPES' events only: every other event must count the same without."""
    types = {cls.TYPE for cls in vars(ev).values() if isinstance(cls, type) and issubclass(cls, ev.Event)}
    for event_type in sorted(types - {""}):
        with_data, without = Counts(), Counts()
        with_data.add_event(event_type, {"operator": "ann", "order": "O-1", "variance": -3})
        without.add_event(event_type, {})
        assert (with_data == without) is (event_type not in DATA_TYPES), event_type


def counted(location: str, variance: int | None, recount: int = 0) -> tuple[str, dict[str, object]]:
    expected = None if variance is None else 20
    return "count.recorded", {
        "count_id": "CC-1",
        "location": location,
        "expected": expected,
        "counted": 20 + (variance or 0),
        "variance": variance,
        "recount": recount,
    }


def test_inventory_accuracy_counts_bins_their_variances_and_the_net_adjustment() -> None:
    kpis = KpiTracker(shift_started_at=START)
    kpis.record(*counted("A-01", 0), at=START + 1)
    kpis.record(*counted("A-02", -3), at=START + 2)
    kpis.record(*counted("A-03", 2), at=START + 3)
    kpis.record(*counted("A-04", None), at=START + 4)  # no record to differ from
    kpis.record(*counted("A-02", 3, recount=1), at=START + 5)  # counted again: the first count was wrong
    kpis.record("putaway.confirmed", {"task_id": "PA-1", "put": 12}, at=START + 6)
    kpis.record("inventory.adjusted", {"reason": "cycle_count", "on_hand": 17, "previous": 20}, at=START + 7)

    shift = kpis.view(START + 60)["shift"]

    assert (shift["bins_counted"], shift["bins_with_variance"], shift["net_adjustment"]) == (5, 3, 2)
    assert shift["inventory_accuracy"] == 0.4
    assert shift["putaways"] == 1
    window = kpis.view(START + 60 + 1000)["last_15m"]  # all of it older than the window
    assert (window["bins_counted"], window["net_adjustment"], window["inventory_accuracy"]) == (0, 0, None)
    assert kpis.view(START + 60 + 1000)["shift"]["net_adjustment"] == 2
