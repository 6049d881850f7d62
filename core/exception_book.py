"""The exception book: problems on the floor a person must look at, raised, coalesced, resolved, forgotten.

Every capability raises into the same book. The same problem again (same kind, location and device) while
its exception is still open is counted on it rather than raised anew; one the floor itself has made
obsolete is settled by the floor; a person resolves the rest, and resolved ones leave memory after their
retention. The book also handles the commands that act on exceptions directly.

Reports from devices the floor does not know (a module no location names, a scanner or scale of no
station) fold instead: one open exception per kind, whatever the id, counting every report and listing
the latest few ids. Any MQTT publisher can invent ids; without the fold each one would be an exception,
an event and a webhook of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.capability import Handler
from floorgate.core.errors import not_found
from floorgate.core.model import ExceptionStatus, FloorException
from floorgate.core.outcome import Outcome
from floorgate.core.state import FloorState

# What makes two exceptions the same problem: (kind, location, device).
ExceptionKey = tuple[str, str | None, str | None]

# A folded exception's detail: the latest ids reported (newest last, each once), and how many ids fell off
# that list. Their presence is also what marks an exception as folded when the floor is restored.
UNKNOWN_DEVICES = "unknown_devices"
UNLISTED_DEVICES = "unlisted_devices"
# How many ids a folded exception lists, and how much of each id it keeps: an MQTT topic level may be
# 64 KiB long, and what the floor remembers of an id nobody knows must stay small.
UNKNOWN_DEVICES_LISTED = 10
DEVICE_ID_CHARS = 64
DETAIL_CHARS = 200


def short_id(device: str) -> str:
    """An id from outside as a folded exception keeps it: cut to DEVICE_ID_CHARS, visibly."""
    return device if len(device) <= DEVICE_ID_CHARS else device[: DEVICE_ID_CHARS - 1] + "\u2026"


def _bounded(detail: dict[str, Any] | None) -> dict[str, Any]:
    """A report's detail as a folded exception keeps it: text cut to DETAIL_CHARS (a topic from outside
    may be 64 KiB long)."""
    return {
        key: value[:DETAIL_CHARS] if isinstance(value, str) else value
        for key, value in (detail or {}).items()
    }


def is_folded(exception: FloorException) -> bool:
    return isinstance(exception.detail.get(UNKNOWN_DEVICES), list)


class ExceptionBook:
    """The floor's exceptions, and the index of the open ones by the problem they name."""

    def __init__(self, state: FloorState) -> None:
        self._state = state
        self._open: dict[ExceptionKey, int] = {}
        # kind -> the open folded exception of that kind (reports from devices the floor does not know)
        self._folded: dict[str, int] = {}
        self._next_id = 1

    def handlers(self) -> Mapping[type[cmd.Command], Handler]:
        return {
            cmd.RaiseException: self._raise_exception,
            cmd.ResolveException: self._resolve_exception,
            cmd.ForgetResolvedExceptions: self._forget_resolved_exceptions,
        }

    def rebuild(self) -> None:
        exceptions = self._state.exceptions
        still_open = [x for x in exceptions.values() if x.status is ExceptionStatus.OPEN]
        self._open = {(x.kind, x.location, x.device): x.id for x in still_open if not is_folded(x)}
        self._folded = {x.kind: x.id for x in sorted(still_open, key=lambda x: x.id) if is_folded(x)}
        self._next_id = max(exceptions, default=0) + 1

    # -- what other capabilities use ---------------------------------------------------------------

    def raise_(
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
        """Raise an exception, or count it on the open one for the same problem (unless `separate`)."""
        state = self._state
        key = (kind, location, device)
        open_id = None if separate else self._open.get(key)
        if open_id is not None:
            # The same problem again while a person has not dealt with it yet: count it, don't spam.
            existing = state.exceptions[open_id]
            # Its message, detail and order stay those of the first occurrence: that is what the one
            # `exception.raised` (webhook, event log) said, so the REST view and the stream say the same;
            # `count` and `last_at` tell that it happened again.
            existing.count += 1
            existing.last_at = now
            state.changes.exceptions.add(open_id)
            return
        exception = self._open_new(
            outcome,
            now,
            kind=kind,
            message=message,
            order_id=order_id,
            location=location,
            device=device,
            detail=detail or {},
        )
        if not separate:
            self._open[key] = exception.id

    def _open_new(
        self,
        outcome: Outcome,
        now: float,
        *,
        kind: str,
        message: str,
        order_id: str | None,
        location: str | None,
        device: str | None,
        detail: dict[str, Any],
    ) -> FloorException:
        """A new open exception, numbered, held and announced with one `exception.raised`."""
        exception = FloorException(
            id=self._next_id,
            kind=kind,
            message=message,
            raised_at=now,
            last_at=now,
            order_id=order_id,
            location=location,
            device=device,
            detail=detail,
        )
        self._next_id += 1
        self._state.exceptions[exception.id] = exception
        self._state.changes.exceptions.add(exception.id)
        outcome.events.append(
            ev.ExceptionRaised(
                exception_id=exception.id,
                kind=kind,
                message=message,
                order=order_id,
                location=location,
                device=device,
                detail=dict(detail),
            )
        )
        return exception

    def raise_unknown(
        self,
        outcome: Outcome,
        now: float,
        *,
        kind: str,
        message: str,
        device: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """A report from a device the floor does not know: folded into the one open exception of its kind.

        The first report raises it (one `exception.raised`); later ones, whatever their id, count on it in
        place and without an event: the latest report's message, device and detail, the latest
        UNKNOWN_DEVICES_LISTED ids, and how many ids fell off that list. Pass `device` through `short_id`.
        """
        state = self._state
        open_id = self._folded.get(kind)
        if open_id is None:
            exception = self._open_new(
                outcome,
                now,
                kind=kind,
                message=message,
                order_id=None,
                location=None,
                device=device,
                detail={**_bounded(detail), UNKNOWN_DEVICES: [device], UNLISTED_DEVICES: 0},
            )
            self._folded[kind] = exception.id
            return
        existing = state.exceptions[open_id]
        listed = [d for d in existing.detail.get(UNKNOWN_DEVICES, []) if d != device] + [device]
        unlisted = int(existing.detail.get(UNLISTED_DEVICES, 0)) + max(
            0, len(listed) - UNKNOWN_DEVICES_LISTED
        )
        # A new dict, never the old one changed: an event raised earlier in this batch still holds it.
        existing.detail = {
            **existing.detail,
            **_bounded(detail),
            UNKNOWN_DEVICES: listed[-UNKNOWN_DEVICES_LISTED:],
            UNLISTED_DEVICES: unlisted,
        }
        existing.count += 1
        existing.last_at = now
        existing.message = message
        existing.device = device
        state.changes.exceptions.add(open_id)

    def settle(self, outcome: Outcome, now: float, *, kind: str, device: str, note: str) -> None:
        """Close an open exception that the floor itself has just made obsolete.

        A folded exception only forgets the device; the floor closes it when no device it listed is left
        unknown, and none ever fell off its list (those a person must account for)."""
        self._settle_folded(outcome, now, kind=kind, device=device, note=note)
        open_id = self._open.pop((kind, None, device), None)
        if open_id is None:
            return
        self._close(outcome, now, self._state.exceptions[open_id], note)

    def _settle_folded(self, outcome: Outcome, now: float, *, kind: str, device: str, note: str) -> None:
        folded_id = self._folded.get(kind)
        if folded_id is None:
            return
        exception = self._state.exceptions[folded_id]
        listed = exception.detail.get(UNKNOWN_DEVICES, [])
        if short_id(device) not in listed:
            return
        left = [d for d in listed if d != short_id(device)]
        exception.detail = {**exception.detail, UNKNOWN_DEVICES: left}
        if left:
            # Its message may name the device just settled: name those still unknown instead.
            exception.device = left[-1]
            still = ", ".join(repr(d) for d in left)
            exception.message = f"{exception.kind.replace('_', ' ')} still reported: {still}"
        self._state.changes.exceptions.add(folded_id)
        if not left and not exception.detail.get(UNLISTED_DEVICES):
            del self._folded[kind]
            self._close(outcome, now, exception, note)

    def _close(self, outcome: Outcome, now: float, exception: FloorException, note: str) -> None:
        exception.status = ExceptionStatus.RESOLVED
        exception.resolved_at = now
        exception.resolved_by = "floorgate"
        exception.note = note
        self._state.changes.exceptions.add(exception.id)
        outcome.events.append(
            ev.ExceptionResolved(
                exception_id=exception.id, kind=exception.kind, resolved_by="floorgate", note=note
            )
        )

    # -- commands ----------------------------------------------------------------------------------

    def _raise_exception(self, command: cmd.RaiseException, now: float) -> Outcome:
        outcome = Outcome()
        self.raise_(
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
        exception = self._state.exceptions.get(command.exception_id)
        if exception is None:
            raise not_found(f"no exception {command.exception_id}")
        if exception.status is ExceptionStatus.RESOLVED:
            return Outcome(reply={"already_resolved": True})
        exception.status = ExceptionStatus.RESOLVED
        exception.resolved_at = now
        exception.resolved_by = command.resolved_by
        exception.note = command.note
        key = (exception.kind, exception.location, exception.device)
        if self._open.get(key) == exception.id:
            del self._open[key]
        if self._folded.get(exception.kind) == exception.id:
            del self._folded[exception.kind]
        self._state.changes.exceptions.add(exception.id)
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

    def _forget_resolved_exceptions(self, command: cmd.ForgetResolvedExceptions, now: float) -> Outcome:
        """Resolved exceptions past their retention leave `GET /exceptions`; nothing is written (the
        store's sweep deletes their rows after this). A resolved exception never changes again, and the
        numbering goes on from the highest number ever given out."""
        exceptions = self._state.exceptions
        gone = [
            x.id
            for x in exceptions.values()
            if x.status is ExceptionStatus.RESOLVED
            and x.resolved_at is not None
            and x.resolved_at < command.before
        ]
        for exception_id in gone:
            del exceptions[exception_id]
        return Outcome(reply={"forgotten": len(gone)})
