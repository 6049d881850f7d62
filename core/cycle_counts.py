"""Cycle counts: bins counted under their lights, records corrected, large differences raised.

A count (`StartCount`) covers the bins of a zone that have a module, or the locations named. Each bin's
light is a claim on the light board: a bin lit for a pick keeps it until that pick is done and the count
waits, and a pick that wants a bin being counted waits for the count, so nothing leaves a bin while it is
counted. A blind count shows 0, an open one the record. The counter sets the value with +/- and confirms:
`count.recorded` with the record it was compared with; a difference sets the record
(`inventory.adjusted`, reason `cycle_count`), and one above the count's `variance_exception_pct` also
raises a `count_variance` exception. The last bin gives `count.completed`. A supervisor may ask for
counted bins again (`RecountBins`), and a count may be cancelled, which hands its lights on.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.bin_tasks import COUNT_BLINK, COUNT_COLOR, VALUE_BUTTONS, refuse_value, reported_quantity
from floorgate.core.capability import Handler
from floorgate.core.errors import conflict, invalid, not_found
from floorgate.core.exception_book import ExceptionBook
from floorgate.core.light_board import LightBoard
from floorgate.core.model import CountBin, CountBinStatus, CountStatus, CycleCount, Location
from floorgate.core.outcome import Outcome
from floorgate.core.state import FloorState

OPEN_BIN = frozenset({CountBinStatus.QUEUED, CountBinStatus.LIT})


def count_fingerprint(command: cmd.StartCount) -> str:
    """Identity of a count's request, so an identical replay is told apart from a conflicting one."""
    body = [command.zone, list(command.locations), command.blind]
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()


def variance_pct(expected: int, counted: int) -> float:
    """How far a count is from the record, in percent of the record (infinite when nothing was expected)."""
    if counted == expected:
        return 0.0
    return math.inf if expected == 0 else abs(counted - expected) * 100.0 / expected


