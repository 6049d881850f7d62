"""The put wall: a picked batch sorted into cubbies, one order per cubby, directed by light.

A wall is a rack of cubbies, each a PTL module that is no bin (the wall owns them on the light board as a
`ModuleTaker`), with a scanner whose reads come here as the scan flow of stations of kind "wall". The
first item scan of a picked batch starts its sort: each of its orders gets a free cubby. Each item scan
(a GTIN or a SKU) lights the cubby of the oldest order of the batch that still needs the item, showing
the units to put; a confirm there records the put. An item no order needs, one too many, or a confirm of
more than was sent is refused (`put.rejected`) and the wall's screen shows it in red. A cubby whose order
has every item picked for it blinks "done"; the packer's confirm there records `order.sorted` and frees
it. An order cancelled mid-sort makes its cubby blink until it is emptied, and its items are named.
"""

from __future__ import annotations

from collections.abc import Mapping

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.barcodes import DEFAULT_GRAMMAR, Barcode, CodeKind, ScanGrammar, interpret, normalize_gtin
from floorgate.core.batches import items_of
from floorgate.core.capability import Handler
from floorgate.core.device_registry import DeviceRegistry
from floorgate.core.errors import conflict, invalid
from floorgate.core.exception_book import ExceptionBook
from floorgate.core.instructions import ERROR_COLOR, PICKER_PALETTE, Blink
from floorgate.core.light_board import LightBoard
from floorgate.core.model import Batch, BatchOrder, BatchStatus, Order, SortState, Station, Wall
from floorgate.core.outcome import Outcome
from floorgate.core.picking import Picking, shown_quantity
from floorgate.core.state import FloorState

WALL_STATION = "wall"  # the station kind of a wall's scanner
PUT_COLOR = PICKER_PALETTE[0]
DONE_COLOR = "green"
DONE_DISPLAY = "done"
REMOVE_DISPLAY = "out"
SCREEN_SCAN_CHARS = 200
# Where an order of a batch holds its cubby.
IN_CUBBY = frozenset({SortState.FILLING, SortState.DONE, SortState.REMOVING})


