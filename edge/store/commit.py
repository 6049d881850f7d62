"""The commit: the unit of work that writes one batch (state, events, inbound ids) in one transaction.

It runs on the writer's own DB-API connection, kept open, with statements compiled once: the hot path of
every press. The SQL is SQLAlchemy's, generated for the engine's dialect, so it is the same code for
SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from floorgate.core.model import OrderStatus, RetiredOrder
from floorgate.edge.store.errors import BINDING_ERRORS, describe_failure
from floorgate.edge.store.records import Batch, CommitFence
from floorgate.edge.store.schema import EVENTS, INBOUND, ORDERS
from floorgate.edge.store.statements import Prepared, prepare


class Committer:
    """Owns the writer's connection. The writer never calls it from two threads at once."""

    def __init__(self, engine: Engine, *, remember_inbound: int) -> None:
        self.engine = engine
        self.remember_inbound = remember_inbound
        # Only the store's own dialect is imported: PostgreSQL's took a fiftieth of a second of every start.
        if engine.dialect.name == "postgresql":
            from sqlalchemy.dialects import postgresql

            self._insert: Any = postgresql.insert
        else:
            from sqlalchemy.dialects import sqlite

            self._insert = sqlite.insert
        self._prepared: dict[str, Prepared] = {}
        self._raw: Any = None
        # The ring's count of ids remembered, ever: read when first needed, or set by loading the floor.
        self.inbound_next: int | None = None
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        # A commit's failures: the database's, and the driver's own while binding the batch's values.
        self._commit_errors: tuple[type[Exception], ...] = (
            SQLAlchemyError,
            self._dbapi_error,
            *BINDING_ERRORS,
        )
        # PostgreSQL: a commit's statements go to the server in one pipeline (see `_pipeline`).
        self._pipelined = engine.dialect.name == "postgresql"
        # An active/standby pair: a statement run first in every commit's transaction, which must match one
        # row or the commit is rolled back (edge/standby/lease.py).
        self.fence: CommitFence | None = None

    def close(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            raw.close()

    def _statement(self, table: Table) -> Prepared:
        """The upsert for a state table, or the plain insert for the append-only ones."""
        prepared = self._prepared.get(table.name)
        if prepared is None:
            values: dict[str, Any] = {c.name: bindparam(c.name) for c in table.columns}
            if table.name == EVENTS.name:
                statement: Any = table.insert().values(values)
            else:
                keys = [c.name for c in table.primary_key.columns]
                insert = self._insert(table).values(values)
                updates = {c.name: insert.excluded[c.name] for c in table.columns if c.name not in keys}
                statement = insert.on_conflict_do_update(index_elements=keys, set_=updates)
            prepared = self._prepared[table.name] = prepare(self.engine, statement, table)
        return prepared

    def commit(self, batch: Batch) -> None:
        """Write one batch in one transaction, or nothing at all."""
        work: list[tuple[Table, Sequence[dict[str, Any]]]] = [
            (SQLModel.metadata.tables[name], rows) for name, rows in batch.upserts.items()
        ]
        if batch.events:
            work.append((EVENTS, [e.row() for e in batch.events]))
        try:
            if batch.inbound_ids:
                work.append((INBOUND, self._inbound_rows(batch)))
            # The writer's own DB-API connection, kept open: the commit is the hot path, and going
            # through SQLAlchemy's Connection for each batch cost more than the SQL itself.
            raw = self._write_connection()
            cursor = raw.cursor()
            fence, fenced = self.fence, None if self.fence is None else raw.cursor()
            try:
                with self._pipeline(raw):
                    if fence is not None and fenced is not None:
                        fenced.execute(fence.sql, fence.params)
                    for table, rows in work:
                        prepared = self._statement(table)
                        cursor.executemany(prepared.sql, prepared.params(rows))
                if fence is not None and fenced is not None:
                    fence.check(fenced.rowcount)
                raw.commit()
            except BaseException:
                # The cursor first: closing it after its connection raised "Cannot operate on a closed
                # database", which replaced the real error (a full disk was reported as a ProgrammingError).
                with contextlib.suppress(Exception):
                    cursor.close()
                    if fenced is not None:
                        fenced.close()
                self._drop_write_connection(rollback=True)
                raise
            cursor.close()
            if fenced is not None:
                fenced.close()
        except self._commit_errors as err:
            raise describe_failure(
                self.engine, err, f"committing a batch of {len(batch.events)} events"
            ) from err

    def _inbound_rows(self, batch: Batch) -> list[dict[str, Any]]:
        """The batch's ids as ring rows. Their numbers are fixed at the first attempt, so a batch held
        while the store fails lands in the same slots when it is committed at last (or found there)."""
        if batch.inbound_first is None:
            if self.inbound_next is None:
                cursor = self._write_connection().cursor()
                try:
                    latest = cursor.execute("SELECT max(seq) FROM inbound_ids").fetchone()[0]
                finally:
                    cursor.close()
                self.inbound_next = 0 if latest is None else int(latest) + 1
            batch.inbound_first = self.inbound_next
            self.inbound_next += len(batch.inbound_ids)
        first, size = batch.inbound_first, self.remember_inbound
        return [
            {"slot": (first + n) % size, "seq": first + n, "id": i, "received_at": t}
            for n, (i, t) in enumerate(batch.inbound_ids)
        ]

    def holds(self, batch: Batch) -> bool:
        """Whether this batch is in the store already: a commit reported as failed may still have reached
        the disk (an I/O error after the data was written), and committing it again would apply it twice."""
        if batch.events:
            first = batch.events[0]
            query: Any = select(EVENTS.c.id).where(EVENTS.c.seq == first.seq)
            expected = first.id
        elif batch.inbound_ids and batch.inbound_first is not None:
            expected = batch.inbound_ids[0][0]
            number = batch.inbound_first
            query = select(INBOUND.c.id).where(
                INBOUND.c.slot == number % self.remember_inbound, INBOUND.c.seq == number
            )
        else:
            return False  # only upserts: writing them again is harmless
        try:
            with self.engine.connect() as conn:
                return bool(conn.execute(query).scalar() == expected)
        except (SQLAlchemyError, self._dbapi_error) as err:
            raise describe_failure(self.engine, err, "checking whether a batch was committed") from err

    def _pipeline(self, raw: Any) -> contextlib.AbstractContextManager[Any]:
        """PostgreSQL: the batch's statements sent together, one round trip to the server instead of one
        each (psycopg's pipeline mode). SQLite runs in the process: nothing to save."""
        if self._pipelined:
            return cast(contextlib.AbstractContextManager[Any], raw.driver_connection.pipeline())
        return contextlib.nullcontext()

    def _write_connection(self) -> Any:
        if self._raw is None:
            raw = self.engine.raw_connection()
            if self.engine.dialect.name == "sqlite":
                # No checkpoint inside a commit: one every thousand pages added 10-50 ms (a write and an
                # fsync of the database file) to the press that happened to trigger it. The writer has
                # its checkpoint policy (`floorgate.edge.store.checkpoint`) instead.
                cursor = raw.cursor()
                cursor.execute("PRAGMA wal_autocheckpoint=0")
                cursor.close()
            self._raw = raw
        return self._raw

    def _drop_write_connection(self, *, rollback: bool) -> None:
        raw, self._raw = self._raw, None
        if raw is None:
            return
        with contextlib.suppress(Exception):  # the connection may be what failed; it is dropped either way
            if rollback:
                raw.rollback()
            raw.invalidate()

    def retired_order(self, order_id: str) -> RetiredOrder | None:
        """The order with this id as the store holds it, when the floor does not: the writer asks on its
        own connection (a statement prepared once), since it asks on its loop for each new order id."""
        prepared = self._prepared.get("retired_order")
        if prepared is None:
            query = select(ORDERS.c.status, ORDERS.c.fingerprint).where(
                ORDERS.c.order_id == bindparam("order_id")
            )
            prepared = self._prepared["retired_order"] = prepare(self.engine, query, ORDERS)
        try:
            cursor = self._write_connection().cursor()
            try:
                cursor.execute(prepared.sql, prepared.params([{"order_id": order_id}])[0])
                row = cursor.fetchone()
            finally:
                cursor.close()
        except (SQLAlchemyError, self._dbapi_error) as err:
            self._drop_write_connection(rollback=False)
            raise describe_failure(self.engine, err, f"looking up order {order_id!r}") from err
        if row is None:
            return None
        return RetiredOrder(order_id=order_id, status=OrderStatus(row[0]), fingerprint=row[1])
