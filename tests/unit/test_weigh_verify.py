"""Weigh-verify rules at pack stations, driven through commands on a pure floor."""

from __future__ import annotations

import pytest

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.errors import CommandRejected, RejectionKind
from floorgate.core.floor import Floor, Outcome
from floorgate.core.model import ExceptionStatus, OrderStatus
from floorgate.core.packing import PackPhase

pytestmark = pytest.mark.unit

NOW = 1_700_000_000.0
OK = cmd.ScaleCondition.OK


def make_floor(*, tolerance_g: float = 10.0, tolerance_pct: float = 0.0, tare_g: float = 100.0) -> Floor:
    floor = Floor()
    floor.handle(cmd.DefineZone(zone="A"), NOW)
    for sku, weight in [("SKU-1", 250.0), ("SKU-2", 40.0), ("SKU-3", None)]:
        floor.handle(cmd.UpsertItem(sku=sku, unit_weight_g=weight), NOW)
    for code, sku in [("A-01", "SKU-1"), ("A-02", "SKU-2"), ("A-03", "SKU-3")]:
        floor.handle(cmd.UpsertLocation(code=code, zone="A", module=f"M-{code}", sku=sku, on_hand=50), NOW)
    floor.handle(
        cmd.DefineStation(
            station="PACK-1",
            kind=cmd.StationKind.PACK,
            tolerance_g=tolerance_g,
            tolerance_pct=tolerance_pct,
            tare_g=tare_g,
        ),
        NOW,
    )
    # The scale announced itself before any test starts: readings then carry only weigh-verify events.
    floor.handle(cmd.ReportDeviceStatus(device="S-1", kind="scale", online=True, transport="serial"), NOW)
    return floor


def picked_order(
    floor: Floor, order_id: str, lines: list[tuple[str, int, int]], *, tote: str | None = None
) -> None:
    """An order picked in zone A: (location, qty, picked) per line; picked < qty is a short."""
    floor.handle(
        cmd.ReceiveOrder(
            order_id=order_id,
            tote=tote,
            lines=tuple(
                cmd.NewOrderLine(line_id=f"L{n}", sku=f"SKU-{loc[-1]}", qty=qty, location=loc)
                for n, (loc, qty, _picked) in enumerate(lines, 1)
            ),
        ),
        NOW,
    )
    floor.handle(cmd.StartOrder(order_id=order_id, zone="A", operator="ann"), NOW)
    for loc, qty, picked in lines:
        button = cmd.Button.CONFIRM if picked == qty else cmd.Button.SHORT
        floor.handle(cmd.PressButton(module=f"M-{loc}", button=button, display=str(picked)), NOW)
    assert floor.orders[order_id].status is OrderStatus.PICKED


def scan(floor: Floor, data: str, station: str = "PACK-1") -> Outcome:
    return floor.handle(cmd.RecordScan(station=station, data=data, scanner="SC-1"), NOW)


def weigh(
    floor: Floor, grams: float, *, stable: bool = True, condition: cmd.ScaleCondition = OK, now: float = NOW
) -> Outcome:
    return floor.handle(
        cmd.RecordWeight(station="PACK-1", grams=grams, stable=stable, condition=condition, scale="S-1"), now
    )


def of_type(outcome: Outcome, kind: type[ev.Event]) -> list[ev.Event]:
    return [e for e in outcome.events if isinstance(e, kind)]


def open_exceptions(floor: Floor) -> dict[str, int]:
    return {x.kind: x.count for x in floor.exceptions.values() if x.status is ExceptionStatus.OPEN}


def test_expected_weight_is_unit_weights_times_picked_quantities_plus_tare() -> None:
    floor = make_floor(tare_g=120)
    picked_order(floor, "O-1", [("A-01", 2, 2), ("A-02", 3, 3)])
    scan(floor, "O-1")
    state = floor.packing.state("PACK-1")
    assert state.phase is PackPhase.WEIGHING
    assert state.expected_g == 2 * 250 + 3 * 40 + 120
    assert state.order_id == "O-1"


def test_a_short_pick_lowers_the_expected_weight_to_what_was_picked() -> None:
    floor = make_floor(tare_g=0)
    picked_order(floor, "O-1", [("A-01", 3, 1)])
    scan(floor, "O-1")
    assert floor.packing.state("PACK-1").expected_g == 250