class CycleCounts:
    """Cycle counts: a LightTaker of kind "count"."""

    kind = "count"

    def __init__(self, state: FloorState, board: LightBoard, book: ExceptionBook) -> None:
        self._state = state
        self._board = board
        self._book = book

    def handlers(self) -> Mapping[type[cmd.Command], Handler]:
        return {
            cmd.DefineCountPolicy: self._define_policy,
            cmd.StartCount: self._start,
            cmd.RecountBins: self._recount,
            cmd.CancelCount: self._cancel,
        }

    def rebuild(self) -> None:
        """Nothing to derive: the claims are read back through `claims`."""

    # -- the light board's taker -------------------------------------------------------------------

    def claims(self) -> Iterable[tuple[str, str, bool, int | None]]:
        for count in self._state.counts.values():
            if count.status is not CountStatus.COUNTING:
                continue
            for entry in count.bins.values():
                if entry.status in OPEN_BIN:
                    yield entry.location, count.count_id, entry.status is CountBinStatus.LIT, entry.ticket

    def lit(self, code: str, task: str, outcome: Outcome) -> None:
        count = self._state.counts[task]
        entry = count.bins[code]
        entry.status = CountBinStatus.LIT
        entry.ticket = None
        self._state.changes.count_bins.add((task, code))
        self._show(count, entry, outcome)

    def press(self, command: cmd.PressButton, code: str, task: str, now: float, outcome: Outcome) -> None:
        if command.button not in VALUE_BUTTONS:
            return  # plus and minus: the module edits its own display; the value at confirm counts
        count = self._state.counts[task]
        try:
            counted = reported_quantity(command.display)
        except ValueError:
            refuse_value(
                self._board,
                self._book,
                outcome,
                now,
                command=command,
                code=code,
                kind="count_rejected",
                what=f"count {task} of bin {code}",
                shows=self._shown(count, self._state.locations[code]),
                detail={"count_id": task},
            )
            return
        self._record(count, count.bins[code], counted, now, outcome)

    # -- commands ----------------------------------------------------------------------------------

    def _define_policy(self, command: cmd.DefineCountPolicy, now: float) -> Outcome:
        pct = command.variance_exception_pct
        if not 0 <= pct < math.inf:
            raise invalid(
                "variance_exception_pct must be a finite number >= 0", field="variance_exception_pct"
            )
        if pct != self._state.variance_exception_pct:
            self._state.variance_exception_pct = pct
            self._state.changes.count_policy.add("site")
        return Outcome()

    def _start(self, command: cmd.StartCount, now: float) -> Outcome:
        state = self._state
        fingerprint = count_fingerprint(command)
        existing = state.counts.get(command.count_id)
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise conflict(f"count {command.count_id!r} was already started with a different body")
            return Outcome(reply={"created": False})
        locations = self._bins_to_count(command)
        count = CycleCount(
            count_id=command.count_id,
            blind=command.blind,
            zone=command.zone,
            bins={loc.code: CountBin(location=loc.code, sku=loc.sku) for loc in locations},
            fingerprint=fingerprint,
            started_at=now,
            variance_exception_pct=state.variance_exception_pct,
            by=command.by,
        )
        state.counts[count.count_id] = count
        state.changes.counts.add(count.count_id)
        outcome = Outcome(reply={"created": True})
        lit, queued = self._claim(count, list(count.bins.values()), outcome)
        outcome.events.insert(
            0,
            ev.CountStarted(
                count_id=count.count_id,
                zone=count.zone,
                blind=count.blind,
                locations_lit=lit,
                locations_queued=queued,
                by=command.by,
            ),
        )
        return outcome

    def _bins_to_count(self, command: cmd.StartCount) -> list[Location]:
        """The locations a new count covers; refused, naming the field, when one cannot be counted."""
        state = self._state
        if (command.zone is None) == (not command.locations):
            raise invalid("give either a zone or a list of locations to count", field="locations")
        if command.zone is not None:
            if command.zone not in state.zones:
                raise invalid(f"unknown zone {command.zone!r}", field="zone")
            chosen = sorted(
                (loc for loc in state.locations.values() if loc.zone == command.zone and loc.module),
                key=lambda loc: loc.code,
            )
            if not chosen:
                raise invalid(f"zone {command.zone!r} has no bin with a module to count", field="zone")
            for in_zone in chosen:
                self._check_not_counted(in_zone.code, field="zone")
            return chosen
        chosen = []
        for index, code in enumerate(command.locations):
            where = f"locations[{index}]"
            location = state.locations.get(code)
            if location is None:
                raise invalid(f"unknown location {code!r}", field=where)
            if location.module is None:
                raise invalid(f"location {code!r} has no module to light", field=where)
            if code in command.locations[:index]:
                raise invalid(f"location {code!r} appears twice", field=where)
            self._check_not_counted(code, field=where)
            chosen.append(location)
        return chosen

    def _check_not_counted(self, code: str, *, field: str) -> None:
        for count in self._state.counts.values():
            entry = count.bins.get(code)
            if count.status is CountStatus.COUNTING and entry is not None and entry.status in OPEN_BIN:
                raise conflict(f"location {code!r} is being counted by count {count.count_id!r}", field=field)

    def _recount(self, command: cmd.RecountBins, now: float) -> Outcome:
        count = self._require(command.count_id)
        if count.status is CountStatus.CANCELLED:
            raise conflict(f"count {count.count_id!r} was cancelled")
        if command.locations:
            entries = []
            for index, code in enumerate(command.locations):
                entry = count.bins.get(code)
                if entry is None:
                    raise invalid(
                        f"count {count.count_id!r} has no bin {code!r}", field=f"locations[{index}]"
                    )
                if entry.status is not CountBinStatus.COUNTED:
                    raise conflict(f"bin {code!r} has not been counted yet", field=f"locations[{index}]")
                if entry not in entries:
                    entries.append(entry)
        else:
            entries = [e for e in count.bins.values() if e.status is CountBinStatus.COUNTED and e.variance]
            if not entries:
                raise conflict(f"count {count.count_id!r} has no counted bin that differed: name the bins")
        count.status = CountStatus.COUNTING
        count.finished_at = None
        self._state.changes.counts.add(count.count_id)
        for entry in entries:
            entry.recounts += 1
        outcome = Outcome(reply={"recounting": [e.location for e in entries]})
        self._claim(count, entries, outcome)
        outcome.events.insert(
            0,
            ev.CountRecountRequested(
                count_id=count.count_id, locations=[e.location for e in entries], by=command.by
            ),
        )
        return outcome

    def _cancel(self, command: cmd.CancelCount, now: float) -> Outcome:
        count = self._require(command.count_id)
        if count.status is CountStatus.CANCELLED:
            return Outcome(reply={"already_cancelled": True})
        if count.status is CountStatus.COMPLETED:
            raise conflict(f"count {count.count_id!r} is completed and cannot be cancelled")
        outcome = Outcome(reply={"already_cancelled": False})
        for entry in count.bins.values():
            if entry.status in OPEN_BIN:
                self._board.release(entry.location, self.kind, count.count_id, outcome)
                entry.status = CountBinStatus.CANCELLED
                entry.ticket = None
                self._state.changes.count_bins.add((count.count_id, entry.location))
        count.status = CountStatus.CANCELLED
        count.finished_at = now
        self._state.changes.counts.add(count.count_id)
        bins = count.bins.values()
        outcome.events.insert(
            0,
            ev.CountCancelled(
                count_id=count.count_id,
                counted=[e.location for e in bins if e.status is CountBinStatus.COUNTED],
                not_counted=[e.location for e in bins if e.status is CountBinStatus.CANCELLED],
                by=command.by,
            ),
        )
        return outcome

    def _require(self, count_id: str) -> CycleCount:
        count = self._state.counts.get(count_id)
        if count is None:
            raise not_found(f"no count {count_id!r}")
        return count

    # -- lights and the confirm --------------------------------------------------------------------

    def _claim(
        self, count: CycleCount, entries: list[CountBin], outcome: Outcome
    ) -> tuple[list[str], list[str]]:
        """Claim each bin's light: lit now, or queued behind the work holding it. (lit, queued) codes."""
        lit: list[str] = []
        queued: list[str] = []
        for entry in entries:
            ticket = self._board.claim(entry.location, self.kind, count.count_id, outcome)
            self._state.changes.count_bins.add((count.count_id, entry.location))
            if ticket is None:
                entry.status = CountBinStatus.LIT
                entry.ticket = None
                self._show(count, entry, outcome)
                lit.append(entry.location)
            else:
                entry.status = CountBinStatus.QUEUED
                entry.ticket = ticket
                queued.append(entry.location)
        return lit, queued

    def _shown(self, count: CycleCount, location: Location) -> str:
        """A blind count starts the display at 0; an open one shows the record."""
        return "0" if count.blind else str(location.on_hand or 0)

    def _show(self, count: CycleCount, entry: CountBin, outcome: Outcome) -> None:
        location = self._state.locations[entry.location]
        if location.module is not None:
            self._board.set_light(
                location.module,
                outcome,
                color=COUNT_COLOR,
                blink=COUNT_BLINK,
                display=self._shown(count, location),
            )

    def _record(self, count: CycleCount, entry: CountBin, counted: int, now: float, outcome: Outcome) -> None:
        state = self._state
        location = state.locations[entry.location]
        expected = location.on_hand
        variance = None if expected is None else counted - expected
        if entry.status is CountBinStatus.LIT and entry.counted is None:
            entry.expected = expected
        entry.sku = location.sku
        entry.counted = counted
        entry.variance = variance
        entry.adjusted += variance or 0
        entry.status = CountBinStatus.COUNTED
        entry.counted_at = now
        state.changes.count_bins.add((count.count_id, entry.location))
        outcome.events.append(
            ev.CountRecorded(
                count_id=count.count_id,
                location=location.code,
                sku=location.sku,
                expected=expected,
                counted=counted,
                variance=variance,
                blind=count.blind,
                recount=entry.recounts,
            )
        )
        if expected != counted:
            location.on_hand = counted
            state.changes.locations.add(location.code)
            outcome.events.append(
                ev.InventoryAdjusted(
                    location=location.code,
                    sku=location.sku,
                    on_hand=counted,
                    previous=expected,
                    reason="cycle_count",
                )
            )
        if expected is not None and variance_pct(expected, counted) > count.variance_exception_pct:
            self._raise_variance(count, location, expected, counted, now, outcome)
        self._board.release(location.code, self.kind, count.count_id, outcome)
        if all(e.status is CountBinStatus.COUNTED for e in count.bins.values()):
            self._complete(count, now, outcome)

    def _raise_variance(
        self, count: CycleCount, location: Location, expected: int, counted: int, now: float, outcome: Outcome
    ) -> None:
        pct = variance_pct(expected, counted)
        shown_pct = "all of it" if math.isinf(pct) else f"{pct:.1f} %"
        self._book.raise_(
            outcome,
            now,
            kind="count_variance",
            message=f"count {count.count_id}: bin {location.code} ({location.sku}) counted {counted}, "
            f"{expected} recorded: {counted - expected:+d} ({shown_pct}; more than "
            f"{count.variance_exception_pct:g} % asks for a look)",
            location=location.code,
            detail={
                "count_id": count.count_id,
                "sku": location.sku,
                "expected": expected,
                "counted": counted,
                "variance": counted - expected,
                "variance_pct": None if math.isinf(pct) else round(pct, 2),
                "threshold_pct": count.variance_exception_pct,
            },
        )

    def _complete(self, count: CycleCount, now: float, outcome: Outcome) -> None:
        count.status = CountStatus.COMPLETED
        count.finished_at = now
        self._state.changes.counts.add(count.count_id)
        bins = count.bins.values()
        outcome.events.append(
            ev.CountCompleted(
                count_id=count.count_id,
                zone=count.zone,
                bins=len(count.bins),
                bins_with_variance=sum(1 for e in bins if e.adjusted),
                net_adjustment=sum(e.adjusted for e in bins),
            )
        )
