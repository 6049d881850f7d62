"""A real store (SQLite or PostgreSQL) and its running writer, on a wall clock the test sets: what the
writer stamps on what it commits (an order's `finished_at`, an event's `occurred_at`)."""

from __future__ import annotations

import asyncio
import time

from floorgate.edge.store import Store, make_engine
from floorgate.edge.writer import Writer
from tests.support.set_clock import SetClock

# The retention tests' calendar: work done 40 days ago (OLD), kept for 30 days (KEEP_S).
DAY = 86400.0
NOW = time.time()
OLD = NOW - 40 * DAY
KEEP_S = 30 * DAY


class ClockedWriter:
    """The store at `url` (its tables made if missing), read back, and its writer running on `clock`."""

    def __init__(self, url: str, now: float) -> None:
        self.url = url
        self.clock = SetClock(now)
        self.store = Store(make_engine(url))
        self.store.create_schema()
        loaded = self.store.load()
        self.writer = Writer(
            store=self.store,
            floor=loaded.floor,
            last_seq=loaded.last_seq,
            recent_inbound_ids=loaded.recent_inbound_ids,
            clock=self.clock,
        )
        self.task = asyncio.create_task(self.writer.run(), name="writer")

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        self.store.close()