def test_tolerance_is_the_larger_of_grams_and_percent_of_expected() -> None:
    floor = make_floor(tolerance_g=15, tolerance_pct=2.0, tare_g=0)
    picked_order(floor, "O-1", [("A-01", 4, 4)])  # 1000 g: 2 % is 20 g > 15 g
    scan(floor, "O-1")
    assert floor.packing.state("PACK-1").tolerance_g == 20
    picked_order(floor, "O-2", [("A-02", 1, 1)])  # 40 g: 2 % is 0.8 g < 15 g
    scan(floor, "O-2")
    assert floor.packing.state("PACK-1").tolerance_g == 15


def vary(floor: Floor, sku: str, unit_weight_g: float, weight_tolerance_g: float | None) -> None:
    """Give an item a per-unit weight tolerance of its own (produce, bags of screws)."""
    floor.handle(
        cmd.UpsertItem(sku=sku, unit_weight_g=unit_weight_g, weight_tolerance_g=weight_tolerance_g), NOW
    )


def test_an_items_own_tolerance_is_added_per_unit_picked_to_the_stations_tolerance() -> None:
    floor = make_floor(tolerance_g=10, tare_g=0)
    vary(floor, "SKU-2", 40.0, 3.0)
    picked_order(floor, "O-1", [("A-01", 2, 2), ("A-02", 3, 3)])
    scan(floor, "O-1")
    assert floor.packing.state("PACK-1").tolerance_g == 10 + 3 * 3


def test_the_item_allowance_is_added_to_the_larger_of_grams_and_percent() -> None:
    floor = make_floor(tolerance_g=15, tolerance_pct=2.0, tare_g=0)
    vary(floor, "SKU-1", 250.0, 5.0)
    picked_order(floor, "O-1", [("A-01", 4, 4)])  # 1000 g: 2 % is 20 g > 15 g
    scan(floor, "O-1")
    assert floor.packing.state("PACK-1").tolerance_g == 20 + 4 * 5


def test_a_short_pick_of_a_varying_item_adds_its_tolerance_only_for_the_units_picked() -> None:
    floor = make_floor(tolerance_g=10, tare_g=0)
    vary(floor, "SKU-2", 40.0, 3.0)
    picked_order(floor, "O-1", [("A-02", 5, 2)])
    scan(floor, "O-1")
    assert floor.packing.state("PACK-1").tolerance_g == 10 + 2 * 3


def test_a_carton_of_varying_items_within_their_own_tolerance_is_verified() -> None:
    floor = make_floor(tolerance_g=10, tare_g=100)
    vary(floor, "SKU-2", 40.0, 4.0)
    picked_order(floor, "O-1", [("A-02", 5, 5)])  # 300 g expected, 10 + 5 * 4 = 30 g allowed
    scan(floor, "O-1")
    verified = of_type(weigh(floor, 325.0), ev.PackVerified)
    assert verified == [
        ev.PackVerified(
            order="O-1",
            station="PACK-1",
            expected_g=300.0,
            measured_g=325.0,
            delta_g=25.0,
            tolerance_g=30.0,
            scale="S-1",
        )
    ]


def test_a_missing_exact_item_is_still_rejected_next_to_varying_ones() -> None:
    floor = make_floor(tolerance_g=10, tare_g=0)
    vary(floor, "SKU-2", 40.0, 4.0)
    picked_order(floor, "O-1", [("A-01", 2, 2), ("A-02", 2, 2)])  # 580 g, 10 + 2 * 4 = 18 g allowed
    scan(floor, "O-1")
    outcome = weigh(floor, 330.0)  # one SKU-1 (250 g) missing
    rejected = [(e.delta_g, e.tolerance_g) for e in outcome.events if isinstance(e, ev.PackRejected)]
    assert rejected == [(-250.0, 18.0)]


