"""The event log's retention: events older than `[edge] delete_events_after_days` leave the store.

An event goes only once it owes nothing: every webhook delivery of it is delivered (a pending or failed
one keeps it, however old, until it is delivered). Its delivered deliveries go with it. The newest event
always stays, so the log's sequence never starts again after a restart. `GET /events` says where the log
now starts (`first_seq`). SQLite reuses the freed pages, so the file stops growing instead of shrinking.

The sweep runs once a minute in chunks, each on the writer's turn (`Writer.chore`), so it never holds
the store's write lock while a press is being committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, and_, bindparam, delete, exists, func, select
from sqlalchemy.exc import SQLAlchemyError

from edge.delivery_store import DELIVERED, DELIVERIES, ENDPOINTS
from edge.store import EVENTS, StoreError, describe_failure
from edge.writer import Writer, WriterUnavailable

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 60.0
CHUNK = 500
# A sweep reads at most this many chunks; a long run of events still owed (an ERP down for weeks) is
# read again next minute rather than read all in one go.
CHUNKS_PER_SWEEP = 200


@dataclass(frozen=True, kw_only=True, slots=True)
class Pruned:
    """One chunk: how many events went, the last seq it looked at, and whether older ones remain."""

    deleted: int
    deliveries: int
    last_seq: int
    more: bool


def delete_old_events(engine: Engine, before: float, *, after_seq: int = 0, limit: int = CHUNK) -> Pruned:
    """Delete up to `limit` events past `after_seq` that occurred before `before` and owe no delivery."""
    try:
        with engine.begin() as conn:
            newest = conn.execute(select(func.max(EVENTS.c.seq))).scalar() or 0
            rows = conn.execute(
                select(EVENTS.c.seq, EVENTS.c.occurred_at)
                .where(EVENTS.c.seq > after_seq)
                .order_by(EVENTS.c.seq)
                .limit(limit)
            ).all()
            # Seq order is commit order: the first event too young (or the newest) ends the sweep.
            old = []
            for seq, occurred_at in rows:
                if occurred_at >= before or seq >= newest:
                    break
                old.append(seq)
            more = len(old) == limit
            if not old:
                return Pruned(deleted=0, deliveries=0, last_seq=after_seq, more=False)
            endpoints = list(conn.execute(select(ENDPOINTS.c.id)).scalars())
            delivered: list[dict[str, object]] = []
            owed: set[int] = set()
            for endpoint_id in endpoints:  # by primary key, one range per endpoint
                for seq, status in conn.execute(
                    select(DELIVERIES.c.event_seq, DELIVERIES.c.status).where(
                        and_(
                            DELIVERIES.c.endpoint_id == endpoint_id,
                            DELIVERIES.c.event_seq.between(old[0], old[-1]),
                        )
                    )
                ):
                    if status == DELIVERED:
                        delivered.append({"e": endpoint_id, "s": seq})
                    else:
                        owed.add(seq)
            gone = [{"s": seq} for seq in old if seq not in owed]
            delivered = [d for d in delivered if d["s"] not in owed]
            deliveries = 0
            if delivered:
                # Only what is still delivered now: a replay since the read above keeps its row.
                result = conn.execute(
                    delete(DELIVERIES).where(
                        and_(
                            DELIVERIES.c.endpoint_id == bindparam("e"),
                            DELIVERIES.c.event_seq == bindparam("s"),
                            DELIVERIES.c.status == DELIVERED,
                        )
                    ),
                    delivered,
                )
                deliveries = int(result.rowcount or 0)
            deleted = 0
            if gone:
                # ... and an event with any delivery left (that replay) stays.
                still_owed = exists().where(
                    and_(
                        DELIVERIES.c.endpoint_id.in_(select(ENDPOINTS.c.id)),
                        DELIVERIES.c.event_seq == bindparam("s"),
                    )
                )
                result = conn.execute(
                    delete(EVENTS).where(and_(EVENTS.c.seq == bindparam("s"), ~still_owed)), gone
                )
                deleted = int(result.rowcount or 0)
            return Pruned(deleted=deleted, deliveries=deliveries, last_seq=old[-1], more=more)
    except SQLAlchemyError as err:
        raise describe_failure(engine, err, "deleting old events from the event log") from err


async def prune_event_log(
    writer: Writer,
    engine: Engine,
    keep_s: float,
    *,
    every: float = PRUNE_EVERY_S,
    clock: Callable[[], float] = time.time,
) -> None:
    """Once a minute, delete the events past their retention, a chunk per writer's turn."""
    while True:
        await asyncio.sleep(every)
        before = clock() - keep_s
        started = time.monotonic()
        deleted = deliveries = 0
        cursor = 0
        try:
            for _ in range(CHUNKS_PER_SWEEP):
                pruned = await writer.chore(delete_old_events, engine, before, after_seq=cursor)
                deleted += pruned.deleted
                deliveries += pruned.deliveries
                cursor = pruned.last_seq
                if not pruned.more:
                    break
        except (StoreError, WriterUnavailable) as err:
            # The store fails: the writer reports that already; the events wait for the next sweep.
            log.debug("event log retention skipped: %s", err)
        except Exception:  # a bug here must not stop the floor: the log only grows until it is fixed
            log.exception("event log retention failed; trying again in a minute")
        if deleted:
            log.info(
                "old events left the event log",
                extra={
                    "events": deleted,
                    "deliveries": deliveries,
                    "older_than_days": round(keep_s / 86400, 2),
                    "seconds": round(time.monotonic() - started, 2),
                },
            )