class PutWall:
    """The walls of the site file, the sort of each picked batch, and the presses on their cubbies."""

    def __init__(
        self,
        state: FloorState,
        board: LightBoard,
        book: ExceptionBook,
        devices: DeviceRegistry,
        picking: Picking,
        grammar: ScanGrammar = DEFAULT_GRAMMAR,
    ) -> None:
        self._state = state
        self._board = board
        self._book = book
        self._devices = devices
        self.grammar = grammar
        self._wall_of: dict[str, str] = {}  # cubby module -> wall id
        self._sorting: dict[str, str] = {}  # wall id -> the batch sorting there
        picking.when_cancelled(self._order_cancelled)

    def handlers(self) -> Mapping[type[cmd.Command], Handler]:
        return {cmd.DefineWall: self._define}

    def rebuild(self) -> None:
        """Own the cubbies again, and know which batch each wall is sorting."""
        self._wall_of.clear()
        self._sorting.clear()
        for wall in self._state.walls.values():
            self._own(wall)
        for batch in self._state.batches.values():
            if batch.status is BatchStatus.SORTING:
                self._sorting[batch.wall] = batch.batch_id

    def sorting(self, wall: str) -> Batch | None:
        """The batch being sorted at the wall, if any."""
        batch_id = self._sorting.get(wall)
        return self._state.batches[batch_id] if batch_id is not None else None

    # -- walls -------------------------------------------------------------------------------------

    def _define(self, command: cmd.DefineWall, now: float) -> Outcome:
        state = self._state
        cubbies = command.cubbies
        self._check_wall(command)
        existing = state.walls.get(command.wall)
        if existing is not None and existing.cubbies == cubbies:
            return Outcome(reply={"created": False})
        outcome = Outcome(reply={"created": existing is None})
        if existing is None:
            wall = state.walls[command.wall] = Wall(id=command.wall, cubbies=cubbies)
        else:
            wall = existing
            wall.cubbies = cubbies
        if command.wall not in state.stations:
            state.stations[command.wall] = Station(id=command.wall, kind=WALL_STATION)
            state.changes.stations.add(command.wall)
        state.changes.walls.add(wall.id)
        self._own(wall)
        for module in cubbies:
            self._devices.register(module, "ptl", outcome)
        return outcome

    def _check_wall(self, command: cmd.DefineWall) -> None:
        state = self._state
        if not command.cubbies:
            raise invalid("a wall needs at least one cubby", field="cubbies")
        if len(set(command.cubbies)) != len(command.cubbies):
            raise invalid("a cubby appears twice", field="cubbies")
        station = state.stations.get(command.wall)
        if station is not None and station.kind != WALL_STATION:
            raise conflict(f"{command.wall!r} is already a {station.kind} station", field="wall")
        for module in command.cubbies:
            location = self._board.location_of_module(module)
            if location is not None:
                raise conflict(f"module {module!r} is the module of location {location!r}", field="cubbies")
            other = self._wall_of.get(module)
            if other is not None and other != command.wall:
                raise conflict(f"module {module!r} is a cubby of wall {other!r}", field="cubbies")
        for unsorted in state.batches.values():
            if (
                unsorted.wall == command.wall
                and unsorted.status is not BatchStatus.SORTED
                and len(unsorted.orders) > len(command.cubbies)
            ):
                raise conflict(
                    f"batch {unsorted.batch_id!r} of this wall has {len(unsorted.orders)} orders, more than "
                    f"{len(command.cubbies)} cubbies",
                    field="cubbies",
                )
        batch = self.sorting(command.wall)
        kept = set(command.cubbies)
        for entry in batch.orders if batch is not None else ():
            if entry.state in IN_CUBBY and entry.cubby not in kept:
                raise conflict(f"cubby {entry.cubby!r} holds order {entry.order_id!r}", field="cubbies")

    def _own(self, wall: Wall) -> None:
        self._board.own_modules(wall.cubbies, self)
        for module in wall.cubbies:
            self._wall_of[module] = wall.id

    # -- scans at the wall -------------------------------------------------------------------------

    def scan(self, station: Station, command: cmd.RecordScan, now: float) -> Outcome:
        """A scan at the wall: a badge signs the sorter in, an item lights the cubby it goes to."""
        outcome = Outcome()
        wall = self._state.walls[station.id]
        barcode = interpret(command.data, self.grammar)
        if barcode.kind is CodeKind.BADGE:
            if station.operator != barcode.value:
                previous, station.operator = station.operator, barcode.value
                self._state.changes.stations.add(station.id)
                outcome.events.append(
                    ev.OperatorSignedIn(station=station.id, operator=barcode.value, previous=previous)
                )
            return outcome
        sku = self._sku_of(barcode)
        batch = self.sorting(wall.id)
        if sku is None:
            self._refuse(wall, batch, "unknown_item", command.data, None, outcome)
            return outcome
        if batch is None:
            batch = self._next_batch(wall, sku)
            if batch is None:
                waiting = any(self._picked_batches(wall))
                reason = "not_needed" if waiting else "no_batch_sorting"
                self._refuse(wall, None, reason, command.data, sku, outcome)
                return outcome
            self._start_sort(wall, batch, outcome)
        entry = next(
            (
                e
                for e in batch.orders
                if e.state is SortState.FILLING
                and e.left(sku) > 0
                and (e.pending is None or e.pending[0] == sku)
            ),
            None,
        )
        if entry is None:
            self._refuse(wall, batch, self._why_not(batch, sku), command.data, sku, outcome)
            return outcome
        units = (entry.pending[1] if entry.pending is not None else 0) + 1
        entry.pending = (sku, units)
        cubby = entry.cubby or ""
        self._board.set_light(cubby, outcome, color=PUT_COLOR, display=str(units))
        self._screen(
            wall, scan=command.data, sku=sku, cubby=cubby, qty=units, message=f"{sku}: put in {cubby}"
        )
        self._state.changes.batches.add(batch.batch_id)
        return outcome

    def _sku_of(self, barcode: Barcode) -> str | None:
        items = self._state.items
        if barcode.gtin is not None:
            for item in items.values():
                if any(normalize_gtin(g) == barcode.gtin for g in item.gtins):
                    return item.sku
            return None
        if barcode.kind is CodeKind.TEXT and barcode.code in items:
            return barcode.code
        return None

    def _picked_batches(self, wall: Wall) -> list[Batch]:
        """The wall's batches picked and waiting for their sort, oldest first."""
        batches = [
            b for b in self._state.batches.values() if b.wall == wall.id and b.status is BatchStatus.PICKED
        ]
        return sorted(batches, key=lambda b: b.number)

    def _next_batch(self, wall: Wall, sku: str) -> Batch | None:
        """The oldest picked batch of the wall that has the item to sort."""
        for batch in self._picked_batches(wall):
            if any(e.left(sku) > 0 for e in batch.orders if e.state is SortState.WAITING):
                return batch
        return None

    def _start_sort(self, wall: Wall, batch: Batch, outcome: Outcome) -> None:
        """Each order of the batch gets a cubby, in the wall's order; one with nothing picked is done."""
        free = iter(wall.cubbies)
        assigned: dict[str, str] = {}
        for entry in batch.orders:
            if entry.state is not SortState.WAITING:
                continue
            entry.cubby = assigned[entry.order_id] = next(free)
            if any(entry.picked.values()):
                entry.state = SortState.FILLING
            else:
                self._done(entry, outcome)
        batch.status = BatchStatus.SORTING
        self._sorting[wall.id] = batch.batch_id
        self._state.changes.batches.add(batch.batch_id)
        outcome.events.append(ev.BatchSortStarted(batch=batch.batch_id, wall=wall.id, cubbies=assigned))

    def _why_not(self, batch: Batch, sku: str) -> str:
        entries = [e for e in batch.orders if e.state is SortState.FILLING]
        if any(e.left(sku) > 0 for e in entries):
            return "cubby_busy"  # its cubby still waits for the confirm of another item
        if any(e.picked.get(sku) for e in batch.orders):
            return "too_many"
        return "not_needed"

    def _refuse(
        self,
        wall: Wall,
        batch: Batch | None,
        reason: str,
        scan: str | None,
        sku: str | None,
        outcome: Outcome,
        *,
        entry: BatchOrder | None = None,
        shown: str | None = None,
    ) -> None:
        """Nothing is put: the wall's screen says why, in red."""
        outcome.events.append(
            ev.PutRejected(
                wall=wall.id,
                batch=batch.batch_id if batch is not None else None,
                reason=reason,
                sku=sku,
                scan=scan[:SCREEN_SCAN_CHARS] if scan is not None else None,
                cubby=entry.cubby if entry is not None else None,
                order=entry.order_id if entry is not None else None,
                shown=shown,
            )
        )
        what = sku or (scan[:40] if scan else "")
        self._screen(
            wall, scan=scan, sku=sku, cubby=None, qty=None, message=f"{what}: {REASONS[reason]}", error=True
        )

    def _screen(
        self,
        wall: Wall,
        *,
        scan: str | None,
        sku: str | None,
        cubby: str | None,
        qty: int | None,
        message: str,
        error: bool = False,
    ) -> None:
        # A scan is at most a barcode's length, but the screen (and its row) needs only its start.
        wall.scan = scan[:SCREEN_SCAN_CHARS] if scan is not None else None
        wall.sku, wall.cubby, wall.qty = sku, cubby, qty
        wall.message, wall.error = message, error
        self._state.changes.walls.add(wall.id)

    # -- the cubbies' buttons ----------------------------------------------------------------------

    def press_module(self, command: cmd.PressButton, now: float, outcome: Outcome) -> None:
        if command.button in (cmd.Button.PLUS, cmd.Button.MINUS):
            return
        wall = self._state.walls.get(self._wall_of.get(command.module, ""))
        batch = self.sorting(wall.id) if wall is not None else None
        entry = self._occupant(batch, command.module)
        if wall is None or batch is None or entry is None:
            self._not_lit(command, wall, None, now, outcome)
            return
        if entry.state is SortState.FILLING and entry.pending is None:
            self._not_lit(command, wall, entry, now, outcome)
            return
        if entry.state is SortState.FILLING:
            self._put(wall, batch, entry, command, outcome)
        elif entry.state is SortState.DONE:
            entry.state = SortState.SORTED
            self._board.set_light(command.module, outcome, color=None)
            outcome.events.append(
                ev.OrderSorted(
                    order=entry.order_id,
                    batch=batch.batch_id,
                    wall=wall.id,
                    cubby=command.module,
                    items=items_of(entry.put),
                )
            )
        else:  # emptied after its order was cancelled
            entry.state = SortState.CANCELLED
            self._board.set_light(command.module, outcome, color=None)
        self._state.changes.batches.add(batch.batch_id)
        self._check_sorted(wall, batch, outcome)

    @staticmethod
    def _occupant(batch: Batch | None, cubby: str) -> BatchOrder | None:
        if batch is None:
            return None
        return next((e for e in batch.orders if e.cubby == cubby and e.state in IN_CUBBY), None)

    def _put(
        self, wall: Wall, batch: Batch, entry: BatchOrder, command: cmd.PressButton, outcome: Outcome
    ) -> None:
        assert entry.pending is not None
        assert entry.cubby is not None
        sku, units = entry.pending
        try:
            shown = shown_quantity(command.display)
        except ValueError:
            shown = -1
        if shown is None:
            shown = units if command.button is cmd.Button.CONFIRM else 0
        if not 0 <= shown <= units:
            reason = "too_many" if shown > units else "unreadable_display"
            self._refuse(wall, batch, reason, None, sku, outcome, entry=entry, shown=command.display)
            self._board.set_light(
                entry.cubby, outcome, color=ERROR_COLOR, blink=Blink.FAST, display=str(units)
            )
            return
        entry.pending = None
        if shown:
            entry.put[sku] = entry.put.get(sku, 0) + shown
            outcome.events.append(
                ev.PutConfirmed(
                    order=entry.order_id,
                    batch=batch.batch_id,
                    wall=wall.id,
                    cubby=entry.cubby,
                    sku=sku,
                    qty=shown,
                )
            )
        # Units sent but not put are still to sort: the next scan of the item sends them again.
        message = f"{sku}: {shown} put in {entry.cubby}"
        self._screen(wall, scan=wall.scan, sku=sku, cubby=entry.cubby, qty=shown, message=message)
        if all(entry.put.get(s, 0) >= n for s, n in entry.picked.items()):
            self._done(entry, outcome)
        else:
            self._board.set_light(entry.cubby, outcome, color=None)

    def _done(self, entry: BatchOrder, outcome: Outcome) -> None:
        """Everything picked for the order is in its cubby: it blinks for the packer to take it out."""
        assert entry.cubby is not None
        entry.state = SortState.DONE
        self._board.set_light(entry.cubby, outcome, color=DONE_COLOR, blink=Blink.SLOW, display=DONE_DISPLAY)

    def _not_lit(
        self,
        command: cmd.PressButton,
        wall: Wall | None,
        entry: BatchOrder | None,
        now: float,
        outcome: Outcome,
    ) -> None:
        """A press on a cubby with nothing to confirm: someone must look at it; nothing changes."""
        holding = (
            f" (it holds order {entry.order_id}, with nothing sent to it)" if entry is not None else " (free)"
        )
        self._book.raise_(
            outcome,
            now,
            kind="cubby_not_lit",
            message=f"button {command.button.value} on cubby {command.module!r}"
            + (f" of wall {wall.id}" if wall is not None else "")
            + f" while it is not lit{holding}",
            order_id=entry.order_id if entry is not None else None,
            device=command.module,
            detail={"button": command.button.value, "display": command.display},
        )

    def _check_sorted(self, wall: Wall, batch: Batch, outcome: Outcome) -> None:
        if any(e.state not in (SortState.SORTED, SortState.CANCELLED) for e in batch.orders):
            return
        batch.status = BatchStatus.SORTED
        self._sorting.pop(wall.id, None)
        outcome.events.append(
            ev.BatchSorted(
                batch=batch.batch_id,
                wall=wall.id,
                orders=[e.order_id for e in batch.orders if e.state is SortState.SORTED],
            )
        )

    # -- an order of a batch cancelled once the batch is picked ------------------------------------

    def _order_cancelled(self, order: Order, now: float, outcome: Outcome) -> None:
        batch = self._state.batches.get(order.batch) if order.batch is not None else None
        if batch is None or batch.status not in (BatchStatus.PICKED, BatchStatus.SORTING):
            return
        entry = next(e for e in batch.orders if e.order_id == order.order_id)
        if entry.state in (SortState.SORTED, SortState.CANCELLED, SortState.REMOVING):
            return
        in_cubby = dict(entry.put)
        not_sorted = {sku: n - entry.put.get(sku, 0) for sku, n in entry.picked.items()}
        entry.pending = None
        if entry.cubby is not None and any(in_cubby.values()):
            entry.state = SortState.REMOVING
            self._board.set_light(
                entry.cubby, outcome, color=ERROR_COLOR, blink=Blink.FAST, display=REMOVE_DISPLAY
            )
        else:
            entry.state = SortState.CANCELLED
            if entry.cubby is not None:
                self._board.set_light(entry.cubby, outcome, color=None)
        self._state.changes.batches.add(batch.batch_id)
        outcome.events.append(
            ev.OrderSortCancelled(
                order=order.order_id,
                batch=batch.batch_id,
                wall=batch.wall,
                cubby=entry.cubby if entry.state is SortState.REMOVING else None,
                in_cubby=items_of(in_cubby),
                not_sorted=items_of(not_sorted),
            )
        )
        back = ", ".join(f"{i['qty']} x {i['sku']}" for i in items_of(entry.picked)) or "nothing"
        where = (
            f"take them out of cubby {entry.cubby}"
            if entry.state is SortState.REMOVING
            else "none is in a cubby"
        )
        self._book.raise_(
            outcome,
            now,
            kind="sort_cancelled",
            message=f"order {order.order_id} of batch {batch.batch_id} was cancelled at wall {batch.wall}: "
            f"its items go back to stock ({back}); {where}",
            order_id=order.order_id,
            device=entry.cubby,
            detail={
                "batch": batch.batch_id,
                "in_cubby": items_of(in_cubby),
                "not_sorted": items_of(not_sorted),
            },
        )
        wall = self._state.walls.get(batch.wall)
        if batch.status is BatchStatus.SORTING and wall is not None:
            self._check_sorted(wall, batch, outcome)
        elif all(e.state is SortState.CANCELLED for e in batch.orders):
            batch.status = BatchStatus.SORTED
            outcome.events.append(ev.BatchSorted(batch=batch.batch_id, wall=batch.wall, orders=[]))


REASONS = {
    "unknown_item": "not an item of this site",
    "no_batch_sorting": "no batch is picked for this wall",
    "not_needed": "no order of the batch needs it",
    "too_many": "more than the batch's orders need",
    "cubby_busy": "confirm the lit cubby first",
    "unreadable_display": "the cubby's display cannot be read",
}
