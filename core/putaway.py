"""Putaway: stock put into bins, directed by their lights.

A task comes from the API (`ReceivePutaway`) or from an item scan at a zone station whose mode is
"putaway". Its bin is the one named, or else the bin already holding the sku (in the zone, if one is
named): the one with the least on hand. The bin's light is a claim on the light board, so a bin lit for a
pick or a count keeps that light and the putaway waits its turn. The stocker confirms on the module: the
value it shows is what was put, added to the bin's on-hand (`putaway.confirmed`, `inventory.adjusted`
with reason `putaway`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.barcodes import DEFAULT_GRAMMAR, CodeKind, interpret, normalize_gtin
from floorgate.core.bin_tasks import (
    PUTAWAY_COLOR,
    VALUE_BUTTONS,
    check_quantity,
    refuse_value,
    reported_quantity,
)
from floorgate.core.capability import Handler, ScanFlow
from floorgate.core.errors import conflict, invalid, not_found
from floorgate.core.exception_book import ExceptionBook
from floorgate.core.instructions import Blink
from floorgate.core.light_board import LightBoard
from floorgate.core.model import Location, Putaway, PutawayStatus, Station
from floorgate.core.outcome import Outcome
from floorgate.core.state import FloorState

OPEN_PUTAWAY = frozenset({PutawayStatus.QUEUED, PutawayStatus.LIT})


def putaway_fingerprint(command: cmd.ReceivePutaway) -> str:
    """Identity of a putaway's content, so an identical replay is told apart from a conflicting one."""
    body = [command.sku, command.qty, command.location, command.zone]
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()


