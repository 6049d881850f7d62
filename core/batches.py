"""Batch picking: many orders picked as one walk, each bin lit once with the batch's summed quantity.

A batch names its orders (oldest first) and the put wall they are sorted at (core/put_wall.py). Starting
it in a zone claims the light of each bin its orders need there (a `LightTaker` of kind "batch" on the
shared light board, so a bin lit for an order or a count makes the batch wait, and the reverse), in the
picker's colour. A confirm on a batch's bin picks it for every order that needs it; a short is spread over
the orders latest first, whose lines then end short as order picking records them, and on-hand falls as
it does for an order's pick. The orders' own zone and order completions are picking's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.capability import Handler
from floorgate.core.errors import conflict, invalid, not_found
from floorgate.core.exception_book import ExceptionBook
from floorgate.core.instructions import ERROR_COLOR, Blink
from floorgate.core.light_board import LightBoard
from floorgate.core.model import (
    DONE_LINE_STATUSES,
    Batch,
    BatchOrder,
    BatchPick,
    BatchStatus,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    SortState,
    ZoneRun,
)
from floorgate.core.outcome import Outcome
from floorgate.core.picking import Picking, shown_quantity
from floorgate.core.state import FloorState

KIND = "batch"


def batch_fingerprint(command: cmd.ReceiveBatch) -> str:
    """Identity of a batch's content, so an identical replay is told apart from a conflicting one."""
    body = {"orders": list(command.order_ids), "wall": command.wall}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def items_of(units: Mapping[str, int]) -> list[dict[str, object]]:
    """Units by sku as the events list them: [{"sku", "qty"}], skus in order, none of zero."""
    return [{"sku": sku, "qty": qty} for sku, qty in sorted(units.items()) if qty > 0]


