"""Reports from devices the floor does not know fold into one exception per kind and never become devices."""

from __future__ import annotations

import pytest

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.device_registry import UNPLACED_REMEMBERED
from floorgate.core.exception_book import (
    DEVICE_ID_CHARS,
    UNKNOWN_DEVICES,
    UNKNOWN_DEVICES_LISTED,
    UNLISTED_DEVICES,
)
from floorgate.core.floor import Floor, Outcome
from floorgate.core.model import ExceptionStatus, FloorException
from tests.support.floor_commands import restored_copy

pytestmark = pytest.mark.unit

NOW = 1_700_000_000.0


@pytest.fixture
def floor() -> Floor:
    floor = Floor()
    floor.handle(cmd.DefineZone(zone="A"), NOW)
    floor.handle(cmd.UpsertLocation(code="A-01", zone="A", module="M-A-01"), NOW)
    return floor


def press(floor: Floor, module: str, at: float = NOW) -> Outcome:
    return floor.handle(cmd.PressButton(module=module, button=cmd.Button.CONFIRM, display="1"), at)


def status(floor: Floor, module: str, online: bool = True, at: float = NOW) -> Outcome:
    return floor.handle(cmd.ReportDeviceStatus(device=module, kind="ptl", online=online), at)


def open_of_kind(floor: Floor, kind: str) -> list[FloorException]:
    return [x for x in floor.exceptions.values() if x.kind == kind and x.status is ExceptionStatus.OPEN]


def raised(outcome: Outcome) -> list[ev.Event]:
    return [e for e in outcome.events if isinstance(e, ev.ExceptionRaised)]


def test_presses_on_many_unknown_modules_fold_into_one_open_exception_with_a_count_and_the_latest_ids(
    floor: Floor,
) -> None:
    outcomes = [press(floor, f"M-X-{n}", NOW + n) for n in range(50)]

    (folded,) = open_of_kind(floor, "unknown_module")
    assert folded.count == 50
    assert folded.device == "M-X-49"
    assert folded.last_at == NOW + 49
    assert folded.detail[UNKNOWN_DEVICES] == [f"M-X-{n}" for n in range(50 - UNKNOWN_DEVICES_LISTED, 50)]
    assert folded.detail[UNLISTED_DEVICES] == 50 - UNKNOWN_DEVICES_LISTED
    assert folded.detail["button"] == "confirm"
    assert [len(raised(o)) for o in outcomes] == [1] + [0] * 49  # one exception.raised, not one per id


def test_unknown_modules_never_become_devices_whatever_they_send(floor: Floor) -> None:
    press(floor, "M-X-1")
    status(floor, "M-X-2")
    floor.handle(cmd.RecordDeviceFault(device="M-X-3", kind="ptl", reason="not JSON"), NOW)

    assert set(floor.devices) == {"M-A-01"}
    (module,) = open_of_kind(floor, "unknown_module")
    assert module.detail[UNKNOWN_DEVICES] == ["M-X-1", "M-X-2"]
    (fault,) = open_of_kind(floor, "device_fault")
    assert fault.detail[UNKNOWN_DEVICES] == ["M-X-3"]


def test_an_id_reported_again_moves_to_the_end_of_the_list_and_is_listed_once(floor: Floor) -> None:
    for module in ("M-1", "M-2", "M-1"):
        press(floor, module)

    (folded,) = open_of_kind(floor, "unknown_module")
    assert (folded.count, folded.detail[UNKNOWN_DEVICES]) == (3, ["M-2", "M-1"])
    assert folded.detail[UNLISTED_DEVICES] == 0


def test_a_very_long_unknown_id_is_kept_cut_short(floor: Floor) -> None:
    press(floor, "M" * 60_000)

    (folded,) = open_of_kind(floor, "unknown_module")
    assert folded.device is not None
    assert len(folded.device) == DEVICE_ID_CHARS
    assert len(folded.message) < 200
    assert [len(d) for d in folded.detail[UNKNOWN_DEVICES]] == [DEVICE_ID_CHARS]


def test_after_a_person_resolves_the_folded_exception_the_next_unknown_id_raises_a_new_one(
    floor: Floor,
) -> None:
    press(floor, "M-1")
    (first,) = open_of_kind(floor, "unknown_module")
    floor.handle(cmd.ResolveException(exception_id=first.id, resolved_by="sue"), NOW)

    again = press(floor, "M-2")

    assert len(raised(again)) == 1
    (second,) = open_of_kind(floor, "unknown_module")
    assert second.id != first.id
    assert (second.count, second.detail[UNKNOWN_DEVICES]) == (1, ["M-2"])


def test_the_folded_exception_closes_itself_once_every_listed_module_has_a_location(floor: Floor) -> None:
    status(floor, "M-NEW-1")
    status(floor, "M-NEW-2")
    (folded,) = open_of_kind(floor, "unknown_module")

    first = floor.handle(cmd.UpsertLocation(code="A-02", zone="A", module="M-NEW-1"), NOW)
    assert not [e for e in first.events if isinstance(e, ev.ExceptionResolved)]
    assert folded.detail[UNKNOWN_DEVICES] == ["M-NEW-2"]

    last = floor.handle(cmd.UpsertLocation(code="A-03", zone="A", module="M-NEW-2"), NOW)
    (resolved,) = [e for e in last.events if isinstance(e, ev.ExceptionResolved)]
    assert (resolved.exception_id, resolved.resolved_by) == (folded.id, "floorgate")
    assert folded.status is ExceptionStatus.RESOLVED