class Putaways:
    """Putaway tasks: a LightTaker of kind "putaway" and the scan flow of putaway stations."""

    kind = "putaway"

    def __init__(self, state: FloorState, board: LightBoard, book: ExceptionBook, badges: ScanFlow) -> None:
        self._state = state
        self._board = board
        self._book = book
        # A badge at a putaway station signs in as at any zone station (the zone scans' flow).
        self._badges = badges

    def handlers(self) -> Mapping[type[cmd.Command], Handler]:
        return {cmd.ReceivePutaway: self._receive, cmd.CancelPutaway: self._cancel}

    def rebuild(self) -> None:
        """Nothing to derive: the claims are read back through `claims`."""

    # -- the light board's taker -------------------------------------------------------------------

    def claims(self) -> Iterable[tuple[str, str, bool, int | None]]:
        for task in self._state.putaways.values():
            if task.status in OPEN_PUTAWAY:
                yield task.location, task.task_id, task.status is PutawayStatus.LIT, task.ticket

    def lit(self, code: str, task: str, outcome: Outcome) -> None:
        putaway = self._state.putaways[task]
        putaway.status = PutawayStatus.LIT
        putaway.ticket = None
        self._state.changes.putaways.add(task)
        self._show(putaway, outcome)

    def press(self, command: cmd.PressButton, code: str, task: str, now: float, outcome: Outcome) -> None:
        if command.button not in VALUE_BUTTONS:
            return  # plus and minus: the module edits its own display; the value at confirm counts
        putaway = self._state.putaways[task]
        try:
            put = reported_quantity(command.display)
        except ValueError:
            refuse_value(
                self._board,
                self._book,
                outcome,
                now,
                command=command,
                code=code,
                kind="putaway_rejected",
                what=f"putaway {task} into bin {code}",
                shows=str(putaway.qty),
                detail={"task_id": task, "sku": putaway.sku},
            )
            return
        self._confirm(putaway, put, now, outcome)

    # -- commands ----------------------------------------------------------------------------------

    def _receive(self, command: cmd.ReceivePutaway, now: float) -> Outcome:
        existing = self._state.putaways.get(command.task_id)
        fingerprint = putaway_fingerprint(command)
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise conflict(f"putaway {command.task_id!r} was already received with a different body")
            return Outcome(reply={"created": False})
        problem = check_quantity(command.qty)
        if problem is not None:
            raise invalid(problem, field="qty")
        location = self._destination(command)
        outcome = Outcome(reply={"created": True})
        self._open(
            Putaway(
                task_id=command.task_id,
                sku=command.sku,
                qty=command.qty,
                location=location.code,
                fingerprint=fingerprint,
                created_at=now,
            ),
            outcome,
        )
        return outcome

    def _destination(self, command: cmd.ReceivePutaway) -> Location:
        """The bin a putaway from the API goes to; refused, naming the field, when there is none."""
        state = self._state
        known_sku = command.sku in state.items or any(
            loc.sku == command.sku for loc in state.locations.values()
        )
        if not known_sku:
            raise invalid(f"unknown sku {command.sku!r}: no item and no bin has it", field="sku")
        if command.zone is not None and command.zone not in state.zones:
            raise invalid(f"unknown zone {command.zone!r}", field="zone")
        if command.location is None:
            location = self.bin_for(command.sku, command.zone)
            if location is None:
                where = f" in zone {command.zone!r}" if command.zone is not None else ""
                raise invalid(
                    f"no bin with a module holds sku {command.sku!r}{where}: name a location", field="sku"
                )
            return location
        location = state.locations.get(command.location)
        if location is None:
            raise invalid(f"unknown location {command.location!r}", field="location")
        if command.zone is not None and location.zone != command.zone:
            raise invalid(f"location {location.code!r} is in zone {location.zone!r}", field="location")
        if location.module is None:
            raise invalid(f"location {location.code!r} has no module to light", field="location")
        if location.sku is not None and location.sku != command.sku:
            raise invalid(
                f"location {location.code!r} holds {location.sku!r}, not {command.sku!r}", field="location"
            )
        return location

    def bin_for(self, sku: str, zone: str | None) -> Location | None:
        """The bin already holding `sku` (in `zone`, if given) that has a module: the least full one."""
        candidates = [
            loc
            for loc in self._state.locations.values()
            if loc.sku == sku and loc.module is not None and zone in (None, loc.zone)
        ]
        candidates.sort(key=lambda loc: (loc.on_hand or 0, loc.code))
        return candidates[0] if candidates else None

    def _cancel(self, command: cmd.CancelPutaway, now: float) -> Outcome:
        putaway = self._state.putaways.get(command.task_id)
        if putaway is None:
            raise not_found(f"no putaway {command.task_id!r}")
        if putaway.status is PutawayStatus.CANCELLED:
            return Outcome(reply={"already_cancelled": True})
        if putaway.status is PutawayStatus.PUT:
            raise conflict(f"putaway {putaway.task_id!r} was put already and cannot be cancelled")
        previous = putaway.status
        outcome = Outcome(reply={"already_cancelled": False})
        self._board.release(putaway.location, self.kind, putaway.task_id, outcome)
        putaway.status = PutawayStatus.CANCELLED
        putaway.ticket = None
        putaway.finished_at = now
        self._state.changes.putaways.add(putaway.task_id)
        outcome.events.insert(
            0,
            ev.PutawayCancelled(
                task_id=putaway.task_id, location=putaway.location, previous_status=previous.value
            ),
        )
        return outcome

    # -- the scan flow of a putaway station --------------------------------------------------------

    def scan(self, station: Station, command: cmd.RecordScan, now: float) -> Outcome:
        """An item scan at a zone station in putaway mode puts its quantity (GS1 AI 30, else 1) away."""
        barcode = interpret(command.data, DEFAULT_GRAMMAR)
        if barcode.kind is CodeKind.BADGE:
            return self._badges(station, command, now)
        outcome = Outcome()
        zone = station.zone
        if zone is None or zone not in self._state.zones:
            self._unexpected(outcome, now, station, command, "a putaway station without a zone")
            return outcome
        if barcode.kind is not CodeKind.ITEM or barcode.gtin is None:
            self._unexpected(outcome, now, station, command, "a putaway station takes item scans")
            return outcome
        sku = self._sku_of_gtin(barcode.gtin)
        if sku is None:
            self._unexpected(outcome, now, station, command, f"no item has GTIN {barcode.gtin}")
            return outcome
        qty = barcode.count or 1
        location = self.bin_for(sku, zone)
        if location is None:
            self._book.raise_(
                outcome,
                now,
                kind="putaway_no_bin",
                message=f"scan {command.data!r} at station {station.id!r}: no bin in zone {zone!r} holds "
                f"{sku}, so {qty} cannot be put away there",
                device=command.scanner or station.id,
                detail={"station": station.id, "data": command.data, "sku": sku, "qty": qty},
            )
            return outcome
        growing = self._open_scanned(station, sku, location.code)
        if growing is not None and check_quantity(growing.qty + qty) is None:
            # Another unit of the same item for the same bin: the lit (or waiting) task asks for more.
            growing.qty += qty
            self._state.changes.putaways.add(growing.task_id)
            if growing.status is PutawayStatus.LIT:
                self._show(growing, outcome)
            outcome.reply.update(task_id=growing.task_id, qty=growing.qty)
            return outcome
        task_id = self._next_task_id(station.id)
        putaway = Putaway(
            task_id=task_id,
            sku=sku,
            qty=qty,
            location=location.code,
            fingerprint="",
            created_at=now,
            station=station.id,
            operator=station.operator,
        )
        self._open(putaway, outcome)
        outcome.reply.update(task_id=task_id, qty=qty)
        return outcome

    def _open_scanned(self, station: Station, sku: str, code: str) -> Putaway | None:
        for task in self._state.putaways.values():
            if (
                task.station == station.id
                and task.status in OPEN_PUTAWAY
                and (task.sku, task.location) == (sku, code)
            ):
                return task
        return None

    def _next_task_id(self, station: str) -> str:
        """`{station}-{n}`: numbered on from the station's tasks the floor holds."""
        prefix = f"{station}-"
        taken = [
            int(task_id[len(prefix) :])
            for task_id in self._state.putaways
            if task_id.startswith(prefix) and task_id[len(prefix) :].isdigit()
        ]
        return f"{prefix}{max(taken, default=0) + 1}"

    def _sku_of_gtin(self, gtin: str) -> str | None:
        for item in self._state.items.values():
            if any(normalize_gtin(g) == gtin for g in item.gtins):
                return item.sku
        return None

    def _unexpected(
        self, outcome: Outcome, now: float, station: Station, command: cmd.RecordScan, why: str
    ) -> None:
        self._book.raise_(
            outcome,
            now,
            kind="unexpected_scan",
            message=f"scan {command.data!r} at putaway station {station.id!r} was not expected: {why}",
            device=command.scanner or station.id,
            detail={"station": station.id, "data": command.data},
        )

    # -- lights and the confirm --------------------------------------------------------------------

    def _open(self, putaway: Putaway, outcome: Outcome) -> None:
        """Hold the new task and claim its bin's light: lit now, or queued behind the work holding it."""
        state = self._state
        state.putaways[putaway.task_id] = putaway
        state.changes.putaways.add(putaway.task_id)
        ticket = self._board.claim(putaway.location, self.kind, putaway.task_id, outcome)
        if ticket is None:
            putaway.status = PutawayStatus.LIT
            self._show(putaway, outcome)
        else:
            putaway.ticket = ticket
        outcome.events.insert(
            0,
            ev.PutawayReceived(
                task_id=putaway.task_id,
                sku=putaway.sku,
                qty=putaway.qty,
                location=putaway.location,
                zone=state.locations[putaway.location].zone,
                station=putaway.station,
                lit=ticket is None,
            ),
        )

    def _show(self, putaway: Putaway, outcome: Outcome) -> None:
        module = self._state.locations[putaway.location].module
        if module is not None:
            self._board.set_light(
                module, outcome, color=PUTAWAY_COLOR, blink=Blink.NONE, display=str(putaway.qty)
            )

    def _confirm(self, putaway: Putaway, put: int, now: float, outcome: Outcome) -> None:
        state = self._state
        location = state.locations[putaway.location]
        putaway.put = put
        putaway.status = PutawayStatus.PUT
        putaway.finished_at = now
        state.changes.putaways.add(putaway.task_id)
        if location.sku is None:
            location.sku = putaway.sku
            state.changes.locations.add(location.code)
        previous = location.on_hand
        # A bin whose on-hand was never recorded stays unrecorded: adding to an unknown is no number (a
        # count records it).
        if previous is not None and put > 0:
            location.on_hand = previous + put
            state.changes.locations.add(location.code)
        outcome.events.append(
            ev.PutawayConfirmed(
                task_id=putaway.task_id,
                sku=putaway.sku,
                location=location.code,
                zone=location.zone,
                qty=putaway.qty,
                put=put,
                on_hand=location.on_hand,
                station=putaway.station,
                operator=putaway.operator,
            )
        )
        if previous is not None and location.on_hand != previous:
            outcome.events.append(
                ev.InventoryAdjusted(
                    location=location.code,
                    sku=putaway.sku,
                    on_hand=location.on_hand or 0,
                    previous=previous,
                    reason="putaway",
                )
            )
        self._board.release(location.code, self.kind, putaway.task_id, outcome)
