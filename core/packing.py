"""Weigh-verify at pack stations: a scanned order's expected carton weight against a stable scale reading.

A capability of the floor (core/capability.py): it handles the scale's readings and the supervisor's
overrides, and the pack stations' scans that the station scans route to it; it raises problems in the
exception book and notes the scale as seen in the device registry. The rules, in order of a packer's work:

- a scan (order id or tote) makes the order the station's current order; it must be picked, and every item
  in it must have a unit weight, or the station is blocked with a clear reason and an exception;
- expected = Σ(unit weight * quantity picked) + the station's tare; tolerance = max(tolerance_g,
  tolerance_pct % of expected) + Σ(item weight tolerance * quantity picked) over the items that carry one
  (see `carton_tolerance`);
- the first stable, non-zero, in-range reading after the scan is judged: within tolerance → pack.verified
  and the order is packed; outside → pack.rejected, and once the scale is back near zero the packer may
  re-weigh;
- a supervisor may override a failed (or impossible) check with a reason → pack.overridden, packed;
- a scale in overload, underload or error blocks the station (and raises an exception) until it reads
  normally again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.barcodes import split_symbology
from floorgate.core.capability import Handler
from floorgate.core.device_registry import DeviceRegistry
from floorgate.core.errors import conflict, invalid, not_found
from floorgate.core.exception_book import ExceptionBook, short_id
from floorgate.core.model import Item, Order, OrderStatus, Station
from floorgate.core.outcome import Outcome
from floorgate.core.state import FloorState

# A reading at or below this (in grams, either sign) means "nothing on the scale": it readies the station
# for the next weighing. Smaller than any carton, larger than a scale's zero drift.
ZERO_BAND_G = 5.0
# Weights in events and state are rounded to a milligram so float sums never show as 1234.5000000001.
_DIGITS = 3

PACK = cmd.StationKind.PACK.value


class Catalogue(Protocol):
    """Whatever knows the items by SKU: the floor, or its state."""

    @property
    def items(self) -> Mapping[str, Item]: ...


def packs(stations: Iterable[Station]) -> bool:
    """Whether a pack station exists: then a picked order still has packing ahead of it."""
    return any(station.kind == PACK for station in stations)


class PackPhase(StrEnum):
    IDLE = "idle"  # waiting for a scan
    WEIGHING = "weighing"  # an order is scanned; waiting for a stable reading of its carton
    VERIFIED = "verified"
    REJECTED = "rejected"  # the packer may fix the carton: scale back near zero → weighing again
    OVERRIDDEN = "overridden"
    BLOCKED = "blocked"  # a person must look: see `problem` and the open exception


VERDICTS = frozenset({PackPhase.VERIFIED, PackPhase.REJECTED, PackPhase.OVERRIDDEN})

# Scale conditions that block weighing, and the exception kind each raises.
_SCALE_FAULTS: dict[cmd.ScaleCondition, str] = {
    cmd.ScaleCondition.OVERLOAD: "scale_overload",
    cmd.ScaleCondition.UNDERLOAD: "scale_underload",
    cmd.ScaleCondition.ERROR: "scale_error",
}


@dataclass(slots=True)
class PackStationState:
    """What a pack station is doing. The first block survives a restart; the live reading does not."""

    station: str
    phase: PackPhase = PackPhase.IDLE
    order_id: str | None = None
    expected_g: float | None = None
    tolerance_g: float | None = None
    measured_g: float | None = None
    delta_g: float | None = None
    problem: str | None = None  # the exception kind while blocked
    message: str = ""
    # The scale must come back near zero before a reading counts: the judged carton is still on it.
    await_zero: bool = False
    updated_at: float | None = None
    # The latest reading, for the dashboard; not persisted (the scale sends it again).
    grams: float | None = None
    stable: bool = False
    condition: cmd.ScaleCondition = cmd.ScaleCondition.OK
    scale: str | None = None

    @property
    def verdict(self) -> str | None:
        return self.phase.value if self.phase in VERDICTS else None


@dataclass(frozen=True, kw_only=True, slots=True)
class _Refusal:
    """Why a scanned order cannot be weighed: the problem the station is blocked with."""

    problem: str
    message: str
    order_id: str | None
    detail: dict[str, object]


def _round(value: float) -> float:
    return round(value, _DIGITS)


class PackStations:
    """The weigh-verify state of every pack station of a floor."""

    def __init__(self, state: FloorState, book: ExceptionBook, devices: DeviceRegistry) -> None:
        self._floor_state = state
        self._book = book
        self._devices = devices
        self.states: dict[str, PackStationState] = {}

    def handlers(self) -> Mapping[type[cmd.Command], Handler]:
        return {cmd.RecordWeight: self._record_weight, cmd.OverrideWeightCheck: self._override}

    def rebuild(self) -> None:
        """Nothing to derive: the stations' states come back from their own rows (`restore`)."""

    def restore(self, states: list[PackStationState]) -> None:
        self.states = {s.station: s for s in states}

    def state(self, station: str) -> PackStationState:
        existing = self.states.get(station)
        if existing is None:
            existing = self.states[station] = PackStationState(station=station)
        return existing

    # -- scan ----------------------------------------------------------------------------------------

    def scan(self, station: Station, command: cmd.RecordScan, now: float) -> Outcome:
        """A scan at a pack station: the order (or tote) the packer is about to weigh."""
        outcome = Outcome()
        self._scan(station, command, now, outcome)
        return outcome

    def _scan(self, station: Station, command: cmd.RecordScan, now: float, outcome: Outcome) -> None:
        _symbology, code = split_symbology(command.data)
        code = code.strip()
        state = self.state(station.id)
        order = self._find_order(code)
        refusal = self._refusal(station, command, code, order)
        if refusal is not None:
            self._block(
                state,
                outcome,
                now,
                problem=refusal.problem,
                message=refusal.message,
                order_id=refusal.order_id,
                detail=refusal.detail,
            )
            return
        assert order is not None  # no refusal: an order was found
        self._weigh_next(station, state, order, now, outcome)

    def _refusal(
        self, station: Station, command: cmd.RecordScan, code: str, order: Order | None
    ) -> _Refusal | None:
        """Why the order scanned (`code` names it, if it names one) cannot be weighed here, if it cannot."""
        items = self._floor_state.items
        if order is None:
            return _Refusal(
                problem="pack_unknown_order",
                message=f"{code!r} scanned at {station.id} is no order id or tote this edge knows",
                order_id=None,
                detail={"station": station.id, "data": command.data},
            )
        if order.status is not OrderStatus.PICKED:
            already = order.status is OrderStatus.PACKED
            return _Refusal(
                problem="pack_order_already_packed" if already else "pack_order_not_picked",
                message=f"order {order.order_id} scanned at {station.id} is {order.status.value}"
                + ("" if already else ", not picked yet: it cannot be packed"),
                order_id=order.order_id,
                detail={"station": station.id, "status": order.status.value},
            )
        missing = sorted(
            {
                line.sku
                for line in order.lines.values()
                if line.picked > 0 and (line.sku not in items or items[line.sku].unit_weight_g is None)
            }
        )
        if missing:
            return _Refusal(
                problem="pack_missing_unit_weight",
                message=f"order {order.order_id} at {station.id} cannot be weighed: "
                f"no unit weight for {', '.join(missing)}",
                order_id=order.order_id,
                detail={"station": station.id, "skus": missing},
            )
        return None

    def _weigh_next(
        self, station: Station, state: PackStationState, order: Order, now: float, outcome: Outcome
    ) -> None:
        """The station weighs the order scanned next: what its carton should weigh, and how closely."""
        floor = self._floor_state
        # A carton judged before is still on the scale until it reads near zero again; keep that.
        await_zero = state.await_zero
        expected = expected_weight(order, floor, tare_g=station.tare_g)
        self._settle_station_problems(state, outcome, now, note=f"order {order.order_id} scanned")
        state.phase = PackPhase.WEIGHING
        state.order_id = order.order_id
        state.expected_g = _round(expected)
        state.tolerance_g = _round(carton_tolerance(order, floor, station, expected_g=expected))
        state.measured_g = None
        state.delta_g = None
        state.problem = None
        state.message = (
            f"order {order.order_id}: take the last carton off the scale, then put this one on"
            if await_zero
            else f"order {order.order_id}: put the carton on the scale"
        )
        state.await_zero = await_zero
        if state.condition in _SCALE_FAULTS:
            # The scale was already faulty before the scan (its exception is open): hold the order.
            state.phase = PackPhase.BLOCKED
            state.problem = _SCALE_FAULTS[state.condition]
            state.message = f"the scale at {station.id} reports {state.condition.value}: weighing is on hold"
        self._touch(state, now)

    def _find_order(self, code: str) -> Order | None:
        floor = self._floor_state
        if not code:
            return None
        by_id = floor.orders.get(code)
        if by_id is not None:
            return by_id
        with_tote = [
            order
            for order in floor.orders.values()
            if order.tote == code or any(run.tote == code for run in order.runs.values())
        ]
        if not with_tote:
            return None
        # A tote is reused order after order: the one waiting to be packed is the one meant.
        rank = {OrderStatus.PICKED: 0, OrderStatus.PICKING: 1, OrderStatus.OPEN: 2}
        return min(with_tote, key=lambda o: (rank.get(o.status, 3), o.order_id))

    # -- weight --------------------------------------------------------------------------------------

    def _record_weight(self, command: cmd.RecordWeight, now: float) -> Outcome:
        outcome = Outcome()
        self._weigh(command, now, outcome)
        return outcome

    def _weigh(self, command: cmd.RecordWeight, now: float, outcome: Outcome) -> None:
        floor = self._floor_state
        scale = command.scale or command.station
        station = floor.stations.get(command.station)
        if station is None:
            # A scale of no station is no device of the floor: folded, like every unknown id.
            self._book.raise_unknown(
                outcome,
                now,
                kind="unexpected_weight",
                message=f"scale {short_id(scale)!r} reports a weight at an unknown station "
                f"({short_id(command.station)!r})",
                device=short_id(scale),
                detail={"station": short_id(command.station)},
            )
            return
        self._devices.seen(scale, "scale", now, outcome)
        if station.kind != PACK:
            what = f"a {station.kind} station, which has no scale"
            self._book.raise_(
                outcome,
                now,
                kind="unexpected_weight",
                message=f"scale {scale!r} reports a weight at {what} ({command.station!r})",
                device=scale,
                detail={"station": command.station},
            )
            return
        state = self.state(station.id)
        previous_condition = state.condition
        state.grams = _round(command.grams)
        state.stable = command.stable
        state.condition = command.condition
        state.scale = scale
        if command.condition in _SCALE_FAULTS:
            if previous_condition is not command.condition:
                if previous_condition in _SCALE_FAULTS:
                    self._book.settle(
                        outcome,
                        now,
                        kind=_SCALE_FAULTS[previous_condition],
                        device=scale,
                        note=f"the scale now reports {command.condition.value}",
                    )
                self._scale_fault(state, outcome, now, scale)
            return
        if previous_condition in _SCALE_FAULTS:
            self._book.settle(
                outcome,
                now,
                kind=_SCALE_FAULTS[previous_condition],
                device=scale,
                note="the scale reads normally again",
            )
            if state.phase is PackPhase.BLOCKED and state.problem == _SCALE_FAULTS[previous_condition]:
                self._resume(state, now)
        near_zero = abs(command.grams) <= ZERO_BAND_G
        if near_zero:
            self._scale_cleared(state, now)
            return
        if state.phase is not PackPhase.WEIGHING or state.await_zero or not command.stable:
            return
        self._judge(station, state, command, now, outcome)

    def _scale_cleared(self, state: PackStationState, now: float) -> None:
        changed = state.await_zero
        state.await_zero = False
        if state.phase is PackPhase.REJECTED:
            state.phase = PackPhase.WEIGHING
            state.message = f"order {state.order_id}: re-weigh the carton"
            changed = True
        elif state.phase in (PackPhase.VERIFIED, PackPhase.OVERRIDDEN):
            state.phase = PackPhase.IDLE
            state.message = "scan the next order"
            changed = True
        if changed:
            self._touch(state, now)

    def _judge(
        self,
        station: Station,
        state: PackStationState,
        command: cmd.RecordWeight,
        now: float,
        outcome: Outcome,
    ) -> None:
        floor = self._floor_state
        order = floor.orders.get(state.order_id or "")
        if order is None or order.status is not OrderStatus.PICKED or state.expected_g is None:
            # The order changed under the station (cancelled, packed elsewhere): nothing to judge.
            self._block(
                state,
                outcome,
                now,
                problem="pack_order_not_picked",
                message=f"order {state.order_id} at {station.id} is no longer waiting to be packed",
                order_id=state.order_id,
                detail={"station": station.id},
            )
            return
        measured = _round(command.grams)
        expected = state.expected_g
        allowed = state.tolerance_g or 0.0
        delta = _round(measured - expected)
        state.measured_g = measured
        state.delta_g = delta
        state.await_zero = True
        verdict_type = ev.PackVerified if abs(delta) <= allowed else ev.PackRejected
        outcome.events.append(
            verdict_type(
                order=order.order_id,
                station=station.id,
                expected_g=expected,
                measured_g=measured,
                delta_g=delta,
                tolerance_g=allowed,
                scale=command.scale,
            )
        )
        if verdict_type is ev.PackVerified:
            state.phase = PackPhase.VERIFIED
            state.message = f"order {order.order_id} verified: {measured:g} g (expected {expected:g} g)"
            order.status = OrderStatus.PACKED
            order.finished_at = now
            floor.changes.orders.add(order.order_id)
        else:
            state.phase = PackPhase.REJECTED
            state.message = (
                f"order {order.order_id} rejected: {measured:g} g is {delta:+g} g from {expected:g} g "
                f"(tolerance {allowed:g} g); fix the carton and weigh it again"
            )
        self._touch(state, now)

    # -- override ------------------------------------------------------------------------------------

    def _override(self, command: cmd.OverrideWeightCheck, now: float) -> Outcome:
        floor = self._floor_state
        outcome = Outcome()
        station = floor.stations.get(command.station)
        if station is None or station.kind != PACK:
            raise not_found(f"no pack station {command.station!r}")
        reason = command.reason.strip()
        if not reason:
            raise invalid("an override needs a reason", field="reason")
        order = floor.require_order(command.order_id, field="order_id")
        state = self.state(station.id)
        if state.order_id != order.order_id:
            raise conflict(
                f"order {order.order_id!r} is not the order at {station.id} "
                f"(that is {state.order_id!r}): scan it there first"
            )
        overridable = state.phase is PackPhase.REJECTED or (
            state.phase is PackPhase.BLOCKED and state.problem == "pack_missing_unit_weight"
        )
        if not overridable or order.status is not OrderStatus.PICKED:
            raise conflict(
                f"order {order.order_id!r} at {station.id} has no failed weight check to override "
                f"(station {state.phase.value}, order {order.status.value})"
            )
        if state.problem is not None:
            self._book.settle(
                outcome, now, kind=state.problem, device=station.id, note=f"overridden: {reason}"
            )
        outcome.events.append(
            ev.PackOverridden(
                order=order.order_id,
                station=station.id,
                expected_g=state.expected_g,
                measured_g=state.measured_g,
                delta_g=state.delta_g,
                tolerance_g=state.tolerance_g,
                reason=reason,
                by=command.by,
            )
        )
        order.status = OrderStatus.PACKED
        order.finished_at = now
        floor.changes.orders.add(order.order_id)
        state.phase = PackPhase.OVERRIDDEN
        state.problem = None
        state.await_zero = state.measured_g is not None or (state.grams or 0.0) > ZERO_BAND_G
        state.message = f"order {order.order_id} accepted by {command.by or 'a supervisor'}: {reason}"
        self._touch(state, now)
        return outcome

    # -- small steps ---------------------------------------------------------------------------------

    def _block(
        self,
        state: PackStationState,
        outcome: Outcome,
        now: float,
        *,
        problem: str,
        message: str,
        order_id: str | None,
        detail: dict[str, object],
    ) -> None:
        if state.problem is not None and state.problem != problem and state.problem.startswith("pack_"):
            self._book.settle(outcome, now, kind=state.problem, device=state.station, note=message)
        state.phase = PackPhase.BLOCKED
        state.problem = problem
        state.message = message
        state.order_id = order_id
        state.expected_g = None
        state.tolerance_g = None
        state.measured_g = None
        state.delta_g = None
        self._book.raise_(
            outcome,
            now,
            kind=problem,
            message=message,
            order_id=order_id,
            device=state.station,
            detail=dict(detail),
        )
        self._touch(state, now)

    def _scale_fault(self, state: PackStationState, outcome: Outcome, now: float, scale: str) -> None:
        kind = _SCALE_FAULTS[state.condition]
        message = f"the scale at {state.station} reports {state.condition.value}: weighing is on hold"
        self._book.raise_(
            outcome,
            now,
            kind=kind,
            message=message,
            order_id=state.order_id,
            device=scale,
            detail={"station": state.station},
        )
        if state.phase is PackPhase.WEIGHING or (state.phase is PackPhase.BLOCKED and state.order_id):
            state.phase = PackPhase.BLOCKED
            state.problem = kind
            state.message = message
            self._touch(state, now)

    def _resume(self, state: PackStationState, now: float) -> None:
        """A scale fault is over: go back to weighing the order the station held."""
        state.problem = None
        if state.order_id is not None and state.expected_g is not None:
            state.phase = PackPhase.WEIGHING
            state.message = f"order {state.order_id}: put the carton on the scale"
        else:
            state.phase = PackPhase.IDLE
            state.message = "scan the next order"
        self._touch(state, now)

    def _settle_station_problems(
        self, state: PackStationState, outcome: Outcome, now: float, note: str
    ) -> None:
        if (
            state.phase is PackPhase.BLOCKED
            and state.problem is not None
            and state.problem.startswith("pack_")
        ):
            self._book.settle(outcome, now, kind=state.problem, device=state.station, note=note)

    def _touch(self, state: PackStationState, now: float) -> None:
        state.updated_at = now
        self._floor_state.changes.pack_stations.add(state.station)


