"""The lease that makes one edge of an active/standby pair the active one, kept by PostgreSQL itself.

Two pieces, both the database's own, no clock of ours compared with another machine's:

- A session advisory lock (`pg_try_advisory_lock`) held by the lease's own connection says who may take
  the lease. PostgreSQL frees it when that session ends: at once when the active edge's process dies (its
  sockets close), and after `idle_session_timeout` (set on that session to `[edge] lease_timeout_s`) when
  the edge goes silent (paused, cut off, its host gone), since a live active edge confirms the lease
  several times within it.
- A fencing epoch in the `edge_lease` row: taking the lease adds one to it, and every commit of the
  writer first checks, in its own transaction, that the row still holds its epoch (`SELECT ... FOR
  SHARE`, see `fence`). So an edge that lost the lease while it was paused fails its next commit however
  late it comes, and a takeover waits for any commit in flight (its row lock) instead of racing it.

The lease is one row per zone group, so two pairs with disjoint zones can share a database.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from floorgate.edge.store.records import CommitFence

log = logging.getLogger(__name__)

_CREATE = """
CREATE TABLE IF NOT EXISTS edge_lease (
    zone_group TEXT PRIMARY KEY,
    epoch BIGINT NOT NULL,
    holder TEXT NOT NULL,
    http_url TEXT NOT NULL,
    taken_at DOUBLE PRECISION NOT NULL
)
"""
# The lock and, in the same round trip, who holds the lease now (for the standby's answers).
_TRY = text(
    "SELECT pg_try_advisory_lock(:key), lease.holder, lease.epoch, lease.http_url "
    "FROM (SELECT 1) AS one LEFT JOIN edge_lease AS lease ON lease.zone_group = :group"
)
# Taking the lease: the next epoch, and the edge that held the one before.
_TAKE = text(
    "WITH before AS (SELECT holder FROM edge_lease WHERE zone_group = :group) "
    "INSERT INTO edge_lease (zone_group, epoch, holder, http_url, taken_at) "
    "VALUES (:group, 1, :edge, :url, extract(epoch FROM now())) "
    "ON CONFLICT (zone_group) DO UPDATE SET epoch = edge_lease.epoch + 1, holder = excluded.holder, "
    "http_url = excluded.http_url, taken_at = excluded.taken_at "
    "RETURNING epoch, (SELECT holder FROM before)"
)
_EPOCH = text("SELECT epoch FROM edge_lease WHERE zone_group = :group")


class LeaseLost(Exception):
    """This edge no longer holds its pair's lease (or cannot tell that it does): it must stop driving."""


class LeaseUnavailable(Exception):
    """The database could not be asked about the lease (down, unreachable, refusing)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Holder:
    """The edge holding a lease, as the `edge_lease` row names it."""

    edge: str
    epoch: int
    http_url: str


def zone_group(site: str, zones: Sequence[str] | None) -> str:
    """The name of the zones a pair runs: its lease's row (every zone when `[edge] zones` is left out)."""
    return f"{site}:" + (",".join(sorted(zones)) if zones else "*")


