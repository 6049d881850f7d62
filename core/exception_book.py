"""The exception book: problems on the floor a person must look at, raised, coalesced, resolved, forgotten.

Every capability raises into the same book. The same problem again (same kind, location and device) while
its exception is still open is counted on it rather than raised anew; one the floor itself has made
obsolete is settled by the floor; a person resolves the rest, and resolved ones leave memory after their
retention. The book also handles the commands that act on exceptions directly.
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


class ExceptionBook:
    """The floor's exceptions, and the index of the open ones by the problem they name."""

    def __init__(self, state: FloorState) -> None:
        self._state = state
        self._open: dict[ExceptionKey, int] = {}
        self._next_id = 1

    def handlers(self) -> Mapping[type[cmd.Command], Handler]:
        return {
            cmd.RaiseException: self._raise_exception,
            cmd.ResolveException: self._resolve_exception,
            cmd.ForgetResolvedExceptions: self._forget_resolved_exceptions,
        }

    def rebuild(self) -> None:
        exceptions = self._state.exceptions
        self._open = {
            (x.kind, x.location, x.device): x.id
            for x in exceptions.values()
            if x.status is ExceptionStatus.OPEN
        }
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
        exception = FloorException(
            id=self._next_id,
            kind=kind,
            message=message,
            raised_at=now,
            last_at=now,
            order_id=order_id,
            location=location,
            device=device,
            detail=detail or {},
        )
        self._next_id += 1
        state.exceptions[exception.id] = exception
        if not separate:
            self._open[key] = exception.id
        state.changes.exceptions.add(exception.id)
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

    def settle(self, outcome: Outcome, now: float, *, kind: str, device: str, note: str) -> None:
        """Close an open exception that the floor itself has just made obsolete."""
        open_id = self._open.pop((kind, None, device), None)
        if open_id is None:
            return
        exception = self._state.exceptions[open_id]
        exception.status = ExceptionStatus.RESOLVED
        exception.resolved_at = now
        exception.resolved_by = "floorgate"
        exception.note = note
        self._state.changes.exceptions.add(open_id)
        outcome.events.append(
            ev.ExceptionResolved(exception_id=open_id, kind=kind, resolved_by="floorgate", note=note)
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
        self._open.pop((exception.kind, exception.location, exception.device), None)
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