def expected_weight(order: Order, catalogue: Catalogue, *, tare_g: float) -> float:
    """Σ(unit weight * quantity picked) + tare: what the carton of a picked order should weigh."""
    total = tare_g
    for line in order.lines.values():
        if line.picked <= 0:
            continue
        unit = catalogue.items[line.sku].unit_weight_g
        if unit is None:
            raise ValueError(f"item {line.sku!r} has no unit weight")
        total += unit * line.picked
    return total


def tolerance(expected_g: float, station: Station) -> float:
    """max(tolerance_g, tolerance_pct % of expected): small cartons by grams, heavy ones by percent."""
    return max(station.tolerance_g, station.tolerance_pct / 100.0 * expected_g)


def item_allowance(order: Order, catalogue: Catalogue) -> float:
    """Σ(item weight tolerance * quantity picked) over the picked items that carry a tolerance of their own."""
    total = 0.0
    for line in order.lines.values():
        item = catalogue.items.get(line.sku)
        if line.picked > 0 and item is not None and item.weight_tolerance_g is not None:
            total += item.weight_tolerance_g * line.picked
    return total


def carton_tolerance(order: Order, catalogue: Catalogue, station: Station, *, expected_g: float) -> float:
    """How far a carton may weigh from `expected_g` and still pass.

    The station's tolerance covers the scale and the packaging; it does not grow with a bag of apples that
    may weigh 40 g more or less than its nominal weight. So an item may carry its own per-unit tolerance,
    and each unit picked adds it on top: tolerance(expected, station) + item_allowance(order). Adding (not
    taking the larger) is the worst case of every unit varying the same way, which is what a carton of
    one batch of produce does; items without a tolerance of their own add nothing, so a missing exact item
    is still caught unless the varying items' allowance is larger than its unit weight.
    """
    return tolerance(expected_g, station) + item_allowance(order, catalogue)