class Lease:
    """One edge's side of its pair's lease. The blocking calls run in a worker thread, one at a time."""

    def __init__(
        self,
        engine: Engine,
        *,
        group: str,
        edge_id: str,
        http_url: str,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError(f"an active/standby pair needs a PostgreSQL store, not {engine.dialect.name}")
        self._engine = engine
        self.group = group
        self.edge_id = edge_id
        self._http_url = http_url
        self.timeout_s = timeout_s
        self._clock = clock
        digest = hashlib.sha256(f"floorgate-lease:{group}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)
        self._conn: Connection | None = None
        self.epoch: int | None = None
        """The epoch this edge holds the lease with; None while it does not hold it."""
        self.previous: str | None = None
        """The edge that held the lease before this edge took it."""
        self.active: Holder | None = None
        """Who held the lease when a standby last asked (for its answers to clients)."""
        self._confirmed_at: float | None = None
        self.took_s = 0.0
        """How long the last taking of the lease waited for the row (a commit in flight holds it)."""
        # One call on the lease's connection at a time: a confirmation given up on may still be running.
        self._calls = threading.Lock()

    def prepare(self) -> None:
        """Create the lease table if the store has none (both edges may race to: the loser retries)."""
        for attempt in (1, 2):
            try:
                with self._engine.begin() as conn:
                    conn.exec_driver_sql(_CREATE)
            except SQLAlchemyError as err:
                if attempt == 2:
                    raise LeaseUnavailable(f"cannot create the lease table: {err}") from err
            else:
                return

    def try_take(self) -> bool:
        """Take the lease if no edge holds it now; True when this edge is now the active one."""
        if self.epoch is not None:
            raise RuntimeError("the lease is held already")
        with self._calls:
            return self._try_take()

    def _try_take(self) -> bool:
        try:
            conn = self._connection()
            got, holder, epoch, url = conn.execute(_TRY, {"key": self.key, "group": self.group}).one()
            self.active = None if holder is None else Holder(edge=holder, epoch=int(epoch), http_url=url)
            if not got:
                return False
            started = self._clock()
            row = conn.execute(
                _TAKE, {"group": self.group, "edge": self.edge_id, "url": self._http_url}
            ).one()
            # The new epoch may have waited for a commit in flight (the row's lock): the lease counts from a
            # confirmation sent now, since PostgreSQL's idle timer starts only when the session waits.
            sent = self._clock()
            conn.execute(_EPOCH, {"group": self.group}).scalar()
        except SQLAlchemyError as err:
            self._drop()
            raise LeaseUnavailable(f"cannot ask the store about the lease: {err}") from err
        self.epoch, self.previous = int(row[0]), row[1]
        self._confirmed_at = sent
        self.took_s = sent - started
        self.active = Holder(edge=self.edge_id, epoch=self.epoch, http_url=self._http_url)
        return True

    def confirm(self) -> None:
        """Raise LeaseLost unless this edge still holds the lease: its session (so the lock) is alive and
        the row still holds its epoch. Each confirmation also keeps the session from counting as idle."""
        with self._calls:
            conn = self._conn
            if self.epoch is None or conn is None:
                raise LeaseLost("this edge does not hold the lease")
            sent = self._clock()
            try:
                epoch = conn.execute(_EPOCH, {"group": self.group}).scalar()
            except SQLAlchemyError as err:
                raise LeaseLost(f"the lease's session ended or cannot be reached: {err}") from err
            if epoch != self.epoch:
                raise LeaseLost(f"another edge took the lease (epoch {epoch}, this edge held {self.epoch})")
            self._confirmed_at = sent

    def since_confirmed(self) -> float:
        """Seconds since the last confirmation was sent (infinite when the lease is not held)."""
        confirmed = self._confirmed_at
        return float("inf") if self.epoch is None or confirmed is None else self._clock() - confirmed

    def may_drive(self) -> bool:
        """Whether this edge may drive the floor now: it holds the lease, confirmed less than the lease's
        timeout ago. PostgreSQL cannot end the session (freeing the lock) sooner than that after the
        confirmation was sent, so this holds without asking the database, even after a long pause."""
        return self.since_confirmed() < self.timeout_s

    def fence(self) -> CommitFence:
        """The check every commit of the writer runs first while this edge holds the lease."""
        if self.epoch is None:
            raise RuntimeError("the lease is not held")
        return CommitFence(
            sql="SELECT epoch FROM edge_lease WHERE zone_group = %s AND epoch = %s FOR SHARE",
            params=(self.group, self.epoch),
            refusal=f"edge {self.edge_id!r} lost its pair's lease (it held epoch {self.epoch}): another "
            "edge is active, and this one commits nothing more",
        )

    def release(self) -> None:
        """Let the lease go (the session ends, so the lock is free) and forget the epoch."""
        self.epoch = None
        self._confirmed_at = None
        self._drop()

    def _connection(self) -> Connection:
        if self._conn is None:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            timeout_ms = max(1, round(self.timeout_s * 1000))
            # The server ends this session when it falls silent for that long, which frees the lock.
            conn.exec_driver_sql(f"SET idle_session_timeout = {timeout_ms}")
            conn.exec_driver_sql(f"SET idle_in_transaction_session_timeout = {timeout_ms}")
            self._conn = conn
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        # Invalidated, not returned to the pool: closing the DB-API connection ends the session.
        with contextlib.suppress(Exception):
            conn.invalidate()
        with contextlib.suppress(Exception):
            conn.close()
