"""Queries of the event log: rows as EventRecords for the API and the relay, a time window for the KPIs."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, case, func, null, select
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
    engine: Engine,
    since: float,
    *,
    through_seq: int,
    data_of: Collection[str] | None = None,
    page: int = 5000,
) -> Iterator[tuple[str, dict[str, Any], float]]:
    """The events logged at or after `since` (wall clock), up to `through_seq`, oldest first, as `(type,
    data, occurred_at)`: what a count of them needs, without the cost of a whole EventRecord each (the
    shift's KPIs read every event of a shift while the edge starts). Read a page at a time, so the work
    and the memory follow the window, not the log.

    With `data_of`, only events of those types come with their data; the others' is left unread (empty)."""
    data = (
        EVENTS.c.data
        if data_of is None
        else case((EVENTS.c.type.in_(list(data_of)), EVENTS.c.data), else_=null())
    )
    after = _first_seq_since(engine, since, through_seq) - 1
    while after < through_seq:
        query = (
            select(EVENTS.c.seq, EVENTS.c.type, data, EVENTS.c.occurred_at)
            .where(EVENTS.c.seq > after, EVENTS.c.seq <= through_seq)
            .order_by(EVENTS.c.seq)
            .limit(page)
        )
        try:
            with engine.connect() as conn:
                rows = conn.execute(query).all()
        except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as err:
            raise describe_failure(engine, err, "reading the event log") from err
        if not rows:
            return
        for _, event_type, event_data, occurred_at in rows:
            yield event_type, {} if event_data is None else event_data, occurred_at
        after = rows[-1][0]


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
