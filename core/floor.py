"""The floor aggregate: applies commands to the live state and returns events and light instructions.

Pure: no I/O, no clock (callers pass `now`), no logging. The single writer in `edge/` is its only caller;
it persists what `changes` names and sends the instructions only after the commit.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.errors import conflict, invalid, not_found
from floorgate.core.instructions import ERROR_COLOR, PICKER_PALETTE, Blink, ClearBin, Instruction, LightBin
from floorgate.core.model import (
    DONE_LINE_STATUSES,
    Device,
    ExceptionStatus,
    FloorException,
    Item,
    Light,
    LineStatus,
    Location,
    Order,
    OrderLine,
    OrderStatus,
    RetiredOrder,
    Station,
    Zone,
    ZoneRun,
    retirable_statuses,
)
from floorgate.core.packing import PackStations, packs
from floorgate.core.zone_scans import ZoneScans

C = TypeVar("C", bound=cmd.Command)

# A device's last-seen time is written to the store at most this often while it stays online.
LAST_SEEN_SAVE_SECONDS = 30.0

# A flow that handles scans at one kind of station: (station, code as scanned, now) -> outcome.
ScanFlow = Callable[[Station, cmd.RecordScan, float], "Outcome"]


@dataclass(slots=True)
class Outcome:
    """What one command did. `reply` carries what the API answers (e.g. created vs replayed)."""

    events: list[ev.Event] = field(default_factory=list)
    instructions: list[Instruction] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Changes:
    """Keys of the entities changed since the last commit: the unit of work the store writes."""

    zones: set[str] = field(default_factory=set)
    items: set[str] = field(default_factory=set)
    locations: set[str] = field(default_factory=set)
    orders: set[str] = field(default_factory=set)
    lines: set[tuple[str, str]] = field(default_factory=set)
    lights: set[str] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)
    exceptions: set[int] = field(default_factory=set)
    stations: set[str] = field(default_factory=set)
    pack_stations: set[str] = field(default_factory=set)  # weigh-verify state (core/packing.py)

    def clear(self) -> None:
        for part in (
            self.zones,
            self.items,
            self.locations,
            self.orders,
            self.lines,
            self.lights,
            self.devices,
            self.exceptions,
            self.stations,
            self.pack_stations,
        ):
            part.clear()


def order_fingerprint(command: cmd.ReceiveOrder) -> str:
    """Identity of an order's content, so an identical replay is told apart from a conflicting one."""
    body = {
        "priority": command.priority,
        "tote": command.tote,
        "lines": [[ln.line_id, ln.sku, ln.qty, ln.location] for ln in command.lines],
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _shown_quantity(display: str | None) -> int | None:
    if display is None:
        return None
    text = display.strip()
    if not text.isdigit():
        raise ValueError(display)
    return int(text)


class Floor:
    """The live state of one edge's zones."""

    def __init__(self) -> None:
        self.zones: dict[str, Zone] = {}
        self.items: dict[str, Item] = {}
        self.locations: dict[str, Location] = {}
        self.orders: dict[str, Order] = {}
        self.lights: dict[str, Light] = {}
        self.devices: dict[str, Device] = {}
        self.exceptions: dict[int, FloorException] = {}
        self.stations: dict[str, Station] = {}
        self.changes = Changes()
        # Scan flows by station kind; each capability (zone start stations, pack stations) registers its own.
        self._scan_flows: dict[str, ScanFlow] = {}
        self._zone_scans = ZoneScans(self)
        self._scan_flows[cmd.StationKind.ZONE.value] = self._zone_scan
        # Weigh-verify at pack stations lives in core/packing.py; the floor only routes to it.
        self.packing = PackStations(self)
        self._scan_flows[cmd.StationKind.PACK.value] = self._pack_scan
        self._location_by_module: dict[str, str] = {}
        # location code -> (order_id, line_id) whose light it shows now
        self._holder: dict[str, tuple[str, str]] = {}
        # location code -> lines waiting for that light, first come first served
        self._waiting: dict[str, deque[tuple[str, str]]] = {}
        # zone -> picker key -> (colour, orders of that picker with work left in the zone)
        self._pickers: dict[str, dict[str, tuple[str, set[str]]]] = {}
        self._open_exception_keys: dict[tuple[str, str | None, str | None], int] = {}
        self._next_ticket = 1
        self._next_exception_id = 1
        # An order this floor let go of (it is in the store only), or None. Set by whoever holds the
        # store; without it a retired order's id would start a new order.
        self.retired_order: Callable[[str], RetiredOrder | None] = lambda order_id: None
        self._handlers: dict[type[cmd.Command], Callable[[Any, float], Outcome]] = {
            cmd.DefineZone: self._define_zone,
            cmd.UpsertItem: self._upsert_item,
            cmd.UpsertLocation: self._upsert_location,
            cmd.ReceiveOrder: self._receive_order,
            cmd.StartOrder: self._start_order,
            cmd.CancelOrder: self._cancel_order,
            cmd.RetireFinishedOrders: self._retire_finished_orders,
            cmd.ForgetResolvedExceptions: self._forget_resolved_exceptions,
            cmd.PressButton: self._press_button,
            cmd.ReportDeviceStatus: self._report_device_status,
            cmd.RecordDeviceFault: self._record_device_fault,
            cmd.ResolveException: self._resolve_exception,
            cmd.RaiseException: self._raise_exception,
            cmd.DefineStation: self._define_station,
            cmd.RecordScan: self._record_scan,
            cmd.RecordWeight: self._record_weight,
            cmd.OverrideWeightCheck: self._override_weight_check,
        }

    # -- entry point -------------------------------------------------------------------------------

    def handle(self, command: cmd.Command, now: float) -> Outcome:
        """Apply one command. Raises CommandRejected, before touching any state, when it cannot apply."""
        handler = self._handlers.get(type(command))
        if handler is None:
            raise TypeError(f"no handler for {type(command).__name__}")
        return handler(command, now)

    # -- restore -----------------------------------------------------------------------------------

    def restore(
        self,
        *,
        zones: Iterable[Zone] = (),
        items: Iterable[Item] = (),
        locations: Iterable[Location] = (),
        orders: Iterable[Order] = (),
        lights: Iterable[Light] = (),
        devices: Iterable[Device] = (),
        exceptions: Iterable[FloorException] = (),
        stations: Iterable[Station] = (),
    ) -> None:
        """Load state read back from the store and rebuild the indexes derived from it."""
        self.stations = {s.id: s for s in stations}
        self.zones = {z.id: z for z in zones}
        self.items = {i.sku: i for i in items}
        self.locations = {loc.code: loc for loc in locations}
        self.orders = {o.order_id: o for o in orders}
        self.lights = {light.module: light for light in lights}
        self.devices = {d.id: d for d in devices}
        self.exceptions = {x.id: x for x in exceptions}
        self._location_by_module = {
            loc.module: loc.code for loc in self.locations.values() if loc.module is not None
        }
        self._holder.clear()
        self._waiting.clear()
        self._pickers.clear()
        waiting: list[tuple[int, str, str, str]] = []
        for order in self.orders.values():
            active = order.status in (OrderStatus.OPEN, OrderStatus.PICKING)
            for line in order.lines.values():
                self._next_ticket = max(self._next_ticket, (line.ticket or 0) + 1)
                if not active or line.location is None:
                    continue
                if line.status is LineStatus.LIT:
                    self._holder[line.location] = (order.order_id, line.line_id)
                elif line.ticket is not None:
                    waiting.append((line.ticket, line.location, order.order_id, line.line_id))
            if active:
                for run in order.runs.values():
                    if not run.done:
                        zone_pickers = self._pickers.setdefault(run.zone, {})
                        zone_pickers.setdefault(run.picker, (run.color, set()))[1].add(order.order_id)
        for _ticket, location, order_id, line_id in sorted(waiting):
            self._waiting.setdefault(location, deque()).append((order_id, line_id))
        self._open_exception_keys = {
            (x.kind, x.location, x.device): x.id
            for x in self.exceptions.values()
            if x.status is ExceptionStatus.OPEN
        }
        self._next_exception_id = max(self.exceptions, default=0) + 1
        self.changes.clear()

    def location_of_module(self, module: str) -> str | None:
        return self._location_by_module.get(module)

    def light_commands(self) -> list[Instruction]:
        """The command every module the floor has lit should show now, lit ones first: re-sent on start-up.

        Dark modules are sent their "off" again too. One committed just before a crash, or while the
        broker was away, may never have reached the broker, whose retained copy would then keep the
        module lit for a pick that is done: a light nobody may press.
        """
        dark: list[Instruction] = [
            ClearBin(module=light.module, seq=light.seq)
            for light in self.lights.values()
            if light.color is None and light.seq > 0
        ]
        return [*self.lit_commands(), *dark]

    def lit_commands(self) -> list[LightBin]:
        """The command every lit module should show now."""
        return [
            LightBin(
                module=light.module,
                seq=light.seq,
                color=light.color,
                blink=light.blink,
                display=light.display,
            )
            for light in self.lights.values()
            if light.color is not None
        ]

    # -- master data -------------------------------------------------------------------------------

    def _define_zone(self, command: cmd.DefineZone, now: float) -> Outcome:
        self.zones[command.zone] = Zone(id=command.zone, scan_verify=command.scan_verify, name=command.name)
        self.changes.zones.add(command.zone)
        return Outcome()

    def _define_station(self, command: cmd.DefineStation, now: float) -> Outcome:
        if command.zone is not None and command.zone not in self.zones:
            raise invalid(f"station {command.station!r} names unknown zone {command.zone!r}", field="zone")
        previous = self.stations.get(command.station)
        self.stations[command.station] = Station(
            id=command.station,
            kind=command.kind.value,
            zone=command.zone,
            tolerance_g=command.tolerance_g,
            tolerance_pct=command.tolerance_pct,
            tare_g=command.tare_g,
            # The site file is read again on every start; who is signed in there is live state.
            operator=previous.operator if previous is not None else None,
        )
        self.changes.stations.add(command.station)
        return Outcome()

    def _zone_scan(self, station: Station, command: cmd.RecordScan, now: float) -> Outcome:
        outcome = Outcome()
        self._zone_scans.handle(station, command, now, outcome)
        return outcome

    def _pack_scan(self, station: Station, command: cmd.RecordScan, now: float) -> Outcome:
        outcome = Outcome()
        self.packing.scan(station, command, now, outcome)
        return outcome

    def _record_weight(self, command: cmd.RecordWeight, now: float) -> Outcome:
        outcome = Outcome()
        self.packing.weigh(command, now, outcome)
        return outcome

    def _override_weight_check(self, command: cmd.OverrideWeightCheck, now: float) -> Outcome:
        outcome = Outcome()
        self.packing.override(command, now, outcome)
        return outcome

    def _record_scan(self, command: cmd.RecordScan, now: float) -> Outcome:
        station = self.stations.get(command.station)
        flow = self._scan_flows.get(station.kind) if station is not None else None
        if station is None or flow is None:
            outcome = Outcome()
            what = (
                "an unknown station" if station is None else f"a {station.kind} station, which takes no scans"
            )
            self._raise(
                outcome,
                now,
                kind="unexpected_scan",
                message=f"scan {command.data!r} at {what} ({command.station!r})",
                device=command.scanner or command.station,
                detail={"station": command.station, "data": command.data},
            )
            return outcome
        return flow(station, command, now)

    def _upsert_item(self, command: cmd.UpsertItem, now: float) -> Outcome:
        if command.weight_tolerance_g is not None and not 0 <= command.weight_tolerance_g < float("inf"):
            # Written so NaN is refused too: an infinite or NaN tolerance would pass (or fail) every carton.
            raise invalid("weight_tolerance_g must be a finite number >= 0", field="weight_tolerance_g")
        existing = self.items.get(command.sku)
        self.items[command.sku] = Item(
            sku=command.sku,
            description=command.description,
            gtins=command.gtins,
            unit_weight_g=command.unit_weight_g,
            weight_tolerance_g=command.weight_tolerance_g,
        )
        self.changes.items.add(command.sku)
        return Outcome(reply={"created": existing is None})

    def _upsert_location(self, command: cmd.UpsertLocation, now: float) -> Outcome:
        if command.zone not in self.zones:
            known = ", ".join(sorted(self.zones)) or "none"
            raise invalid(f"unknown zone {command.zone!r} (zones: {known})", field="zone")
        if command.on_hand is not None and command.on_hand < 0:
            raise invalid("on_hand must not be negative", field="on_hand")
        existing = self.locations.get(command.code)
        if command.module is not None:
            owner = self._location_by_module.get(command.module)
            if owner is not None and owner != command.code:
                raise conflict(
                    f"module {command.module!r} already belongs to location {owner!r}", field="module"
                )
        moving = existing is not None and (existing.module, existing.zone) != (command.module, command.zone)
        if moving and command.code in self._holder:
            order_id, line_id = self._holder[command.code]
            raise conflict(
                f"location {command.code!r} is lit for order {order_id} line {line_id}: "
                "its module and zone cannot change until that pick is done"
            )
        outcome = Outcome(reply={"created": existing is None})
        location = existing or Location(code=command.code, zone=command.zone)
        if existing is not None and existing.module is not None:
            self._location_by_module.pop(existing.module, None)
        location.zone = command.zone
        location.module = command.module
        if command.sku is not None:
            location.sku = command.sku
        if command.module is not None:
            self._location_by_module[command.module] = command.code
            self._settle(
                outcome,
                now,
                kind="unknown_module",
                device=command.module,
                note=f"assigned to location {command.code}",
            )
            if command.module not in self.devices:
                self.devices[command.module] = Device(id=command.module, kind="ptl")
                self.changes.devices.add(command.module)
        if command.on_hand is not None and command.on_hand != location.on_hand:
            outcome.events.append(
                ev.InventoryAdjusted(
                    location=command.code,
                    sku=location.sku,
                    on_hand=command.on_hand,
                    previous=location.on_hand,
                    reason="set",
                )
            )
            location.on_hand = command.on_hand
        self.locations[command.code] = location
        self.changes.locations.add(command.code)
        return outcome

    # -- orders ------------------------------------------------------------------------------------

    def _receive_order(self, command: cmd.ReceiveOrder, now: float) -> Outcome:
        fingerprint = order_fingerprint(command)
        existing = self.orders.get(command.order_id) or self.retired_order(command.order_id)
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise conflict(f"order {command.order_id!r} was already received with a different body")
            return Outcome(reply={"created": False})
        self._validate_lines(command.lines)
        order = Order(
            order_id=command.order_id,
            priority=command.priority,
            tote=command.tote,
            fingerprint=fingerprint,
            lines={
                ln.line_id: OrderLine(line_id=ln.line_id, sku=ln.sku, qty=ln.qty, location=ln.location)
                for ln in command.lines
            },
        )
        self.orders[order.order_id] = order
        self._touch_order(order, all_lines=True)
        return Outcome(
            events=[
                ev.OrderReceived(
                    order=order.order_id,
                    priority=order.priority,
                    tote=order.tote,
                    lines=[
                        {"line_id": ln.line_id, "sku": ln.sku, "qty": ln.qty, "location": ln.location}
                        for ln in command.lines
                    ],
                )
            ],
            reply={"created": True},
        )

    def _validate_lines(self, lines: tuple[cmd.NewOrderLine, ...]) -> None:
        if not lines:
            raise invalid("an order needs at least one line", field="lines")
        seen: set[str] = set()
        for index, line in enumerate(lines):
            where = f"lines[{index}]"
            if line.line_id in seen:
                raise invalid(f"line_id {line.line_id!r} appears twice", field=f"{where}.line_id")
            seen.add(line.line_id)
            if line.qty <= 0:
                raise invalid("qty must be at least 1", field=f"{where}.qty")
            if line.location is not None:
                location = self.locations.get(line.location)
                if location is None:
                    raise invalid(f"unknown location {line.location!r}", field=f"{where}.location")
                if location.sku is not None and location.sku != line.sku:
                    raise invalid(
                        f"location {line.location!r} holds {location.sku!r}, not {line.sku!r}",
                        field=f"{where}.location",
                    )

    def _start_order(self, command: cmd.StartOrder, now: float) -> Outcome:
        order = self.require_order(command.order_id)
        if command.zone not in self.zones:
            raise not_found(f"unknown zone {command.zone!r}", field="zone")
        if order.status in (OrderStatus.CANCELLED, OrderStatus.PACKED):
            raise conflict(f"order {order.order_id!r} is {order.status.value}")
        run = order.runs.get(command.zone)
        if run is not None and not run.done:
            return Outcome(reply={"color": run.color, "already_started": True})
        lines = self._lines_to_pick(order, command.zone)
        if not lines:
            raise conflict(f"order {order.order_id!r} has nothing left to pick in zone {command.zone!r}")
        picker = command.operator or f"order:{order.order_id}"
        color = self._assign_color(command.zone, picker, order.order_id)
        run = ZoneRun(
            zone=command.zone,
            picker=picker,
            operator=command.operator,
            tote=command.tote or order.tote,
            color=color,
        )
        order.runs[command.zone] = run
        if order.status is OrderStatus.OPEN:
            order.status = OrderStatus.PICKING
        outcome = Outcome(reply={"color": color, "already_started": False})
        lit: list[str] = []
        queued: list[str] = []
        for line in lines:
            location = line.location
            assert location is not None  # _lines_to_pick only returns placed lines
            if location in self._holder:
                line.ticket = self._next_ticket
                self._next_ticket += 1
                self._waiting.setdefault(location, deque()).append((order.order_id, line.line_id))
                queued.append(line.line_id)
            else:
                self._light_line(order, line, outcome)
                lit.append(line.line_id)
        self._touch_order(order, all_lines=True)
        outcome.events.insert(
            0,
            ev.OrderStarted(
                order=order.order_id,
                zone=command.zone,
                operator=command.operator,
                tote=run.tote,
                color=color,
                lines_lit=lit,
                lines_queued=queued,
            ),
        )
        return outcome

    def _lines_to_pick(self, order: Order, zone: str) -> list[OrderLine]:
        """Open lines of the order in this zone, placing lines that came without a location."""
        chosen: list[OrderLine] = []
        for line in order.lines.values():
            if line.status is not LineStatus.OPEN:
                continue
            if line.location is None:
                line.location = self._find_location(line, zone)
                if line.location is None:
                    continue
            if self.locations[line.location].zone == zone:
                chosen.append(line)
        return chosen

    def _find_location(self, line: OrderLine, zone: str) -> str | None:
        candidates = [
            loc
            for loc in self.locations.values()
            if loc.zone == zone and loc.sku == line.sku and loc.module is not None
        ]
        if not candidates:
            return None
        # Prefer a bin that can fill the line, then the fullest, so shorts are rarer.
        candidates.sort(key=lambda loc: ((loc.on_hand or 0) < line.qty, -(loc.on_hand or 0), loc.code))
        return candidates[0].code

    def _assign_color(self, zone: str, picker: str, order_id: str) -> str:
        pickers = self._pickers.setdefault(zone, {})
        if picker in pickers:
            color, orders = pickers[picker]
            orders.add(order_id)
            return color
        used = {color for color, _ in pickers.values()}
        free = [c for c in PICKER_PALETTE if c not in used]
        # More pickers than colours: reuse in palette order rather than refuse work.
        color = free[0] if free else PICKER_PALETTE[len(pickers) % len(PICKER_PALETTE)]
        pickers[picker] = (color, {order_id})
        return color

    def _release_picker(self, zone: str, picker: str, order_id: str) -> None:
        pickers = self._pickers.get(zone)
        if not pickers or picker not in pickers:
            return
        _color, orders = pickers[picker]
        orders.discard(order_id)
        if not orders:
            del pickers[picker]

    def _retire_finished_orders(self, command: cmd.RetireFinishedOrders, now: float) -> Outcome:
        """Finished orders leave memory (the store keeps them, and the API reads them from there).

        Nothing is written: the store already holds each one as it finished. No light, waiting queue or
        picker points at a finished order (cancelling takes its lines out of the queues).
        """
        statuses = retirable_statuses(packing=packs(self.stations.values()))
        gone = [
            o.order_id
            for o in self.orders.values()
            if o.status in statuses and o.finished_at is not None and o.finished_at < command.before
        ]
        for order_id in gone:
            del self.orders[order_id]
        return Outcome(reply={"retired": len(gone)})

    def _cancel_order(self, command: cmd.CancelOrder, now: float) -> Outcome:
        order = self.require_order(command.order_id)
        if order.status is OrderStatus.CANCELLED:
            return Outcome(reply={"already_cancelled": True})
        if order.status is OrderStatus.PACKED:
            raise conflict(f"order {order.order_id!r} is packed and cannot be cancelled")
        previous = order.status
        outcome = Outcome(reply={"already_cancelled": False})
        for line in order.lines.values():
            if line.location is None:
                continue
            if line.status is LineStatus.LIT:
                line.status = LineStatus.OPEN
                self._hand_on_light(line.location, outcome)
            elif line.ticket is not None:
                queue = self._waiting.get(line.location)
                if queue is not None:
                    queue.remove((order.order_id, line.line_id))
                line.ticket = None
        for run in order.runs.values():
            if not run.done:
                run.done = True
                self._release_picker(run.zone, run.picker, order.order_id)
        order.status = OrderStatus.CANCELLED
        order.finished_at = now
        self._touch_order(order, all_lines=True)
        outcome.events.insert(0, ev.OrderCancelled(order=order.order_id, previous_status=previous))
        return outcome

    # -- the module buttons ------------------------------------------------------------------------

    def _press_button(self, command: cmd.PressButton, now: float) -> Outcome:
        outcome = Outcome()
        self._seen_device(command.module, "ptl", now, outcome)
        code = self._location_by_module.get(command.module)
        if code is None:
            self._raise(
                outcome,
                now,
                kind="unknown_module",
                message=f"button {command.button.value} on module {command.module!r}, "
                "which belongs to no location",
                device=command.module,
                detail={"button": command.button.value, "display": command.display},
            )
            return outcome
        holder = self._holder.get(code)
        if holder is None:
            self._raise(
                outcome,
                now,
                kind="button_not_lit",
                message=f"button {command.button.value} on module {command.module!r} "
                f"(location {code}) while it is not lit for anyone",
                location=code,
                device=command.module,
                detail={"button": command.button.value, "display": command.display},
            )
            return outcome
        if command.button in (cmd.Button.PLUS, cmd.Button.MINUS):
            # The module edits its display by itself; only the value at confirm counts.
            return outcome
        order = self.orders[holder[0]]
        line = order.lines[holder[1]]
        requested = line.qty - line.picked
        try:
            shown = _shown_quantity(command.display)
        except ValueError:
            self._reject_pick(order, line, command.display, "unreadable_display", outcome)
            return outcome
        if shown is None:
            # A module that reports no value: confirm means "as requested", short means "none there".
            shown = requested if command.button is cmd.Button.CONFIRM else 0
        if shown > 0 and self._zone_scans.needs_item_scan(self.locations[code], line):
            # Scan-verify zone: nothing counts as picked until the item was scanned (an empty bin's
            # short of zero needs no scan: there is nothing to scan).
            self._reject_pick(order, line, command.display, "scan_required", outcome)
        elif shown > requested:
            self._reject_pick(order, line, command.display, "over_pick", outcome)
        elif shown == requested:
            self._complete_line(order, line, shown, LineStatus.PICKED, outcome, now)
        else:
            self._complete_line(order, line, shown, LineStatus.SHORT, outcome, now)
        return outcome

    def _reject_pick(
        self, order: Order, line: OrderLine, shown: str | None, reason: str, outcome: Outcome
    ) -> None:
        location = self.locations[line.location or ""]
        run = order.runs[location.zone]
        outcome.events.append(
            ev.PickRejected(
                order=order.order_id,
                line=line.line_id,
                sku=line.sku,
                location=location.code,
                zone=location.zone,
                qty=line.qty - line.picked,
                shown=shown,
                reason=reason,
                operator=run.operator,
            )
        )
        if location.module is not None:
            self._set_light(
                location.module,
                outcome,
                color=ERROR_COLOR,
                blink=Blink.FAST,
                display=str(line.qty - line.picked),
                holder=(order.order_id, line.line_id),
            )

    def _complete_line(
        self,
        order: Order,
        line: OrderLine,
        picked: int,
        status: LineStatus,
        outcome: Outcome,
        now: float,
    ) -> None:
        location = self.locations[line.location or ""]
        run = order.runs[location.zone]
        requested = line.qty - line.picked
        line.picked += picked
        line.status = status
        self.changes.lines.add((order.order_id, line.line_id))
        if location.on_hand is not None:
            location.on_hand = max(0, location.on_hand - picked)
            self.changes.locations.add(location.code)
        if status is LineStatus.PICKED:
            outcome.events.append(
                ev.PickConfirmed(
                    order=order.order_id,
                    line=line.line_id,
                    sku=line.sku,
                    location=location.code,
                    zone=location.zone,
                    qty=line.qty,
                    picked=line.picked,
                    operator=run.operator,
                    on_hand=location.on_hand,
                    lot=line.scan.lot if line.scan else None,
                    serial=line.scan.serial if line.scan else None,
                    expiry=line.scan.expiry if line.scan else None,
                )
            )
        else:
            outcome.events.append(
                ev.PickShorted(
                    order=order.order_id,
                    line=line.line_id,
                    sku=line.sku,
                    location=location.code,
                    zone=location.zone,
                    qty=line.qty,
                    picked=line.picked,
                    short=requested - picked,
                    operator=run.operator,
                    on_hand=location.on_hand,
                )
            )
            self._raise(
                outcome,
                now,
                kind="inventory_short",
                message=f"bin {location.code} ({line.sku}) was short: "
                f"{picked} of {requested} picked for order {order.order_id}",
                order_id=order.order_id,
                location=location.code,
                detail={"sku": line.sku, "requested": requested, "picked": picked},
            )
        self._hand_on_light(location.code, outcome)
        self._check_zone_done(order, run, now, outcome)

    def _check_zone_done(self, order: Order, run: ZoneRun, now: float, outcome: Outcome) -> None:
        for line in order.lines.values():
            if line.status in DONE_LINE_STATUSES or line.location is None:
                continue
            if self.locations[line.location].zone == run.zone:
                return
        run.done = True
        self._release_picker(run.zone, run.picker, order.order_id)
        self.changes.orders.add(order.order_id)
        outcome.events.append(
            ev.OrderZoneCompleted(order=order.order_id, zone=run.zone, operator=run.operator)
        )
        if all(line.status in DONE_LINE_STATUSES for line in order.lines.values()):
            order.status = OrderStatus.PICKED
            order.finished_at = now
            outcome.events.append(
                ev.OrderPicked(
                    order=order.order_id,
                    lines=[
                        {
                            "line_id": ln.line_id,
                            "sku": ln.sku,
                            "location": ln.location,
                            "qty": ln.qty,
                            "picked": ln.picked,
                            "status": ln.status.value,
                        }
                        for ln in order.lines.values()
                    ],
                )
            )

    # -- lights ------------------------------------------------------------------------------------

    def _light_line(self, order: Order, line: OrderLine, outcome: Outcome) -> None:
        location = self.locations[line.location or ""]
        run = order.runs[location.zone]
        line.status = LineStatus.LIT
        line.ticket = None
        self.changes.lines.add((order.order_id, line.line_id))
        self._holder[location.code] = (order.order_id, line.line_id)
        if location.module is not None:
            self._set_light(
                location.module,
                outcome,
                color=run.color,
                blink=Blink.NONE,
                display=str(line.qty - line.picked),
                holder=(order.order_id, line.line_id),
            )

    def _hand_on_light(self, code: str, outcome: Outcome) -> None:
        """The line holding this location's light is done: light the next waiting line, or clear."""
        self._holder.pop(code, None)
        queue = self._waiting.get(code)
        while queue:
            order_id, line_id = queue.popleft()
            order = self.orders[order_id]
            line = order.lines[line_id]
            if order.status is OrderStatus.CANCELLED or line.status is not LineStatus.OPEN:
                continue
            self._light_line(order, line, outcome)
            return
        module = self.locations[code].module
        if module is not None:
            self._set_light(module, outcome, color=None)

    def _set_light(
        self,
        module: str,
        outcome: Outcome,
        *,
        color: str | None,
        blink: Blink = Blink.NONE,
        display: str = "",
        holder: tuple[str, str] | None = None,
    ) -> None:
        light = self.lights.get(module)
        if light is None:
            light = self.lights[module] = Light(module=module)
        light.seq += 1
        light.color = color
        light.blink = blink
        light.display = display
        light.order_id, light.line_id = holder if holder else (None, None)
        self.changes.lights.add(module)
        if color is None:
            outcome.instructions.append(ClearBin(module=module, seq=light.seq))
        else:
            outcome.instructions.append(
                LightBin(module=module, seq=light.seq, color=color, blink=blink, display=display)
            )

    # -- devices and exceptions --------------------------------------------------------------------

    def _seen_device(self, device_id: str, kind: str, now: float, outcome: Outcome) -> None:
        device = self.devices.get(device_id)
        if device is None:
            device = self.devices[device_id] = Device(id=device_id, kind=kind)
        device.last_seen = now
        came_online = device.online is not True
        if (
            came_online
            or device.last_seen_saved is None
            or now - device.last_seen_saved >= LAST_SEEN_SAVE_SECONDS
        ):
            device.last_seen_saved = now
            self.changes.devices.add(device_id)
        if came_online:
            device.online = True
            outcome.events.append(
                ev.DeviceOnline(device=device_id, kind=device.kind, transport=device.transport)
            )

    def _report_device_status(self, command: cmd.ReportDeviceStatus, now: float) -> Outcome:
        outcome = Outcome()
        device = self.devices.get(command.device)
        if device is None:
            device = self.devices[command.device] = Device(
                id=command.device, kind=command.kind, transport=command.transport
            )
            if command.kind == "ptl" and command.device not in self._location_by_module:
                self._raise(
                    outcome,
                    now,
                    kind="unknown_module",
                    message=f"module {command.device!r} is on the bus but belongs to no location",
                    device=command.device,
                )
        device.last_seen = now
        self.changes.devices.add(command.device)
        if device.online == command.online:
            return outcome
        device.online = command.online
        if command.online:
            outcome.events.append(
                ev.DeviceOnline(device=device.id, kind=device.kind, transport=device.transport)
            )
        else:
            outcome.events.append(
                ev.DeviceOffline(
                    device=device.id,
                    kind=device.kind,
                    transport=device.transport,
                    reason=command.reason,
                )
            )
        return outcome

    def _record_device_fault(self, command: cmd.RecordDeviceFault, now: float) -> Outcome:
        outcome = Outcome()
        self._raise(
            outcome,
            now,
            kind="device_fault",
            message=f"{command.kind} {command.device!r}: {command.reason}",
            device=command.device,
            detail=dict(command.detail),
        )
        return outcome

    def _forget_resolved_exceptions(self, command: cmd.ForgetResolvedExceptions, now: float) -> Outcome:
        """Resolved exceptions past their retention leave `GET /exceptions`; nothing is written (the
        store's sweep deletes their rows after this). A resolved exception never changes again, and the
        numbering goes on from the highest number ever given out."""
        gone = [
            x.id
            for x in self.exceptions.values()
            if x.status is ExceptionStatus.RESOLVED
            and x.resolved_at is not None
            and x.resolved_at < command.before
        ]
        for exception_id in gone:
            del self.exceptions[exception_id]
        return Outcome(reply={"forgotten": len(gone)})

    def _raise_exception(self, command: cmd.RaiseException, now: float) -> Outcome:
        outcome = Outcome()
        self._raise(
            outcome,
            now,
            kind=command.kind,
            message=command.message,
            device=command.device,
            detail=dict(command.detail),
            separate=command.separate,
        )
        return outcome

    def _resolve_exception(self, command: cmd.ResolveException, now: float) -> Outcome:
        exception = self.exceptions.get(command.exception_id)
        if exception is None:
            raise not_found(f"no exception {command.exception_id}")
        if exception.status is ExceptionStatus.RESOLVED:
            return Outcome(reply={"already_resolved": True})
        exception.status = ExceptionStatus.RESOLVED
        exception.resolved_at = now
        exception.resolved_by = command.resolved_by
        exception.note = command.note
        self._open_exception_keys.pop((exception.kind, exception.location, exception.device), None)
        self.changes.exceptions.add(exception.id)
        return Outcome(
            events=[
                ev.ExceptionResolved(
                    exception_id=exception.id,
                    kind=exception.kind,
                    resolved_by=command.resolved_by,
                    note=command.note,
                )
            ],
            reply={"already_resolved": False},
        )

    def _settle(self, outcome: Outcome, now: float, *, kind: str, device: str, note: str) -> None:
        """Close an open exception that the floor itself has just made obsolete."""
        open_id = self._open_exception_keys.pop((kind, None, device), None)
        if open_id is None:
            return
        exception = self.exceptions[open_id]
        exception.status = ExceptionStatus.RESOLVED
        exception.resolved_at = now
        exception.resolved_by = "floorgate"
        exception.note = note
        self.changes.exceptions.add(open_id)
        outcome.events.append(
            ev.ExceptionResolved(exception_id=open_id, kind=kind, resolved_by="floorgate", note=note)
        )

    def _raise(
        self,
        outcome: Outcome,
        now: float,
        *,
        kind: str,
        message: str,
        order_id: str | None = None,
        location: str | None = None,
        device: str | None = None,
        detail: dict[str, Any] | None = None,
        separate: bool = False,
    ) -> None:
        key = (kind, location, device)
        open_id = None if separate else self._open_exception_keys.get(key)
        if open_id is not None:
            # The same problem again while a person has not dealt with it yet: count it, don't spam.
            existing = self.exceptions[open_id]
            existing.count += 1
            existing.last_at = now
            existing.message = message
            self.changes.exceptions.add(open_id)
            return
        exception = FloorException(
            id=self._next_exception_id,
            kind=kind,
            message=message,
            raised_at=now,
            last_at=now,
            order_id=order_id,
            location=location,
            device=device,
            detail=detail or {},
        )
        self._next_exception_id += 1
        self.exceptions[exception.id] = exception
        if not separate:
            self._open_exception_keys[key] = exception.id
        self.changes.exceptions.add(exception.id)
        outcome.events.append(
            ev.ExceptionRaised(
                exception_id=exception.id,
                kind=kind,
                message=message,
                order=order_id,
                location=location,
                device=device,
                detail=exception.detail,
            )
        )

    # -- small shared steps ------------------------------------------------------------------------

    def require_order(self, order_id: str, *, field: str | None = None) -> Order:
        """The order a command changes; one the floor has retired is a conflict, not an unknown id."""
        order = self.orders.get(order_id)
        if order is not None:
            return order
        retired = self.retired_order(order_id)
        if retired is not None:
            raise conflict(
                f"order {order_id!r} is {retired.status.value} and has left the floor: it can be read, "
                "not changed",
                field=field,
            )
        raise not_found(f"no order {order_id!r}", field=field)

    def _touch_order(self, order: Order, *, all_lines: bool) -> None:
        self.changes.orders.add(order.order_id)
        if all_lines:
            self.changes.lines.update((order.order_id, line_id) for line_id in order.lines)