class BatchPicking:
    """Batches received, started in a zone, and the presses on the bins lit for them."""

    kind = KIND

    def __init__(self, state: FloorState, board: LightBoard, book: ExceptionBook, picking: Picking) -> None:
        self._state = state
        self._board = board
        self._book = book
        self._picking = picking
        picking.when_cancelled(self._order_cancelled)

    def handlers(self) -> Mapping[type[cmd.Command], Handler]:
        return {cmd.ReceiveBatch: self._receive, cmd.StartBatch: self.start}

    def rebuild(self) -> None:
        """Each order held by the floor knows its batch again (that link is not stored with the order)."""
        orders = self._state.orders
        for batch in self._state.batches.values():
            for entry in batch.orders:
                order = orders.get(entry.order_id)
                if order is not None:
                    order.batch = batch.batch_id

    # -- the light taker ----------------------------------------------------------------------------

    def claims(self) -> Iterable[tuple[str, str, bool, int | None]]:
        for batch in self._state.batches.values():
            if batch.status is not BatchStatus.PICKING:
                continue
            for pick in batch.picks.values():
                if pick.status is LineStatus.LIT:
                    yield pick.location, batch.batch_id, True, None
                elif pick.status is LineStatus.OPEN and pick.ticket is not None:
                    yield pick.location, batch.batch_id, False, pick.ticket

    def lit(self, code: str, task: str, outcome: Outcome) -> None:
        batch = self._state.batches[task]
        self._show(batch, batch.picks[code], outcome)

    def press(self, command: cmd.PressButton, code: str, task: str, now: float, outcome: Outcome) -> None:
        """A confirm or short on a bin lit for the batch: picked, short, or refused (plus/minus: nothing)."""
        if command.button in (cmd.Button.PLUS, cmd.Button.MINUS):
            return
        batch = self._state.batches[task]
        pick = batch.picks[code]
        requested = pick.qty - pick.picked
        try:
            shown = shown_quantity(command.display)
        except ValueError:
            self._reject(batch, pick, command.display, "unreadable_display", outcome)
            return
        if shown is None:
            shown = requested if command.button is cmd.Button.CONFIRM else 0
        if shown > requested:
            self._reject(batch, pick, command.display, "over_pick", outcome)
            return
        self._complete(batch, pick, shown, now, outcome)

    # -- batches -----------------------------------------------------------------------------------

    def _receive(self, command: cmd.ReceiveBatch, now: float) -> Outcome:
        state = self._state
        fingerprint = batch_fingerprint(command)
        existing = state.batches.get(command.batch_id)
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise conflict(f"batch {command.batch_id!r} was already received with a different body")
            return Outcome(reply={"created": False})
        orders = self._check_new_batch(command)
        batch = Batch(
            batch_id=command.batch_id,
            wall=command.wall,
            fingerprint=fingerprint,
            number=max((b.number for b in state.batches.values()), default=0) + 1,
            orders=[BatchOrder(order_id=order.order_id) for order in orders],
        )
        state.batches[batch.batch_id] = batch
        for order in orders:
            order.batch = batch.batch_id
        state.changes.batches.add(batch.batch_id)
        received = ev.BatchReceived(batch=batch.batch_id, wall=batch.wall, orders=list(command.order_ids))
        return Outcome(events=[received], reply={"created": True})

    def _check_new_batch(self, command: cmd.ReceiveBatch) -> list[Order]:
        """The batch's orders, or the refusal naming what is wrong, before anything changes."""
        state = self._state
        if not command.order_ids:
            raise invalid("a batch needs at least one order", field="order_ids")
        if len(set(command.order_ids)) != len(command.order_ids):
            raise invalid("an order appears twice in the batch", field="order_ids")
        wall = state.walls.get(command.wall)
        if wall is None:
            known = ", ".join(sorted(state.walls)) or "none"
            raise invalid(f"unknown wall {command.wall!r} (walls: {known})", field="wall")
        if len(command.order_ids) > len(wall.cubbies):
            raise invalid(
                f"wall {wall.id!r} has {len(wall.cubbies)} cubbies, too few for "
                f"{len(command.order_ids)} orders",
                field="order_ids",
            )
        orders = []
        for index, order_id in enumerate(command.order_ids):
            where = f"order_ids[{index}]"
            order = state.require_order(order_id, field=where)
            if order.batch is not None:
                raise conflict(f"order {order_id!r} is already in batch {order.batch!r}", field=where)
            if order.status is not OrderStatus.OPEN or order.runs:
                zones = ", ".join(sorted(order.runs))
                raise conflict(
                    f"order {order_id!r} is {order.status.value}"
                    + (f" (started in zone {zones})" if zones else ""),
                    field=where,
                )
            orders.append(order)
        return orders

    def require(self, batch_id: str) -> Batch:
        batch = self._state.batches.get(batch_id)
        if batch is None:
            raise not_found(f"no batch {batch_id!r}")
        return batch

    def start(self, command: cmd.StartBatch, now: float) -> Outcome:
        """Light each bin the batch needs in the zone once, with its summed quantity (or queue for it)."""
        state = self._state
        batch = self.require(command.batch_id)
        if command.zone not in state.zones:
            raise not_found(f"unknown zone {command.zone!r}", field="zone")
        if batch.status not in (BatchStatus.OPEN, BatchStatus.PICKING):
            raise conflict(f"batch {batch.batch_id!r} is {batch.status.value}")
        run = batch.runs.get(command.zone)
        if run is not None and not run.done:
            return Outcome(reply={"color": run.color, "already_started": True})
        wanted: dict[str, list[tuple[Order, OrderLine]]] = {}
        for order in self._active_orders(batch):
            for line in self._picking.lines_to_pick(order, command.zone):
                assert line.location is not None  # lines_to_pick places every line it returns
                wanted.setdefault(line.location, []).append((order, line))
        if not wanted:
            raise conflict(f"batch {batch.batch_id!r} has nothing left to pick in zone {command.zone!r}")
        picker = command.operator or f"batch:{batch.batch_id}"
        color = ""
        outcome = Outcome(reply={"already_started": False})
        for order in {order.order_id: order for shares in wanted.values() for order, _ in shares}.values():
            color = self._board.assign_color(command.zone, picker, order.order_id)
            order.runs[command.zone] = ZoneRun(
                zone=command.zone, picker=picker, operator=command.operator, tote=order.tote, color=color
            )
            order.status = OrderStatus.PICKING
            state.touch_order(order, all_lines=True)
        batch.runs[command.zone] = ZoneRun(
            zone=command.zone, picker=picker, operator=command.operator, tote=None, color=color
        )
        batch.status = BatchStatus.PICKING
        lit: list[str] = []
        queued: list[str] = []
        for code, shares in wanted.items():
            location = state.locations[code]
            pick = batch.picks[code] = BatchPick(
                location=code,
                sku=location.sku or shares[0][1].sku,
                qty=sum(line.qty - line.picked for _, line in shares),
            )
            pick.ticket = self._board.claim(code, KIND, batch.batch_id, outcome)
            if pick.ticket is None:
                self._show(batch, pick, outcome)
                lit.append(code)
            else:
                queued.append(code)
        state.changes.batches.add(batch.batch_id)
        outcome.reply["color"] = color
        outcome.events.insert(
            0,
            ev.BatchStarted(
                batch=batch.batch_id,
                zone=command.zone,
                operator=command.operator,
                color=color,
                locations_lit=lit,
                locations_queued=queued,
            ),
        )
        return outcome

    def _active_orders(self, batch: Batch) -> list[Order]:
        """The batch's orders still to pick, oldest first."""
        orders = self._state.orders
        return [
            orders[entry.order_id]
            for entry in batch.orders
            if entry.state is not SortState.CANCELLED
            and entry.order_id in orders
            and orders[entry.order_id].status is not OrderStatus.CANCELLED
        ]

    def _shares(self, batch: Batch, code: str) -> list[tuple[Order, OrderLine]]:
        """The open lines of the batch's orders at this bin, oldest order first."""
        return [
            (order, line)
            for order in self._active_orders(batch)
            for line in order.lines.values()
            if line.location == code and line.status is LineStatus.OPEN
        ]

    def _show(self, batch: Batch, pick: BatchPick, outcome: Outcome) -> None:
        location = self._state.locations[pick.location]
        pick.status = LineStatus.LIT
        pick.ticket = None
        self._state.changes.batches.add(batch.batch_id)
        if location.module is not None:
            self._board.set_light(
                location.module,
                outcome,
                color=batch.runs[location.zone].color,
                display=str(pick.qty - pick.picked),
            )

    def _reject(
        self, batch: Batch, pick: BatchPick, shown: str | None, reason: str, outcome: Outcome
    ) -> None:
        """The press does not count: the bin flashes the error colour with what it still asks for."""
        left = pick.qty - pick.picked
        outcome.events.append(
            ev.BatchPickRejected(
                batch=batch.batch_id,
                location=pick.location,
                sku=pick.sku,
                qty=left,
                shown=shown,
                reason=reason,
            )
        )
        module = self._state.locations[pick.location].module
        if module is not None:
            self._board.set_light(module, outcome, color=ERROR_COLOR, blink=Blink.FAST, display=str(left))

    # -- a bin picked ------------------------------------------------------------------------------

    def _complete(self, batch: Batch, pick: BatchPick, picked: int, now: float, outcome: Outcome) -> None:
        state = self._state
        location = state.locations[pick.location]
        shares = self._shares(batch, pick.location)
        short = pick.qty - pick.picked - picked
        # The short falls on the latest orders first: the oldest are the likeliest to be late already.
        missing: dict[tuple[str, str], int] = {}
        left = short
        for order, line in reversed(shares):
            missing[order.order_id, line.line_id] = min(left, line.qty - line.picked)
            left -= missing[order.order_id, line.line_id]
        pick.picked += picked
        pick.status = LineStatus.PICKED if short == 0 else LineStatus.SHORT
        expected = location.on_hand
        found_more = expected is not None and picked > expected
        if found_more:
            # As for an order's pick: the record rises to what the pick proves was there first.
            outcome.events.append(
                ev.InventoryAdjusted(
                    location=location.code,
                    sku=pick.sku,
                    on_hand=picked,
                    previous=expected,
                    reason="found_at_pick",
                )
            )
            location.on_hand = picked
        entries = {entry.order_id: entry for entry in batch.orders}
        for order, line in shares:
            self._pick_line(order, line, missing[order.order_id, line.line_id], entries[order.order_id])
            outcome.events.append(self._line_event(order, line, missing[order.order_id, line.line_id]))
        if expected is not None:
            state.changes.locations.add(location.code)
        if short:
            self._book.raise_(
                outcome,
                now,
                kind="inventory_short",
                message=f"bin {location.code} ({pick.sku}) was short: {picked} of {picked + short} "
                f"picked for batch {batch.batch_id}",
                location=location.code,
                detail={
                    "sku": pick.sku,
                    "requested": picked + short,
                    "picked": picked,
                    "batch": batch.batch_id,
                },
            )
        if found_more:
            self._book.raise_(
                outcome,
                now,
                kind="inventory_discrepancy",
                message=f"bin {location.code} ({pick.sku}) held more than recorded: {picked} picked for "
                f"batch {batch.batch_id}, {expected} expected",
                location=location.code,
                detail={"sku": pick.sku, "expected": expected, "picked": picked, "batch": batch.batch_id},
            )
        state.changes.batches.add(batch.batch_id)
        self._board.release(location.code, KIND, batch.batch_id, outcome)
        for order in {order.order_id: order for order, _ in shares}.values():
            self._picking.check_zone_done(order, order.runs[location.zone], now, outcome)
        self._check_picked(batch, outcome)

    def _pick_line(self, order: Order, line: OrderLine, missing: int, entry: BatchOrder) -> None:
        location = self._state.locations[line.location or ""]
        got = line.qty - line.picked - missing
        line.picked += got
        line.status = LineStatus.SHORT if missing else LineStatus.PICKED
        if location.on_hand is not None:
            location.on_hand -= got
        entry.picked[line.sku] = entry.picked.get(line.sku, 0) + got
        self._state.changes.lines.add((order.order_id, line.line_id))

    def _line_event(self, order: Order, line: OrderLine, missing: int) -> ev.Event:
        """The line's pick as order picking records it, with the bin's on-hand after its share."""
        location = self._state.locations[line.location or ""]
        operator = order.runs[location.zone].operator
        if not missing:
            return ev.PickConfirmed(
                order=order.order_id,
                line=line.line_id,
                sku=line.sku,
                location=location.code,
                zone=location.zone,
                qty=line.qty,
                picked=line.picked,
                operator=operator,
                on_hand=location.on_hand,
            )
        return ev.PickShorted(
            order=order.order_id,
            line=line.line_id,
            sku=line.sku,
            location=location.code,
            zone=location.zone,
            qty=line.qty,
            picked=line.picked,
            short=missing,
            operator=operator,
            on_hand=location.on_hand,
        )

    def _check_picked(self, batch: Batch, outcome: Outcome) -> None:
        """Every bin of every zone done: the batch is picked, ready for its wall."""
        for zone, run in batch.runs.items():
            if not run.done and all(
                p.status in DONE_LINE_STATUSES
                for p in batch.picks.values()
                if self._state.locations[p.location].zone == zone
            ):
                run.done = True
        if any(
            order.status in (OrderStatus.OPEN, OrderStatus.PICKING) for order in self._active_orders(batch)
        ):
            return
        batch.status = BatchStatus.PICKED
        self._state.changes.batches.add(batch.batch_id)
        outcome.events.append(
            ev.BatchPicked(
                batch=batch.batch_id,
                wall=batch.wall,
                picks=[
                    {
                        "location": p.location,
                        "sku": p.sku,
                        "qty": p.qty,
                        "picked": p.picked,
                        "status": p.status.value,
                    }
                    for p in batch.picks.values()
                ],
                orders=[
                    {"order": entry.order_id, "items": items_of(entry.picked)}
                    for entry in batch.orders
                    if entry.state is not SortState.CANCELLED
                ],
            )
        )
        if all(entry.state is SortState.CANCELLED for entry in batch.orders):
            # Every order was cancelled: nothing is left to sort.
            batch.status = BatchStatus.SORTED
            outcome.events.append(ev.BatchSorted(batch=batch.batch_id, wall=batch.wall, orders=[]))

    # -- an order of a batch cancelled while the batch is picked -----------------------------------

    def _order_cancelled(self, order: Order, now: float, outcome: Outcome) -> None:
        """Its share leaves every bin still to pick; what was picked for it is reported back.

        Once the batch is picked, the put wall (core/put_wall.py) follows the cancellation instead."""
        batch = self._state.batches.get(order.batch) if order.batch is not None else None
        if batch is None or batch.status not in (BatchStatus.OPEN, BatchStatus.PICKING):
            return
        entry = next(e for e in batch.orders if e.order_id == order.order_id)
        entry.state = SortState.CANCELLED
        for code, pick in batch.picks.items():
            if pick.status in DONE_LINE_STATUSES:
                continue
            share = sum(
                line.qty - line.picked
                for line in order.lines.values()
                if line.location == code and line.status is LineStatus.OPEN
            )
            if not share:
                continue
            pick.qty -= share
            if pick.qty > pick.picked:
                if pick.status is LineStatus.LIT:
                    self._show(batch, pick, outcome)
                continue
            # Nobody else wanted this bin: the batch lets go of its light (or its place in the queue).
            pick.status = LineStatus.PICKED
            pick.ticket = None
            self._board.release(code, KIND, batch.batch_id, outcome)
        self._state.changes.batches.add(batch.batch_id)
        outcome.events.append(
            ev.OrderSortCancelled(
                order=order.order_id,
                batch=batch.batch_id,
                wall=batch.wall,
                cubby=None,
                in_cubby=[],
                not_sorted=items_of(entry.picked),
            )
        )
        if batch.status is BatchStatus.PICKING:
            self._check_picked(batch, outcome)
