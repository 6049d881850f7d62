"""Webhook endpoints and deliveries in the store: what the relay reads, updates and the API lists."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, and_, bindparam, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from floorgate.edge.store import EVENTS, describe_failure, sql_table
from floorgate.edge.store.tables import WebhookDeliveryRow, WebhookEndpointRow
from floorgate.edge.webhooks.outbox import Endpoint

ENDPOINTS: Table = sql_table(WebhookEndpointRow)
DELIVERIES: Table = sql_table(WebhookDeliveryRow)

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


@dataclass(frozen=True, kw_only=True, slots=True)
class DueDelivery:
    """A pending delivery with what is needed to send it."""

    endpoint_id: str
    event_seq: int
    event_id: str
    event_type: str
    order_id: str | None
    attempts: int
    next_attempt_at: float
    occurred_at: float
    data: dict[str, Any]

    @property
    def lane(self) -> str:
        """Deliveries in one lane go out in seq order: an order's events, or an event on its own."""
        return f"order:{self.order_id}" if self.order_id else f"event:{self.event_seq}"


def delivery_id(endpoint_id: str, seq: int) -> str:
    return f"{endpoint_id}.{seq}"


def parse_delivery_id(text: str) -> tuple[str, int] | None:
    endpoint_id, sep, seq = text.rpartition(".")
    # ASCII digits only ("²" is a digit to str.isdigit), and few enough for a 64-bit SQL integer.
    if not sep or not endpoint_id or not (seq.isascii() and seq.isdigit()) or len(seq) > 18:
        return None
    return endpoint_id, int(seq)


def endpoint_from_row(row: Any) -> Endpoint:
    return Endpoint(
        id=row.id,
        url=row.url,
        name=row.name,
        events=tuple(row.events or ("*",)),
        secret=row.secret,
        previous_secret=row.previous_secret,
        previous_secret_until=row.previous_secret_until,
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        source=row.source,
        created_at=row.created_at,
    )


class DeliveryStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _run(self, what: str, work: Any) -> Any:
        try:
            return work()
        except SQLAlchemyError as err:
            # Never the statement or its parameters: an endpoint's row holds its signing secret.
            raise describe_failure(self.engine, err, what) from err

    # -- endpoints ---------------------------------------------------------------------------------

    def endpoints(self) -> list[Endpoint]:
        def work() -> list[Endpoint]:
            with self.engine.connect() as conn:
                return [
                    endpoint_from_row(r) for r in conn.execute(select(ENDPOINTS).order_by(ENDPOINTS.c.id))
                ]

        result: list[Endpoint] = self._run("reading webhook endpoints", work)
        return result

    def save_endpoint(self, endpoint: Endpoint) -> None:
        row = endpoint.row()

        def work() -> None:
            with self.engine.begin() as conn:
                changed = conn.execute(update(ENDPOINTS).where(ENDPOINTS.c.id == endpoint.id).values(**row))
                if not changed.rowcount:
                    conn.execute(ENDPOINTS.insert().values(**row))

        self._run("saving a webhook endpoint", work)

    # -- the relay's view --------------------------------------------------------------------------

    def pending(self, endpoint_id: str, limit: int) -> list[DueDelivery]:
        """The oldest pending deliveries of an endpoint, by seq, with their events."""
        query = (
            select(DELIVERIES, EVENTS.c.occurred_at, EVENTS.c.data)
            .join(EVENTS, EVENTS.c.seq == DELIVERIES.c.event_seq)
            .where(and_(DELIVERIES.c.endpoint_id == endpoint_id, DELIVERIES.c.status == PENDING))
            .order_by(DELIVERIES.c.event_seq)
            .limit(limit)
        )

        def work() -> list[DueDelivery]:
            with self.engine.connect() as conn:
                return [
                    DueDelivery(
                        endpoint_id=r.endpoint_id,
                        event_seq=r.event_seq,
                        event_id=r.event_id,
                        event_type=r.event_type,
                        order_id=r.order_id,
                        attempts=r.attempts,
                        next_attempt_at=r.next_attempt_at,
                        occurred_at=r.occurred_at,
                        data=r.data,
                    )
                    for r in conn.execute(query)
                ]

        result: list[DueDelivery] = self._run("reading pending deliveries", work)
        return result

    def failed_orders(self, endpoint_id: str) -> set[str]:
        """Orders with a failed delivery: their later events wait, so each order's events stay in order."""
        query = (
            select(DELIVERIES.c.order_id)
            .where(
                and_(
                    DELIVERIES.c.endpoint_id == endpoint_id,
                    DELIVERIES.c.status == FAILED,
                    DELIVERIES.c.order_id.is_not(None),
                )
            )
            .distinct()
        )

        def work() -> set[str]:
            with self.engine.connect() as conn:
                return {r.order_id for r in conn.execute(query)}

        result: set[str] = self._run("reading failed orders", work)
        return result

    def record(self, updates: Sequence[dict[str, Any]]) -> None:
        """Write the outcome of a round of attempts in one transaction.

        Updates that set the same columns go as one executemany: a drained backlog writes a thousand
        outcomes a round, and one statement built per row cost more than the deliveries themselves."""
        if not updates:
            return
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for values in updates:
            columns = tuple(sorted(k for k in values if k not in {"endpoint_id", "event_seq"}))
            groups.setdefault(columns, []).append(
                {"key_endpoint": values["endpoint_id"], "key_seq": values["event_seq"]}
                | {c: values[c] for c in columns}
            )

        def work() -> None:
            with self.engine.begin() as conn:
                for columns, rows in groups.items():
                    statement = (
                        update(DELIVERIES)
                        .where(
                            and_(
                                DELIVERIES.c.endpoint_id == bindparam("key_endpoint"),
                                DELIVERIES.c.event_seq == bindparam("key_seq"),
                            )
                        )
                        .values({c: bindparam(c) for c in columns})
                    )
                    conn.execute(statement, rows)

        self._run("recording delivery results", work)

    # -- the API's view ----------------------------------------------------------------------------

    def list_deliveries(
        self,
        *,
        status: str | None = None,
        order_id: str | None = None,
        endpoint_id: str | None = None,
        after_seq: int = 0,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        query = select(DELIVERIES).where(DELIVERIES.c.event_seq > after_seq)
        if status:
            query = query.where(DELIVERIES.c.status == status)
        if order_id:
            query = query.where(DELIVERIES.c.order_id == order_id)
        if endpoint_id:
            query = query.where(DELIVERIES.c.endpoint_id == endpoint_id)
        query = query.order_by(DELIVERIES.c.event_seq, DELIVERIES.c.endpoint_id).limit(limit)

        def work() -> list[dict[str, Any]]:
            with self.engine.connect() as conn:
                return [
                    {"id": delivery_id(r.endpoint_id, r.event_seq), **dict(r._mapping)}
                    for r in conn.execute(query)
                ]

        result: list[dict[str, Any]] = self._run("listing deliveries", work)
        return result

    def replay(self, keys: Iterable[tuple[str, int]], now: float) -> int:
        """Send deliveries again from the first attempt (failed ones, or delivered ones on request)."""

        def work() -> int:
            count = 0
            with self.engine.begin() as conn:
                for endpoint_id, seq in keys:
                    result = conn.execute(
                        update(DELIVERIES)
                        .where(and_(DELIVERIES.c.endpoint_id == endpoint_id, DELIVERIES.c.event_seq == seq))
                        .values(status=PENDING, attempts=0, next_attempt_at=now, last_error=None)
                    )
                    count += int(result.rowcount or 0)
            return count

        result: int = self._run("replaying deliveries", work)
        return result

    def keys(self, *, status: str, endpoint_id: str | None = None) -> list[tuple[str, int]]:
        query = select(DELIVERIES.c.endpoint_id, DELIVERIES.c.event_seq).where(DELIVERIES.c.status == status)
        if endpoint_id:
            query = query.where(DELIVERIES.c.endpoint_id == endpoint_id)

        def work() -> list[tuple[str, int]]:
            with self.engine.connect() as conn:
                return [(r.endpoint_id, r.event_seq) for r in conn.execute(query)]

        result: list[tuple[str, int]] = self._run("listing delivery keys", work)
        return result

    def stats(self) -> dict[str, Any]:
        """Counts by status and the age of the oldest pending delivery, for /metrics."""

        def work() -> dict[str, Any]:
            with self.engine.connect() as conn:
                counts = {
                    r.status: r.n
                    for r in conn.execute(
                        select(DELIVERIES.c.status, func.count().label("n")).group_by(DELIVERIES.c.status)
                    )
                }
                oldest = conn.execute(
                    select(func.min(DELIVERIES.c.created_at)).where(DELIVERIES.c.status == PENDING)
                ).scalar()
            return {"counts": counts, "oldest_pending_created_at": oldest}

        result: dict[str, Any] = self._run("reading delivery stats", work)
        return result
