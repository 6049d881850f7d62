"""The store's retention: what the floor is done with leaves the store, so that its size follows the
floor's pace, not the edge's age. SQLite reuses the freed pages, so the file stops growing instead of
shrinking. Each sweep runs once a minute, its deletes in chunks on the writer's turn (`Writer.chore`),
so it never holds the store's write lock while a press is being committed.

- **Events** older than `[edge] delete_events_after_days`, once they owe nothing: every webhook delivery
  of them is delivered (a pending or failed one keeps its event, however old, until it is delivered).
  Their delivered deliveries go with them. The newest event always stays, so the log's sequence never
  starts again after a restart. `GET /events` says where the log now starts (`first_seq`).
- **Finished orders**, with their lines and item scans, `[edge] delete_finished_orders_after_days` after
  they finished (long after they left memory: see `retire_finished_orders_after_h`). Their events stay
  in the event log, under its own retention.
- **Resolved exceptions**, `[edge] delete_resolved_exceptions_after_days` after they were resolved: first
  out of the floor's memory (`GET /exceptions`), then out of the store. The highest-numbered exception
  always stays in the store, so numbers are never given out twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, and_, bindparam, delete, exists, func, or_, select, tuple_
from sqlalchemy.exc import SQLAlchemyError

from floorgate.core import commands as cmd
from floorgate.core.model import ExceptionStatus, retirable_statuses
from floorgate.core.packing import packs
from floorgate.edge.store.errors import StoreError, describe_failure
from floorgate.edge.store.schema import EVENTS, EXCEPTIONS, LINE_SCANS, LINES, ORDERS
from floorgate.edge.webhooks.deliveries import DELIVERED, DELIVERIES, ENDPOINTS
from floorgate.edge.writer import Writer, WriterUnavailable

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


async def _sweep_events(writer: Writer, engine: Engine, before: float) -> dict[str, int]:
    deleted = deliveries = 0
    cursor = 0
    for _ in range(CHUNKS_PER_SWEEP):
        pruned = await writer.chore(delete_old_events, engine, before, after_seq=cursor)
        deleted += pruned.deleted
        deliveries += pruned.deliveries
        cursor = pruned.last_seq
        if not pruned.more:
            break
    return {"events": deleted, "deliveries": deliveries}


# -- finished orders --------------------------------------------------------------------------------


def old_finished_orders(
    engine: Engine,
    before: float,
    statuses: Collection[str],
    *,
    after: tuple[float, str] | None = None,
    limit: int = CHUNK,
) -> list[tuple[float, str]]:
    """Up to `limit` orders in `statuses` that finished before `before`, oldest first, past `after`
    (the last one a previous chunk returned): (finished_at, order_id). A read: no writer's turn needed."""
    query = (
        select(ORDERS.c.finished_at, ORDERS.c.order_id)
        .where(ORDERS.c.finished_at < before, ORDERS.c.status.in_(list(statuses)))
        .order_by(ORDERS.c.finished_at, ORDERS.c.order_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(ORDERS.c.finished_at, ORDERS.c.order_id) > tuple_(*after))
    try:
        with engine.connect() as conn:
            return [(float(at), str(order_id)) for at, order_id in conn.execute(query)]
    except SQLAlchemyError as err:
        raise describe_failure(engine, err, "reading finished orders") from err


def delete_finished_orders(
    engine: Engine, order_ids: Sequence[str], before: float, statuses: Collection[str]
) -> int:
    """Delete these orders with their lines and item scans, each only if it is still in `statuses` and
    finished before `before` (what it was when it was read). How many orders went."""
    if not order_ids or not statuses:
        return 0
    ids = [{"o": order_id} for order_id in order_ids]
    try:
        with engine.begin() as conn:
            gone = conn.execute(
                delete(ORDERS).where(
                    and_(
                        ORDERS.c.order_id == bindparam("o"),
                        ORDERS.c.finished_at < before,
                        # Not in_(): an expanding parameter cannot go into an executemany().
                        or_(*(ORDERS.c.status == status for status in statuses)),
                    )
                ),
                ids,
            )
            # The lines and scans of the orders that went, and only theirs.
            no_order = ~exists().where(ORDERS.c.order_id == bindparam("o"))
            for table in (LINE_SCANS, LINES):
                conn.execute(delete(table).where(and_(table.c.order_id == bindparam("o"), no_order)), ids)
            return int(gone.rowcount or 0)
    except SQLAlchemyError as err:
        raise describe_failure(engine, err, "deleting finished orders") from err


# -- resolved exceptions ----------------------------------------------------------------------------


def old_resolved_exceptions(
    engine: Engine, before: float, *, after_id: int = 0, limit: int = CHUNK
) -> list[int]:
    """Up to `limit` exceptions past `after_id` resolved before `before`, by number; never the highest
    numbered one (it keeps the numbering going after a restart). A read."""
    resolved = ExceptionStatus.RESOLVED.value
    query = (
        select(EXCEPTIONS.c.id)
        .where(
            EXCEPTIONS.c.id > after_id,
            EXCEPTIONS.c.status == resolved,
            EXCEPTIONS.c.resolved_at < before,
            EXCEPTIONS.c.id < select(func.max(EXCEPTIONS.c.id)).scalar_subquery(),
        )
        .order_by(EXCEPTIONS.c.id)
        .limit(limit)
    )
    try:
        with engine.connect() as conn:
            return [int(i) for i in conn.execute(query).scalars()]
    except SQLAlchemyError as err:
        raise describe_failure(engine, err, "reading resolved exceptions") from err


def delete_resolved_exceptions(engine: Engine, exception_ids: Sequence[int], before: float) -> int:
    """Delete these exceptions, each only if it is still resolved before `before`. How many went."""
    if not exception_ids:
        return 0
    try:
        with engine.begin() as conn:
            gone = conn.execute(
                delete(EXCEPTIONS).where(
                    and_(
                        EXCEPTIONS.c.id == bindparam("x"),
                        EXCEPTIONS.c.status == ExceptionStatus.RESOLVED.value,
                        EXCEPTIONS.c.resolved_at < before,
                    )
                ),
                [{"x": i} for i in exception_ids],
            )
            return int(gone.rowcount or 0)
    except SQLAlchemyError as err:
        raise describe_failure(engine, err, "deleting resolved exceptions") from err


@dataclass(frozen=True, kw_only=True, slots=True)
class Retention:
    """How long, in seconds, the store keeps each kind of thing the floor is done with."""

    events_s: float
    orders_s: float
    exceptions_s: float


async def prune_store(
    writer: Writer,
    engine: Engine,
    retention: Retention,
    *,
    every: float = PRUNE_EVERY_S,
    clock: Callable[[], float] = time.time,
) -> None:
    """Once a minute, delete what is past its retention: old events, resolved exceptions, finished orders."""
    sweeps: tuple[tuple[str, Callable[[Writer, Engine, float], Awaitable[dict[str, int]]], float], ...] = (
        ("events", _sweep_events, retention.events_s),
        ("resolved exceptions", _sweep_exceptions, retention.exceptions_s),
        ("finished orders", _sweep_orders, retention.orders_s),
    )
    while True:
        await asyncio.sleep(every)
        for what, sweep, keep_s in sweeps:
            started = time.monotonic()
            try:
                gone = await sweep(writer, engine, clock() - keep_s)
            except (StoreError, WriterUnavailable) as err:
                # The store fails: the writer reports that already; they wait for the next sweep.
                log.debug("retention of %s skipped: %s", what, err)
                continue
            except Exception:  # a bug here must not stop the floor: the store only grows until it is fixed
                log.exception("retention of %s failed; trying again in a minute", what)
                continue
            if any(gone.values()):
                log.info(
                    "old %s left the store",
                    what,
                    extra={
                        **gone,
                        "older_than_days": round(keep_s / 86400, 2),
                        "seconds": round(time.monotonic() - started, 2),
                    },
                )


async def _sweep_exceptions(writer: Writer, engine: Engine, before: float) -> dict[str, int]:
    # Out of memory first: a resolved exception never changes again, so nothing writes its row back.
    await writer.execute(cmd.ForgetResolvedExceptions(before=before))
    deleted = 0
    cursor = 0
    for _ in range(CHUNKS_PER_SWEEP):
        ids = await asyncio.to_thread(old_resolved_exceptions, engine, before, after_id=cursor)
        if not ids:
            break
        deleted += await writer.chore(delete_resolved_exceptions, engine, ids, before)
        cursor = ids[-1]
        if len(ids) < CHUNK:
            break
    return {"exceptions": deleted}


async def _sweep_orders(writer: Writer, engine: Engine, before: float) -> dict[str, int]:
    def delete_not_held(chunk: list[str]) -> int:
        # On the writer's turn, so its floor holds still: an order still in memory (not yet retired)
        # stays, and so does a picked one once a pack station exists to pack it.
        floor = writer.floor
        statuses = [s.value for s in retirable_statuses(packing=packs(floor.stations.values()))]
        return delete_finished_orders(engine, [o for o in chunk if o not in floor.orders], before, statuses)

    deleted = 0
    after: tuple[float, str] | None = None
    for _ in range(CHUNKS_PER_SWEEP):
        statuses = [s.value for s in retirable_statuses(packing=packs(writer.floor.stations.values()))]
        found = await asyncio.to_thread(old_finished_orders, engine, before, statuses, after=after)
        if not found:
            break
        deleted += await writer.chore(delete_not_held, [order_id for _, order_id in found])
        after = found[-1]
        if len(found) < CHUNK:
            break
    return {"orders": deleted}
