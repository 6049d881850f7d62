"""Live stream for dashboards: a snapshot, then coalesced deltas; a slow client never slows the edge.

The hub is a writer subscriber: after each commit it builds one delta and offers it to every client's
bounded queue without waiting. A client whose queue is full is marked for resync and gets a fresh
snapshot instead of the deltas it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.floor import Floor
from core.model import ExceptionStatus, OrderStatus
from edge.writer import Committed
from web.views import event_view, exception_view, location_view, order_view

log = logging.getLogger(__name__)

ACTIVE_ORDER_STATUSES = (OrderStatus.OPEN, OrderStatus.PICKING)


@dataclass(eq=False)
class StreamClient:
    queue: asyncio.Queue[dict[str, Any]]
    resync: bool = False
    dropped: int = 0


@dataclass
class StreamHub:
    floor: Callable[[], Floor]
    last_seq: Callable[[], int]
    client_queue: int = 256
    coalesce_seconds: float = 0.1
    history: int = 2000
    clients: set[StreamClient] = field(default_factory=set)
    _recent: deque[dict[str, Any]] = field(default_factory=deque)

    def snapshot(self) -> dict[str, Any]:
        floor = self.floor()
        return {
            "type": "snapshot",
            "seq": self.last_seq(),
            "zones": [{"id": z.id, "name": z.name or z.id} for z in floor.zones.values()],
            "locations": [location_view(floor, code) for code in floor.locations],
            "orders": [order_view(o) for o in floor.orders.values() if o.status in ACTIVE_ORDER_STATUSES],
            "exceptions": [
                exception_view(x) for x in floor.exceptions.values() if x.status is ExceptionStatus.OPEN
            ],
            "devices": [
                {"id": d.id, "kind": d.kind, "online": d.online, "last_seen": d.last_seen}
                for d in floor.devices.values()
            ],
            "recent_events": self.recent_events(50),
        }

    def recent_events(self, limit: int) -> list[dict[str, Any]]:
        """The last events this hub relayed, oldest first, so a new dashboard's feed starts full."""
        found: list[dict[str, Any]] = []
        for delta in reversed(self._recent):
            found.extend(reversed(delta["events"]))
            if len(found) >= limit:
                break
        return list(reversed(found[:limit]))

    def on_commit(self, committed: Committed) -> None:
        floor = self.floor()
        codes = set(committed.locations)
        for module in committed.lights:
            code = floor.location_of_module(module)
            if code is not None:
                codes.add(code)
        delta: dict[str, Any] = {
            "type": "delta",
            "seq": committed.events[-1].seq if committed.events else self.last_seq(),
            "events": [event_view(e) for e in committed.events],
            "locations": [location_view(floor, c) for c in sorted(codes) if c in floor.locations],
            "orders": [order_view(floor.orders[o]) for o in committed.orders if o in floor.orders],
            "exceptions": [
                exception_view(floor.exceptions[x]) for x in committed.exceptions if x in floor.exceptions
            ],
            "devices": [
                {"id": d.id, "kind": d.kind, "online": d.online, "last_seen": d.last_seen}
                for d in (floor.devices[k] for k in committed.devices if k in floor.devices)
            ],
        }
        self._recent.append(delta)
        while len(self._recent) > self.history:
            self._recent.popleft()
        for client in self.clients:
            if client.resync:
                continue
            try:
                client.queue.put_nowait(delta)
            except asyncio.QueueFull:
                # Never wait for a slow client: drop its backlog and send it a snapshot when it catches up.
                client.resync = True
                client.dropped += 1

    def since(self, after: int) -> list[dict[str, Any]] | None:
        """Deltas after `after` if the hub still holds all of them, else None (the client must resync)."""
        if after >= self.last_seq():
            return []
        event_deltas = [d for d in self._recent if d["events"]]
        if not event_deltas or event_deltas[0]["events"][0]["seq"] > after + 1:
            return None
        return [d for d in self._recent if d["seq"] > after]

    def connect(self) -> StreamClient:
        client = StreamClient(queue=asyncio.Queue(maxsize=self.client_queue))
        self.clients.add(client)
        return client

    def disconnect(self, client: StreamClient) -> None:
        self.clients.discard(client)

    async def next_message(self, client: StreamClient) -> dict[str, Any]:
        """The next message for this client: deltas merged over the coalescing window, or a snapshot."""
        first = await client.queue.get()
        if client.resync:
            return self._resync(client)
        await asyncio.sleep(self.coalesce_seconds)  # the coalescing window: at most ~10 messages a second
        if self._overflowed(client):
            return self._resync(client)
        merged = [first]
        while not client.queue.empty():
            merged.append(client.queue.get_nowait())
        return merge_deltas(merged)

    @staticmethod
    def _overflowed(client: StreamClient) -> bool:
        return client.resync

    def _resync(self, client: StreamClient) -> dict[str, Any]:
        while not client.queue.empty():
            client.queue.get_nowait()
        client.resync = False
        return self.snapshot()


def merge_deltas(deltas: list[dict[str, Any]]) -> dict[str, Any]:
    if len(deltas) == 1:
        return deltas[0]
    merged: dict[str, Any] = {"type": "delta", "seq": deltas[-1]["seq"], "events": []}
    keyed: dict[str, dict[Any, Any]] = {"locations": {}, "orders": {}, "exceptions": {}, "devices": {}}
    keys = {"locations": "code", "orders": "order_id", "exceptions": "id", "devices": "id"}
    for delta in deltas:
        merged["events"].extend(delta["events"])
        for part, index in keyed.items():
            for entry in delta[part]:
                index[entry[keys[part]]] = entry  # the later state of an entity wins
    for part, index in keyed.items():
        merged[part] = list(index.values())
    return merged


async def cancel_quietly(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