def test_an_item_without_a_tolerance_of_its_own_leaves_the_stations_tolerance_alone() -> None:
    floor = make_floor(tolerance_g=10, tare_g=0)
    vary(floor, "SKU-2", 40.0, 4.0)
    vary(floor, "SKU-2", 40.0, None)  # the ERP takes the tolerance away again
    picked_order(floor, "O-1", [("A-02", 3, 3)])
    scan(floor, "O-1")
    assert floor.packing.state("PACK-1").tolerance_g == 10


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf")])
def test_a_negative_or_non_finite_item_tolerance_is_refused_and_the_item_is_unchanged(bad: float) -> None:
    floor = make_floor()
    with pytest.raises(CommandRejected) as refused:
        vary(floor, "SKU-2", 40.0, bad)
    assert refused.value.kind is RejectionKind.INVALID
    assert refused.value.field == "weight_tolerance_g"
    assert floor.items["SKU-2"].weight_tolerance_g is None


def test_a_stable_reading_within_tolerance_verifies_the_carton_and_packs_the_order() -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 2, 2)])
    scan(floor, "O-1")
    outcome = weigh(floor, 607.5)
    assert of_type(outcome, ev.PackVerified) == [
        ev.PackVerified(
            order="O-1",
            station="PACK-1",
            expected_g=600.0,
            measured_g=607.5,
            delta_g=7.5,
            tolerance_g=10.0,
            scale="S-1",
        )
    ]
    assert floor.orders["O-1"].status is OrderStatus.PACKED
    assert "O-1" in floor.changes.orders
    assert floor.packing.state("PACK-1").phase is PackPhase.VERIFIED
    assert "PACK-1" in floor.changes.pack_stations


def test_a_carton_missing_one_item_is_rejected_with_expected_measured_delta_and_tolerance() -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 2, 2), ("A-02", 2, 2)])
    scan(floor, "O-1")
    outcome = weigh(floor, 640.0)  # one SKU-2 (40 g) missing from 680 g
    rejected = of_type(outcome, ev.PackRejected)
    assert rejected == [
        ev.PackRejected(
            order="O-1",
            station="PACK-1",
            expected_g=680.0,
            measured_g=640.0,
            delta_g=-40.0,
            tolerance_g=10.0,
            scale="S-1",
        )
    ]
    assert floor.orders["O-1"].status is OrderStatus.PICKED
    assert floor.packing.state("PACK-1").phase is PackPhase.REJECTED


def test_unstable_readings_are_never_judged() -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 1, 1)])
    scan(floor, "O-1")
    assert weigh(floor, 200.0, stable=False).events == []
    assert weigh(floor, 350.0, stable=False).events == []
    assert floor.packing.state("PACK-1").phase is PackPhase.WEIGHING


def test_a_near_zero_reading_is_not_judged_as_an_empty_carton() -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 1, 1)])
    scan(floor, "O-1")
    assert weigh(floor, 0.0).events == []
    assert weigh(floor, 3.0).events == []
    assert floor.packing.state("PACK-1").phase is PackPhase.WEIGHING


def test_readings_before_the_scan_do_not_count_but_the_next_one_after_it_does() -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 1, 1)])
    assert weigh(floor, 350.0).events == []
    scan(floor, "O-1")
    assert of_type(weigh(floor, 350.0), ev.PackVerified)


def test_after_a_rejection_the_scale_must_return_near_zero_before_a_re_weigh_counts() -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 2, 2)])
    scan(floor, "O-1")
    assert of_type(weigh(floor, 350.0), ev.PackRejected)
    # The same carton still on the scale is not judged again.
    assert weigh(floor, 350.0).events == []
    assert weigh(floor, 600.0).events == []
    weigh(floor, 0.5)
    assert floor.packing.state("PACK-1").phase is PackPhase.WEIGHING
    assert of_type(weigh(floor, 601.0), ev.PackVerified)


def test_after_a_verdict_the_next_order_waits_for_the_old_carton_to_leave_the_scale() -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 1, 1)])
    picked_order(floor, "O-2", [("A-01", 1, 1)])
    scan(floor, "O-1")
    assert of_type(weigh(floor, 350.0), ev.PackVerified)
    scan(floor, "O-2")
    assert weigh(floor, 350.0).events == []  # still O-1's carton
    weigh(floor, 0.0)
    assert of_type(weigh(floor, 351.0), ev.PackVerified)
    assert floor.orders["O-2"].status is OrderStatus.PACKED


def test_the_scale_returning_to_zero_after_a_verified_carton_readies_the_station() -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 1, 1)])
    scan(floor, "O-1")
    weigh(floor, 350.0)
    weigh(floor, 0.0)
    assert floor.packing.state("PACK-1").phase is PackPhase.IDLE


