"""Queries of the event log, with its rows mapped to EventRecords: what the API, the relay and the KPIs read."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from floorgate.edge.store.errors import describe_failure
from floorgate.edge.store.records import EventRecord
from floorgate.edge.store.schema import EVENTS


def events_after(
    engine: Engine, after: int, limit: int, *, types: Sequence[str] | None = None
) -> list[EventRecord]:
    query = select(EVENTS).where(EVENTS.c.seq > after).order_by(EVENTS.c.seq).limit(limit)
    if types:
        query = query.where(EVENTS.c.type.in_(list(types)))
    try:
        return _records(engine, query)
    except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as err:
        raise describe_failure(engine, err, "reading the event log") from err


def events_since(
    engine: Engine, since: float, *, through_seq: int, page: int = 5000
) -> Iterator[EventRecord]:
    """The events logged at or after `since` (wall clock), up to `through_seq`, oldest first, read a page
    at a time: the work and the memory follow the window, not the log."""
    after = _first_seq_since(engine, since, through_seq) - 1
    while after < through_seq:
        query = (
            select(EVENTS)
            .where(EVENTS.c.seq > after, EVENTS.c.seq <= through_seq)
            .order_by(EVENTS.c.seq)
            .limit(page)
        )
        try:
            records = _records(engine, query)
        except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as err:
            raise describe_failure(engine, err, "reading the event log") from err
        if not records:
            return
        yield from records
        after = records[-1].seq


def _first_seq_since(engine: Engine, since: float, through_seq: int) -> int:
    """Where the events at or after `since` begin. The log has no index on time (each index costs every
    press a write), but the writer stamps events in seq order, so a binary search over seq finds it in a
    few lookups by the primary key. Retention leaves gaps in seq: each probe takes the next event there is.
    A clock stepped back may misplace the start by the few events it stamped out of order."""
    lo, hi = first_seq(engine), through_seq + 1
    try:
        with engine.connect() as conn:
            while lo < hi:
                mid = (lo + hi) // 2
                at = conn.execute(
                    select(EVENTS.c.occurred_at).where(EVENTS.c.seq >= mid).order_by(EVENTS.c.seq).limit(1)
                ).scalar()
                if at is None or at >= since:
                    hi = mid
                else:
                    lo = mid + 1
    except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as err:
        raise describe_failure(engine, err, "finding where a time window starts in the event log") from err
    return lo


def _records(engine: Engine, query: Any) -> list[EventRecord]:
    with engine.connect() as conn:
        return [
            EventRecord(
                seq=r.seq,
                id=r.id,
                type=r.type,
                occurred_at=r.occurred_at,
                order_id=r.order_id,
                data=r.data,
            )
            for r in conn.execute(query)
        ]


def first_seq(engine: Engine) -> int:
    """The oldest event the log still holds (older ones left it by retention); 0 for an empty log."""
    return _seq_bound(engine, func.min(EVENTS.c.seq), "reading the first event")


def last_seq(engine: Engine) -> int:
    return _seq_bound(engine, func.max(EVENTS.c.seq), "reading the last event")


def _seq_bound(engine: Engine, bound: Any, what: str) -> int:
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(bound)).scalar() or 0)
    except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as err:
        raise describe_failure(engine, err, what) from err