def test_once_the_latest_listed_module_has_a_location_the_folded_exception_names_those_left(
    floor: Floor,
) -> None:
    status(floor, "M-B-01")
    status(floor, "M-A-03")

    floor.handle(cmd.UpsertLocation(code="A-03", zone="A", module="M-A-03"), NOW)

    (folded,) = open_of_kind(floor, "unknown_module")
    assert folded.device == "M-B-01"
    assert "M-A-03" not in folded.message
    assert "'M-B-01'" in folded.message


def test_each_module_given_a_location_leaves_the_folded_exceptions_message(floor: Floor) -> None:
    for module in ("M-A-03", "M-B-01", "M-A-02"):
        status(floor, module)

    floor.handle(cmd.UpsertLocation(code="A-02", zone="A", module="M-A-02"), NOW)
    floor.handle(cmd.UpsertLocation(code="A-03", zone="A", module="M-A-03"), NOW)

    (folded,) = open_of_kind(floor, "unknown_module")
    assert (folded.device, folded.detail[UNKNOWN_DEVICES]) == ("M-B-01", ["M-B-01"])
    assert "M-A-02" not in folded.message
    assert "M-A-03" not in folded.message


def test_the_folded_exception_stays_open_for_a_person_when_ids_fell_off_its_list(floor: Floor) -> None:
    modules = [f"M-{n}" for n in range(UNKNOWN_DEVICES_LISTED + 1)]
    for module in modules:
        status(floor, module)
    for n, module in enumerate(modules):
        floor.handle(cmd.UpsertLocation(code=f"B-{n}", zone="A", module=module), NOW)

    (folded,) = open_of_kind(floor, "unknown_module")
    assert folded.detail[UNKNOWN_DEVICES] == []
    assert folded.detail[UNLISTED_DEVICES] == 1


def test_a_module_heard_before_a_location_claimed_it_starts_online_as_a_device(floor: Floor) -> None:
    status(floor, "M-NEW", at=NOW + 5)
    assert "M-NEW" not in floor.devices

    claimed = floor.handle(cmd.UpsertLocation(code="A-02", zone="A", module="M-NEW"), NOW + 9)

    device = floor.devices["M-NEW"]
    assert (device.online, device.last_seen) == (True, NOW + 5)
    assert [e.device for e in claimed.events if isinstance(e, ev.DeviceOnline)] == ["M-NEW"]


def test_what_unplaced_modules_said_is_remembered_for_a_bounded_number_of_them(floor: Floor) -> None:
    for n in range(UNPLACED_REMEMBERED + 1):
        status(floor, f"M-{n}")

    floor.handle(cmd.UpsertLocation(code="A-02", zone="A", module="M-0"), NOW)  # the oldest: forgotten
    floor.handle(cmd.UpsertLocation(code="A-03", zone="A", module=f"M-{UNPLACED_REMEMBERED}"), NOW)

    assert floor.devices["M-0"].online is None
    assert floor.devices[f"M-{UNPLACED_REMEMBERED}"].online is True


def test_scans_from_scanners_of_no_station_fold_into_one_unexpected_scan(floor: Floor) -> None:
    outcomes = [
        floor.handle(cmd.RecordScan(station=f"SC-{n}", scanner=f"SC-{n}", data="X"), NOW) for n in range(20)
    ]

    (folded,) = open_of_kind(floor, "unexpected_scan")
    assert folded.count == 20
    assert folded.detail[UNKNOWN_DEVICES][-1] == "SC-19"
    assert sum(len(raised(o)) for o in outcomes) == 1
    assert set(floor.devices) == {"M-A-01"}


def test_weights_at_unknown_stations_fold_and_their_scales_do_not_become_devices(floor: Floor) -> None:
    for n in range(5):
        floor.handle(cmd.RecordWeight(station=f"P-{n}", grams=1.0, stable=True, scale=f"S-{n}"), NOW)

    (folded,) = open_of_kind(floor, "unexpected_weight")
    assert (folded.count, folded.detail[UNKNOWN_DEVICES]) == (5, [f"S-{n}" for n in range(5)])
    assert set(floor.devices) == {"M-A-01"}


def test_faults_an_adapter_marks_unknown_fold_and_those_of_known_devices_do_not(floor: Floor) -> None:
    for n in range(3):
        floor.handle(cmd.RecordDeviceFault(device=f"SC-{n}", kind="scanner", reason="bad", unknown=True), NOW)
    floor.handle(cmd.RecordDeviceFault(device="M-A-01", kind="ptl", reason="bad"), NOW)

    faults = open_of_kind(floor, "device_fault")
    assert sorted((x.device, x.count) for x in faults) == [("M-A-01", 1), ("SC-2", 3)]


def test_a_restored_floor_keeps_folding_into_the_same_exception(floor: Floor) -> None:
    press(floor, "M-1")
    press(floor, "M-2")
    copy = restored_copy(floor)

    later = press(copy, "M-3")

    assert raised(later) == []
    (folded,) = open_of_kind(copy, "unknown_module")
    assert (folded.count, folded.detail[UNKNOWN_DEVICES]) == (3, ["M-1", "M-2", "M-3"])
