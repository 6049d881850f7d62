"""What the store takes and gives: an event as logged, and the batch one transaction writes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table

from floorgate.edge.store.errors import StoreError, StoreFailure


@dataclass(frozen=True, kw_only=True, slots=True)
class EventRecord:
    """An event as logged: the envelope every consumer (API, webhooks, dashboard) sees."""

    seq: int
    id: str
    type: str
    occurred_at: float
    order_id: str | None
    data: dict[str, Any]

    def row(self) -> dict[str, Any]:
        """The event's row in the event log table."""
        return {
            "seq": self.seq,
            "id": self.id,
            "type": self.type,
            "occurred_at": self.occurred_at,
            "order_id": self.order_id,
            "data": self.data,
        }


@dataclass(kw_only=True, slots=True)
class Batch:
    """Everything one transaction writes: rows to upsert per table, events, and inbound ids."""

    upserts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    events: list[EventRecord] = field(default_factory=list)
    inbound_ids: list[tuple[str, float]] = field(default_factory=list)
    inbound_first: int | None = None  # the ring number of the first id, once the store has given them

    def add(self, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        batch_rows = list(rows)
        if batch_rows:
            self.upserts.setdefault(table.name, []).extend(batch_rows)

    @property
    def row_count(self) -> int:
        return sum(map(len, self.upserts.values())) + len(self.events) + len(self.inbound_ids)


@dataclass(frozen=True, kw_only=True, slots=True)
class CommitFence:
    """A statement every commit runs first, in its own transaction: unless it matches exactly one row the
    commit is rolled back (`check`). An active/standby pair's lease checks its epoch so."""

    sql: str
    params: tuple[Any, ...]
    refusal: str

    def check(self, matched: int) -> None:
        """Raise a StoreError (cause FENCED) unless the statement matched exactly one row."""
        if matched != 1:
            raise StoreError(self.refusal, cause=StoreFailure.FENCED)
