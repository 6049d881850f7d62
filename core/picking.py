"""Picking: orders received, started in a zone, cancelled and retired, and the module buttons that pick them.

Starting an order in a zone gives its picker a colour there and lights each of its bins, or queues the line
behind the work that holds the bin's light. A confirm or short press on a lit module (routed here by
core/buttons.py) finishes that line (or is rejected with the reason), hands the light on, and finishes the
zone and then the order when no line is left. The lights and queues are the light board's; problems go in the exception book.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from sys import intern

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.capability import Handler
from floorgate.core.errors import conflict, invalid, not_found
from floorgate.core.exception_book import ExceptionBook, short_id
from floorgate.core.instructions import ERROR_COLOR, Blink
from floorgate.core.light_board import LightBoard
from floorgate.core.model import (
    DONE_LINE_STATUSES,
    LineStatus,
    Location,
    Order,
    OrderLine,
    OrderStatus,
    ZoneRun,
    retirable_statuses,
)
from floorgate.core.outcome import Outcome
from floorgate.core.packing import packs
from floorgate.core.state import FloorState


def order_fingerprint(command: cmd.ReceiveOrder) -> str:
    """Identity of an order's content, so an identical replay is told apart from a conflicting one."""
    body = {
        "priority": command.priority,
        "tote": command.tote,
        "lines": [[ln.line_id, ln.sku, ln.qty, ln.location] for ln in command.lines],
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


# Told of an order just cancelled, after its own lights were withdrawn: (order, now, outcome).
CancelListener = Callable[[Order, float, Outcome], None]


def shown_quantity(display: str | None) -> int | None:
    """The number a module's display showed at a press; None when it reports none. ValueError: unreadable."""
    if display is None:
        return None
    text = display.strip()
    if not text.isdigit():
        raise ValueError(display)
    return int(text)


class Picking:
    """Orders and the picks that fill them."""

    def __init__(self, state: FloorState, board: LightBoard, book: ExceptionBook) -> None:
        self._state = state
        self._board = board
        self._book = book
        self._cancel_listeners: list[CancelListener] = []

    def when_cancelled(self, listener: CancelListener) -> None:
        """Also tell `listener` of every order cancelled (batch picking and the put wall follow it)."""
        self._cancel_listeners.append(listener)

    def handlers(self) -> Mapping[type[cmd.Command], Handler]:
        return {
            cmd.ReceiveOrder: self._receive_order,
            cmd.StartOrder: self.start,
            cmd.CancelOrder: self._cancel_order,
            cmd.RetireFinishedOrders: self._retire_finished_orders,
        }

    def rebuild(self) -> None:
        """Nothing to derive: the holders, queues and colours are the light board's."""

    # -- orders ------------------------------------------------------------------------------------

    def _receive_order(self, command: cmd.ReceiveOrder, now: float) -> Outcome:
        state = self._state
        fingerprint = order_fingerprint(command)
        existing = state.orders.get(command.order_id) or state.retired(command.order_id)
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
                ln.line_id: OrderLine(
                    line_id=intern(ln.line_id),
                    sku=intern(ln.sku),
                    qty=ln.qty,
                    location=None if ln.location is None else intern(ln.location),
                    position=n,
                )
                for n, ln in enumerate(command.lines)
            },
        )
        state.orders[order.order_id] = order
        state.touch_order(order, all_lines=True)
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
                location = self._state.locations.get(line.location)
                if location is None:
                    raise invalid(f"unknown location {line.location!r}", field=f"{where}.location")
                if location.sku is not None and location.sku != line.sku:
                    raise invalid(
                        f"location {line.location!r} holds {location.sku!r}, not {line.sku!r}",
                        field=f"{where}.location",
                    )

    def start(self, command: cmd.StartOrder, now: float) -> Outcome:
        """Start an order in a zone (the API's request, or a scan at the zone's start station)."""
        state = self._state
        order = state.require_order(command.order_id)
        if command.zone not in state.zones:
            raise not_found(f"unknown zone {command.zone!r}", field="zone")
        if order.status in (OrderStatus.CANCELLED, OrderStatus.PACKED):
            raise conflict(f"order {order.order_id!r} is {order.status.value}")
        if order.batch is not None:
            raise conflict(f"order {order.order_id!r} is picked with batch {order.batch!r}")
        run = order.runs.get(command.zone)
        if run is not None and not run.done:
            return Outcome(reply={"color": run.color, "already_started": True})
        lines = self.lines_to_pick(order, command.zone)
        if not lines:
            raise conflict(f"order {order.order_id!r} has nothing left to pick in zone {command.zone!r}")
        picker = command.operator or f"order:{order.order_id}"
        color = self._board.assign_color(command.zone, picker, order.order_id)
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
            (lit if self._board.light_or_queue(order, line, outcome) else queued).append(line.line_id)
        state.touch_order(order, all_lines=True)
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

    def lines_to_pick(self, order: Order, zone: str) -> list[OrderLine]:
        """Open lines of the order in this zone, placing lines that came without a location (the batch
        picking of core/batches.py places its orders' lines this way too)."""
        chosen: list[OrderLine] = []
        for line in order.lines.values():
            if line.status is not LineStatus.OPEN:
                continue
            if line.location is None:
                line.location = self._find_location(line, zone)
                if line.location is None:
                    continue
            if self._state.locations[line.location].zone == zone:
                chosen.append(line)
        return chosen

    def _find_location(self, line: OrderLine, zone: str) -> str | None:
        candidates = [
            loc
            for loc in self._state.locations.values()
            if loc.zone == zone and loc.sku == line.sku and loc.module is not None
        ]
        if not candidates:
            return None
        # Prefer a bin that can fill the line, then the fullest, so shorts are rarer.
        candidates.sort(key=lambda loc: ((loc.on_hand or 0) < line.qty, -(loc.on_hand or 0), loc.code))
        return candidates[0].code

    def _retire_finished_orders(self, command: cmd.RetireFinishedOrders, now: float) -> Outcome:
        """Finished orders leave memory (the store keeps them, and the API reads them from there).

        Nothing is written: the store already holds each one as it finished. No light, waiting queue or
        picker points at a finished order (cancelling takes its lines out of the queues).
        """
        state = self._state
        statuses = retirable_statuses(packing=packs(state.stations.values()))
        gone = [
            o.order_id
            for o in state.orders.values()
            if o.status in statuses and o.finished_at is not None and o.finished_at < command.before
        ]
        for order_id in gone:
            del state.orders[order_id]
        return Outcome(reply={"retired": len(gone)})

    def _cancel_order(self, command: cmd.CancelOrder, now: float) -> Outcome:
        order = self._state.require_order(command.order_id)
        if order.status is OrderStatus.CANCELLED:
            return Outcome(reply={"already_cancelled": True})
        if order.status is OrderStatus.PACKED:
            raise conflict(f"order {order.order_id!r} is packed and cannot be cancelled")
        previous = order.status
        outcome = Outcome(reply={"already_cancelled": False})
        for line in order.lines.values():
            self._board.withdraw(order, line, outcome)
        for run in order.runs.values():
            if not run.done:
                run.done = True
                self._board.release_picker(run.zone, run.picker, order.order_id)
        order.status = OrderStatus.CANCELLED
        order.finished_at = now
        self._state.touch_order(order, all_lines=True)
        outcome.events.insert(0, ev.OrderCancelled(order=order.order_id, previous_status=previous))
        for listener in self._cancel_listeners:
            listener(order, now, outcome)
        return outcome

    # -- the module buttons ------------------------------------------------------------------------

    def press(self, command: cmd.PressButton, now: float, outcome: Outcome) -> None:
        """A button on a bin's module that no other kind of work holds (core/buttons.py routes it here)."""
        code = self._board.location_of_module(command.module)
        holder = self._board.holder(code) if code is not None else None
        if code is None or holder is None:
            self._stray_press(command, code, now, outcome)
            return
        if command.button in (cmd.Button.PLUS, cmd.Button.MINUS):
            # The module edits its display by itself; only the value at confirm counts.
            return
        order = self._state.orders[holder[0]]
        self._judge_press(command, code, order, order.lines[holder[1]], now, outcome)

    def _stray_press(self, command: cmd.PressButton, code: str | None, now: float, outcome: Outcome) -> None:
        """A press on a module of no location, or on one lit for nobody: someone must look at it."""
        detail = {"button": command.button.value, "display": command.display}
        if code is None:
            # Folded into the one open `unknown_module`: invented module ids must not each raise one.
            module = short_id(command.module)
            self._book.raise_unknown(
                outcome,
                now,
                kind="unknown_module",
                message=f"button {command.button.value} on module {module!r}, which belongs to no location",
                device=module,
                detail=detail,
            )
            return
        self._book.raise_(
            outcome,
            now,
            kind="button_not_lit",
            message=f"button {command.button.value} on module {command.module!r} "
            f"(location {code}) while it is not lit for anyone",
            location=code,
            device=command.module,
            detail=detail,
        )

    def _judge_press(
        self,
        command: cmd.PressButton,
        code: str,
        order: Order,
        line: OrderLine,
        now: float,
        outcome: Outcome,
    ) -> None:
        """A confirm or short on a lit module: the line is picked, shorted, or the pick is rejected."""
        requested = line.qty - line.picked
        try:
            shown = shown_quantity(command.display)
        except ValueError:
            self.reject_pick(order, line, command.display, "unreadable_display", outcome)
            return
        if shown is None:
            # A module that reports no value: confirm means "as requested", short means "none there".
            shown = requested if command.button is cmd.Button.CONFIRM else 0
        if shown > 0 and self.needs_item_scan(self._state.locations[code], line):
            # Scan-verify zone: nothing counts as picked until the item was scanned (an empty bin's
            # short of zero needs no scan: there is nothing to scan).
            self.reject_pick(order, line, command.display, "scan_required", outcome)
        elif shown > requested:
            self.reject_pick(order, line, command.display, "over_pick", outcome)
        elif shown == requested:
            self._complete_line(order, line, shown, LineStatus.PICKED, outcome, now)
        else:
            self._complete_line(order, line, shown, LineStatus.SHORT, outcome, now)

    def needs_item_scan(self, location: Location, line: OrderLine) -> bool:
        """In a scan-verify zone a pick counts only once an item scan has armed its line."""
        zone = self._state.zones.get(location.zone)
        return zone is not None and zone.scan_verify and line.scan is None

    def reject_pick(
        self, order: Order, line: OrderLine, shown: str | None, reason: str, outcome: Outcome
    ) -> None:
        """The pick of a lit line does not count (the reason says why): its bin flashes the error colour."""
        location = self._state.locations[line.location or ""]
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
            self._board.set_light(
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
        state = self._state
        location = state.locations[line.location or ""]
        run = order.runs[location.zone]
        requested = line.qty - line.picked
        line.picked += picked
        line.status = status
        state.changes.lines.add((order.order_id, line.line_id))
        expected = location.on_hand
        found_more = expected is not None and picked > expected
        if expected is not None:
            if found_more:
                # The picker took more than the edge recorded: the record was wrong, not the pick. The
                # record rises to what the pick proves was there, before the pick takes it, so every
                # event's on-hand is the record after that event (never a silent clamp to zero).
                outcome.events.append(
                    ev.InventoryAdjusted(
                        location=location.code,
                        sku=line.sku,
                        on_hand=picked,
                        previous=expected,
                        reason="found_at_pick",
                    )
                )
            location.on_hand = max(expected, picked) - picked
            state.changes.locations.add(location.code)
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
            self._book.raise_(
                outcome,
                now,
                kind="inventory_short",
                message=f"bin {location.code} ({line.sku}) was short: "
                f"{picked} of {requested} picked for order {order.order_id}",
                order_id=order.order_id,
                location=location.code,
                detail={"sku": line.sku, "requested": requested, "picked": picked},
            )
        if found_more:
            self._book.raise_(
                outcome,
                now,
                kind="inventory_discrepancy",
                message=f"bin {location.code} ({line.sku}) held more than recorded: "
                f"{picked} picked for order {order.order_id}, {expected} expected",
                order_id=order.order_id,
                location=location.code,
                detail={"sku": line.sku, "expected": expected, "picked": picked},
            )
        self._board.hand_on(location.code, outcome)
        self.check_zone_done(order, run, now, outcome)

    def check_zone_done(self, order: Order, run: ZoneRun, now: float, outcome: Outcome) -> None:
        """When no line of the order is left in the run's zone: the zone, and maybe the order, is done."""
        state = self._state
        for line in order.lines.values():
            if line.status in DONE_LINE_STATUSES or line.location is None:
                continue
            if state.locations[line.location].zone == run.zone:
                return
        run.done = True
        self._board.release_picker(run.zone, run.picker, order.order_id)
        state.changes.orders.add(order.order_id)
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