def test_a_tote_scan_with_an_aim_prefix_finds_the_order_that_waits_to_be_packed() -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 1, 1)], tote="T-7")
    scan(floor, "]C1T-7")
    assert floor.packing.state("PACK-1").order_id == "O-1"


def test_an_order_id_scan_with_an_aim_prefix_is_found() -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 1, 1)])
    scan(floor, "]Q3O-1")
    assert floor.packing.state("PACK-1").phase is PackPhase.WEIGHING


def test_an_order_not_picked_yet_blocks_the_station_with_an_exception_and_is_never_judged() -> None:
    floor = make_floor()
    floor.handle(
        cmd.ReceiveOrder(order_id="O-1", lines=(cmd.NewOrderLine(line_id="L1", sku="SKU-1", qty=1),)), NOW
    )
    outcome = scan(floor, "O-1")
    raised = of_type(outcome, ev.ExceptionRaised)
    assert [e.kind for e in raised] == ["pack_order_not_picked"]  # type: ignore[attr-defined]
    state = floor.packing.state("PACK-1")
    assert state.phase is PackPhase.BLOCKED
    assert "not picked" in state.message
    assert weigh(floor, 250.0).events == []
    assert floor.orders["O-1"].status is OrderStatus.OPEN


def test_an_unknown_code_blocks_the_station_with_an_exception() -> None:
    floor = make_floor()
    outcome = scan(floor, "NOPE")
    assert [e.kind for e in of_type(outcome, ev.ExceptionRaised)] == ["pack_unknown_order"]  # type: ignore[attr-defined]
    assert floor.packing.state("PACK-1").phase is PackPhase.BLOCKED


def test_an_item_without_unit_weight_blocks_the_station_instead_of_a_silent_pass() -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 1, 1), ("A-03", 1, 1)])
    outcome = scan(floor, "O-1")
    raised = of_type(outcome, ev.ExceptionRaised)
    assert [e.kind for e in raised] == ["pack_missing_unit_weight"]  # type: ignore[attr-defined]
    assert raised[0].detail["skus"] == ["SKU-3"]  # type: ignore[attr-defined]
    assert floor.packing.state("PACK-1").phase is PackPhase.BLOCKED
    assert weigh(floor, 350.0).events == []
    assert floor.orders["O-1"].status is OrderStatus.PICKED


def test_an_already_packed_order_scanned_again_blocks_the_station() -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 1, 1)])
    scan(floor, "O-1")
    weigh(floor, 350.0)
    outcome = scan(floor, "O-1")
    assert [e.kind for e in of_type(outcome, ev.ExceptionRaised)] == ["pack_order_already_packed"]  # type: ignore[attr-defined]


def test_a_good_scan_after_a_blocked_one_settles_the_station_exception() -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 1, 1)])
    scan(floor, "NOPE")
    outcome = scan(floor, "O-1")
    assert [e.kind for e in of_type(outcome, ev.ExceptionResolved)] == ["pack_unknown_order"]  # type: ignore[attr-defined]
    assert open_exceptions(floor) == {}


@pytest.mark.parametrize(
    ("condition", "kind"),
    [
        (cmd.ScaleCondition.OVERLOAD, "scale_overload"),
        (cmd.ScaleCondition.UNDERLOAD, "scale_underload"),
        (cmd.ScaleCondition.ERROR, "scale_error"),
    ],
)
def test_a_scale_fault_blocks_weighing_raises_once_and_clears_when_the_scale_reads_normally(
    condition: cmd.ScaleCondition, kind: str
) -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 1, 1)])
    scan(floor, "O-1")
    outcome = weigh(floor, 0.0, stable=False, condition=condition)
    assert [e.kind for e in of_type(outcome, ev.ExceptionRaised)] == [kind]  # type: ignore[attr-defined]
    assert weigh(floor, 0.0, stable=False, condition=condition).events == []
    state = floor.packing.state("PACK-1")
    assert state.phase is PackPhase.BLOCKED
    assert state.problem == kind
    recovered = weigh(floor, 350.0)
    assert [e.kind for e in of_type(recovered, ev.ExceptionResolved)] == [kind]  # type: ignore[attr-defined]
    assert of_type(recovered, ev.PackVerified)


