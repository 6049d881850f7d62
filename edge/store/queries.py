"""Queries of the event log, with its rows mapped to EventRecords: what the API and the relay read."""

from __future__ import annotations

from collections.abc import Sequence
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
