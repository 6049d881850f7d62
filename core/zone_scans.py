"""Scans at a zone's start station: badges sign in, order and tote scans start work, item scans arm picks.

The rules of the scan grammar (docs/scanning.md) as the floor applies them: the scan flow the station
scans route a zone station's scans to. It starts and rejects picks through picking, its collaborator, so a
scan does exactly what the same request through the API would; problems go in the exception book.
"""

from __future__ import annotations

from dataclasses import dataclass

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.barcodes import DEFAULT_GRAMMAR, Barcode, CodeKind, ScanGrammar, interpret, normalize_gtin
from floorgate.core.capability import Handler
from floorgate.core.errors import CommandRejected
from floorgate.core.exception_book import ExceptionBook
from floorgate.core.instructions import ERROR_COLOR, Blink
from floorgate.core.light_board import ACTIVE_ORDER, LightBoard
from floorgate.core.model import ItemScan, Location, Order, OrderLine, Station
from floorgate.core.outcome import Outcome
from floorgate.core.picking import Picking
from floorgate.core.state import FloorState


@dataclass(frozen=True, slots=True)
class _LitLine:
    order: Order
    line: OrderLine
    location: Location


class ZoneScans:
    """The zone start station's scan flow. `scan` never raises on a scan: problems are exceptions."""

    def __init__(
        self,
        state: FloorState,
        board: LightBoard,
        book: ExceptionBook,
        picking: Picking,
        grammar: ScanGrammar = DEFAULT_GRAMMAR,
        start_batch: Handler | None = None,
    ) -> None:
        self._state = state
        self._board = board
        self._book = book
        self._picking = picking
        # Starts a batch (core/batches.py) whose label is scanned at the station.
        self._start_batches = start_batch
        self.grammar = grammar

    # -- the flow ----------------------------------------------------------------------------------

    def scan(self, station: Station, command: cmd.RecordScan, now: float) -> Outcome:
        """A scan at a zone's start station."""
        outcome = Outcome()
        self._scan(station, command, now, outcome)
        return outcome

    def _scan(self, station: Station, command: cmd.RecordScan, now: float, outcome: Outcome) -> None:
        barcode = interpret(command.data, self.grammar)
        device = command.scanner or station.id
        if station.zone is None or station.zone not in self._state.zones:
            self._unexpected(outcome, now, station, command, device, "a zone station without a zone")
            return
        if barcode.kind is CodeKind.BADGE:
            self._sign_in(station, barcode.value, outcome)
            return
        if barcode.kind is CodeKind.TOTE:
            order = self._order_with_tote(barcode.value)
            if order is None:
                self._unexpected(
                    outcome,
                    now,
                    station,
                    command,
                    device,
                    f"no open order is bound to tote {barcode.value!r}",
                )
                return
            self._start(station, order, barcode.value, command, device, now, outcome)
            return
        if barcode.kind is CodeKind.ORDER:
            named = self._state.orders.get(barcode.value)
            if named is None:
                self._unexpected(outcome, now, station, command, device, f"no order {barcode.value!r}")
                return
            self._start(station, named, None, command, device, now, outcome)
            return
        # Without a prefix, a code that names an order (or the tote of an open one) starts it: that is
        # what the order paperwork and tote labels carry. Only then is it read as an item or a label.
        order = self._state.orders.get(barcode.code)
        if order is not None:
            self._start(station, order, None, command, device, now, outcome)
            return
        by_tote = self._order_with_tote(barcode.code)
        if by_tote is not None:
            self._start(station, by_tote, barcode.code, command, device, now, outcome)
            return
        if barcode.code in self._state.batches and self._start_batches is not None:
            self._start_batch(station, barcode.code, command, device, now, outcome)
            return
        if barcode.kind is CodeKind.ITEM and barcode.gtin is not None:
            self._item(station, station.zone, barcode, command, device, now, outcome)
            return
        if barcode.kind is CodeKind.INVALID:
            self._book.raise_(
                outcome,
                now,
                kind="unreadable_scan",
                message=f"scan {command.data!r} at station {station.id!r} cannot be read: {barcode.problem}",
                device=device,
                detail={"station": station.id, "data": command.data, "problem": barcode.problem},
            )
            return
        what = (
            "a shipping container label (SSCC)" if barcode.kind is CodeKind.CONTAINER else "no order or tote"
        )
        self._unexpected(outcome, now, station, command, device, f"it is {what}")

    # -- badges and starting work ------------------------------------------------------------------

    def _sign_in(self, station: Station, operator: str, outcome: Outcome) -> None:
        previous = station.operator
        if previous == operator:
            return
        station.operator = operator
        self._state.changes.stations.add(station.id)
        outcome.events.append(ev.OperatorSignedIn(station=station.id, operator=operator, previous=previous))

    def _order_with_tote(self, tote: str) -> Order | None:
        # Tote labels are reused: only an order still to be picked can be the one meant.
        bound = [o for o in self._state.orders.values() if o.tote == tote and o.status in ACTIVE_ORDER]
        if len(bound) != 1:
            return None
        return bound[0]

    def _start(
        self,
        station: Station,
        order: Order,
        tote: str | None,
        command: cmd.RecordScan,
        device: str,
        now: float,
        outcome: Outcome,
    ) -> None:
        assert station.zone is not None  # checked by scan()
        start = cmd.StartOrder(
            order_id=order.order_id, zone=station.zone, operator=station.operator, tote=tote
        )
        try:
            started = self._picking.start(start, now)
        except CommandRejected as rejected:
            self._start_refused(
                station, f"order {order.order_id!r}", order.order_id, rejected, command, device, now, outcome
            )
            return
        outcome.events.extend(started.events)
        outcome.instructions.extend(started.instructions)
        outcome.reply.update(started.reply)

    def _start_batch(
        self,
        station: Station,
        batch_id: str,
        command: cmd.RecordScan,
        device: str,
        now: float,
        outcome: Outcome,
    ) -> None:
        """The batch's label at a zone's start station: the same as POST /batches/{id}/start there."""
        assert station.zone is not None  # checked by scan()
        assert self._start_batches is not None  # checked by scan()
        start = cmd.StartBatch(batch_id=batch_id, zone=station.zone, operator=station.operator)
        try:
            started = self._start_batches(start, now)
        except CommandRejected as rejected:
            self._start_refused(station, f"batch {batch_id!r}", None, rejected, command, device, now, outcome)
            return
        outcome.events.extend(started.events)
        outcome.instructions.extend(started.instructions)
        outcome.reply.update(started.reply)

    def _start_refused(
        self,
        station: Station,
        what: str,
        order_id: str | None,
        rejected: CommandRejected,
        command: cmd.RecordScan,
        device: str,
        now: float,
        outcome: Outcome,
    ) -> None:
        self._book.raise_(
            outcome,
            now,
            kind="scan_rejected",
            message=f"scan {command.data!r} at station {station.id!r} cannot start {what}: {rejected.message}",
            order_id=order_id,
            device=device,
            detail={"station": station.id, "data": command.data, "reason": rejected.kind.value},
        )

    # -- item scans --------------------------------------------------------------------------------

    def _item(
        self,
        station: Station,
        zone: str,
        barcode: Barcode,
        command: cmd.RecordScan,
        device: str,
        now: float,
        outcome: Outcome,
    ) -> None:
        assert barcode.gtin is not None
        targets = self._lit_lines(zone, station.operator)
        matching = [t for t in targets if self._sku_has_gtin(t.line.sku, barcode.gtin)]
        if matching:
            # Two lit bins of one SKU: the first not yet armed is the one being picked now.
            chosen = next((t for t in matching if t.line.scan is None), matching[0])
            self._arm(station, chosen, barcode, outcome)
            return
        if targets and self._state.zones[zone].scan_verify:
            # The scan cannot be tied to one bin, so every bin the picker has lit says "not this item".
            for target in targets:
                self._picking.reject_pick(target.order, target.line, None, "wrong_item", outcome)
            return
        sku = self._sku_of_gtin(barcode.gtin)
        self._unexpected(
            outcome,
            now,
            station,
            command,
            device,
            f"item {barcode.gtin} ({sku or 'unknown GTIN'}) is not lit for anyone in zone {zone!r}",
        )

    def _arm(self, station: Station, target: _LitLine, barcode: Barcode, outcome: Outcome) -> None:
        assert barcode.gtin is not None
        order, line, location = target.order, target.line, target.location
        line.scan = ItemScan(
            gtin=barcode.gtin,
            lot=barcode.lot,
            serial=barcode.serial,
            expiry=barcode.expiry,
            station=station.id,
        )
        self._state.changes.lines.add((order.order_id, line.line_id))
        run = order.runs[location.zone]
        outcome.events.append(
            ev.ItemScanned(
                order=order.order_id,
                line=line.line_id,
                sku=line.sku,
                location=location.code,
                zone=location.zone,
                gtin=barcode.gtin,
                lot=barcode.lot,
                serial=barcode.serial,
                expiry=barcode.expiry,
                operator=run.operator,
                station=station.id,
            )
        )
        light = self._state.lights.get(location.module) if location.module is not None else None
        if location.module is not None and light is not None and light.color == ERROR_COLOR:
            # The right item after a wrong one: back to the picker's colour, so red means "wrong" again.
            self._board.set_light(
                location.module,
                outcome,
                color=run.color,
                blink=Blink.NONE,
                display=str(line.qty - line.picked),
                holder=(order.order_id, line.line_id),
            )

    def _lit_lines(self, zone: str, operator: str | None) -> list[_LitLine]:
        """Lines lit in the zone; those of the station's operator when they have any."""
        lit: list[_LitLine] = []
        for code, order_id, line_id in self._board.held():
            location = self._state.locations[code]
            if location.zone != zone:
                continue
            order = self._state.orders[order_id]
            lit.append(_LitLine(order=order, line=order.lines[line_id], location=location))
        lit.sort(key=lambda t: (t.order.order_id, t.location.code))
        if operator is not None:
            own = [t for t in lit if t.order.runs[zone].operator == operator]
            if own:
                return own
        return lit

    def _sku_has_gtin(self, sku: str, gtin: str) -> bool:
        item = self._state.items.get(sku)
        return item is not None and any(normalize_gtin(g) == gtin for g in item.gtins)

    def _sku_of_gtin(self, gtin: str) -> str | None:
        for item in self._state.items.values():
            if any(normalize_gtin(g) == gtin for g in item.gtins):
                return item.sku
        return None

    def _unexpected(
        self,
        outcome: Outcome,
        now: float,
        station: Station,
        command: cmd.RecordScan,
        device: str,
        why: str,
    ) -> None:
        self._book.raise_(
            outcome,
            now,
            kind="unexpected_scan",
            message=f"scan {command.data!r} at station {station.id!r} was not expected: {why}",
            device=device,
            detail={"station": station.id, "data": command.data},
        )