def test_an_override_with_a_reason_packs_a_rejected_order() -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 2, 2)])
    scan(floor, "O-1")
    weigh(floor, 350.0)
    outcome = floor.handle(
        cmd.OverrideWeightCheck(station="PACK-1", order_id="O-1", reason="  heavier packaging  ", by="sue"),
        NOW,
    )
    assert of_type(outcome, ev.PackOverridden) == [
        ev.PackOverridden(
            order="O-1",
            station="PACK-1",
            expected_g=600.0,
            measured_g=350.0,
            delta_g=-250.0,
            tolerance_g=10.0,
            reason="heavier packaging",
            by="sue",
        )
    ]
    assert floor.orders["O-1"].status is OrderStatus.PACKED
    assert floor.packing.state("PACK-1").phase is PackPhase.OVERRIDDEN


def test_an_override_can_accept_an_order_whose_items_have_no_unit_weight() -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-03", 1, 1)])
    scan(floor, "O-1")
    outcome = floor.handle(
        cmd.OverrideWeightCheck(station="PACK-1", order_id="O-1", reason="checked by eye"), NOW
    )
    assert of_type(outcome, ev.PackOverridden)
    assert [e.kind for e in of_type(outcome, ev.ExceptionResolved)] == ["pack_missing_unit_weight"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("station", "order_id", "reason", "kind"),
    [
        ("PACK-9", "O-1", "x", RejectionKind.NOT_FOUND),
        ("PACK-1", "O-9", "x", RejectionKind.NOT_FOUND),
        ("PACK-1", "O-1", "   ", RejectionKind.INVALID),
        ("PACK-1", "O-2", "x", RejectionKind.CONFLICT),
    ],
)
def test_an_override_is_refused_without_a_reason_or_for_another_order(
    station: str, order_id: str, reason: str, kind: RejectionKind
) -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 2, 2)])
    picked_order(floor, "O-2", [("A-01", 1, 1)])
    scan(floor, "O-1")
    weigh(floor, 350.0)
    with pytest.raises(CommandRejected) as refused:
        floor.handle(cmd.OverrideWeightCheck(station=station, order_id=order_id, reason=reason), NOW)
    assert refused.value.kind is kind


def test_an_override_is_refused_when_the_check_did_not_fail() -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 1, 1)])
    scan(floor, "O-1")
    with pytest.raises(CommandRejected) as refused:
        floor.handle(cmd.OverrideWeightCheck(station="PACK-1", order_id="O-1", reason="x"), NOW)
    assert refused.value.kind is RejectionKind.CONFLICT


def test_a_weight_at_a_station_without_a_scale_raises_an_exception() -> None:
    floor = make_floor()
    outcome = floor.handle(cmd.RecordWeight(station="NOWHERE", grams=5.0, stable=True, scale="S-2"), NOW)
    assert [e.kind for e in of_type(outcome, ev.ExceptionRaised)] == ["unexpected_weight"]  # type: ignore[attr-defined]


def test_a_reading_marks_the_scale_seen_and_online() -> None:
    floor = make_floor()
    outcome = floor.handle(cmd.RecordWeight(station="PACK-1", grams=0.0, stable=True, scale="S-9"), NOW + 1)
    assert of_type(outcome, ev.DeviceOnline) == [
        ev.DeviceOnline(device="S-9", kind="scale", transport="mqtt")
    ]
    assert floor.devices["S-9"].last_seen == NOW + 1


def test_a_cancelled_order_at_the_station_is_not_judged() -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 1, 1)])
    scan(floor, "O-1")
    floor.handle(cmd.CancelOrder(order_id="O-1"), NOW)
    outcome = weigh(floor, 350.0)
    assert not of_type(outcome, ev.PackVerified)
    assert floor.packing.state("PACK-1").phase is PackPhase.BLOCKED


def test_station_state_restored_from_rows_carries_on_weighing() -> None:
    floor = make_floor()
    picked_order(floor, "O-1", [("A-01", 1, 1)])
    scan(floor, "O-1")
    saved = floor.packing.state("PACK-1")
    restored = make_floor()
    restored.orders = floor.orders
    restored.packing.restore([saved])
    assert of_type(weigh(restored, 350.0), ev.PackVerified)
