"""Live stream for dashboards: a snapshot, then coalesced deltas; a slow client never slows the edge.

The hub is a writer subscriber: after each commit it builds one delta and holds it for the next flush.
A flush (the next turn of the loop after a quiet spell, then at most one per coalescing window) merges the
deltas held and encodes them to JSON once, and hands every client a reference to that one text: sending it
is the only work done per client. A client that is behind gets the flushes it missed merged into one
message (every event, the latest state of each entity); one whose backlog is full is marked for resync and
gets a fresh snapshot instead, and one that falls that far behind again soon after is closed (TooFarBehind)
and resumes when it reconnects. Every message carries the KPIs (web/kpis.py) as of its flush; a ticker
(`run`) offers a small delta once a second so KPIs, rates and commands awaiting an ack move even on a quiet
floor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from floorgate.core.model import ExceptionStatus, OrderStatus
from floorgate.web.kpis import KpiTracker
from floorgate.web.ports import CommittedChange, FloorReads
from floorgate.web.sorting_views import wall_view, wall_views
from floorgate.web.task_views import count_view, live_count_views, live_putaway_views, putaway_view
from floorgate.web.views import (
    device_view,
    event_view,
    exception_view,
    location_view,
    order_view,
    pack_station_views,
)

log = logging.getLogger(__name__)

ACTIVE_ORDER_STATUSES = (OrderStatus.OPEN, OrderStatus.PICKING)


MERGES_KEPT = 8
# Open exceptions a snapshot carries at most (the newest); GET /exceptions pages through all of them.
SNAPSHOT_EXCEPTIONS = 500
# The events a new dashboard's feed starts with (its snapshot's `recent_events`), kept even while nobody
# watches: an edge that has just taken over, or started, has no client yet when its first events commit.
RECENT_EVENTS = 50
# Events kept for a KPI recount under way (a few seconds of a busy floor); past it the recount is dropped.
RECOUNT_BUFFER_EVENTS = 200_000


@dataclass(eq=False, slots=True)
class _Merged:
    """One coalesced message. It holds its deltas, so their ids (the cache key) are not reused meanwhile."""

    deltas: tuple[dict[str, Any], ...]
    message: dict[str, Any]
    text: str | None = None


def encode(message: dict[str, Any]) -> str:
    """A message as the stream sends it (as Starlette's send_json would)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


class TooFarBehind(Exception):
    """A client that fell behind again soon after a resync: it is closed, and resumes when it reconnects."""


@dataclass(eq=False)
class StreamClient:
    # The hub's flushed messages not yet sent to this client (shared with every other client), and how
    # many deltas they hold together: bounded by the hub's client_queue.
    backlog: deque[_Merged] = field(default_factory=deque)
    held: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    resync: bool = False
    dropped: int = 0
    resynced_at: float = -math.inf  # time.monotonic() of its last resync


# Keys of the entity lists a delta carries, and the field that identifies an entity in each.
ENTITY_KEYS: Mapping[str, str] = {
    "locations": "code",
    "orders": "order_id",
    "exceptions": "id",
    "devices": "id",
    "stations": "id",
    "walls": "id",
    "putaways": "task_id",
    "counts": "count_id",
}
# Events after which a put wall's view may have changed (a scan that lights a cubby changes its light).
WALL_EVENT_PREFIXES = ("batch.", "put.", "order.sort", "station.operator_signed_in")


@dataclass(kw_only=True, slots=True)
class HubStats:
    overflows: int = 0  # times a client's backlog was full: its backlog was dropped, a snapshot is owed
    resyncs: int = 0  # snapshots sent to clients that fell behind
    messages: int = 0  # messages handed to clients (snapshots and coalesced deltas)


@dataclass
class StreamHub:
    floor: FloorReads
    last_seq: Callable[[], int]
    # Deltas a client may have waiting (in flushes shared by every client); past it, a resync.
    client_queue: int = 256
    # At most one message per coalescing window; the first delta after a quiet spell goes out at once.
    coalesce_seconds: float = 0.05
    # A client that needs a second resync this soon after its last one is closed instead (it reconnects).
    drop_within_seconds: float = 30.0
    history: int = 2000
    # How long deltas are still kept after the last client left, so a dashboard whose connection blips
    # resumes from its seq instead of reloading everything.
    resume_grace_seconds: float = 60.0
    tick_seconds: float = 1.0
    clock: Callable[[], float] = time.time
    # module -> {"seq", "attempts", "age_s"}: light commands still waiting for an ack (from the PTL adapter)
    pending_commands: Callable[[], Mapping[str, Mapping[str, Any]]] = dict
    kpis: KpiTracker | None = None
    # While the shift's KPIs are being counted again from the event log (after a restart), the events
    # committed meanwhile are kept here too, to be added to the recounted tracker when it is adopted.
    # None when no recount is under way.
    _since_recount: list[tuple[str, Mapping[str, Any], float]] | None = None
    clients: set[StreamClient] = field(default_factory=set)
    stats: HubStats = field(default_factory=HubStats)
    _recent: deque[dict[str, Any]] = field(default_factory=deque)
    _recent_events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_EVENTS))
    # The seq of the last batch this hub saw committed. The writer's own counter runs ahead while a batch
    # is being committed; a snapshot must never claim a seq whose delta has not been sent yet.
    _committed_seq: int | None = None
    _stations_sent: dict[str, dict[str, Any]] = field(default_factory=dict)
    _unwatched_since: float | None = -math.inf  # no client has ever connected
    # Deltas offered since the last flush, and the flush that will send them (None: none scheduled).
    _pending: list[dict[str, Any]] = field(default_factory=list)
    _flush_handle: asyncio.Handle | None = None
    _last_flush: float = -math.inf  # time.monotonic()
    # Recent merges by the identities of the deltas merged, so clients behind by the same flushes share one.
    _merges: dict[tuple[int, ...], _Merged] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kpis is None:
            self.kpis = KpiTracker.current_shift(self.clock())

    @property
    def seq(self) -> int:
        return self.last_seq() if self._committed_seq is None else self._committed_seq

    def recount_kpis(self) -> None:
        """A recount of the shift from the event log has started: keep what commits until it is adopted."""
        self._since_recount = []

    def adopt_kpis(self, recounted: KpiTracker) -> None:
        """The shift counted from the event log up to the recount's start, plus what committed since."""
        recounted.record_all(self._since_recount or ())
        self._since_recount = None
        self.kpis = recounted

    def kpi_view(self) -> dict[str, Any]:
        assert self.kpis is not None
        return self.kpis.view(self.clock())

    def awaiting_ack(self) -> dict[str, dict[str, Any]]:
        return {module: dict(info) for module, info in self.pending_commands().items()}

    def device_views(self, device_ids: list[str] | None = None) -> list[dict[str, Any]]:
        floor = self.floor
        pending = self.pending_commands()
        now = self.clock()
        if device_ids is None:
            devices = sorted(floor.devices(), key=lambda d: d.id)
        else:
            devices = [device for device in map(floor.device, device_ids) if device is not None]
        return [device_view(floor, d, awaiting_ack=pending.get(d.id), now=now) for d in devices]

    def snapshot(self) -> dict[str, Any]:
        """The floor as a new dashboard starts from. Its size follows the site (locations, devices, open
        orders), not what publishers on the broker invent: unknown ids fold into one exception per kind
        (core/exception_book.py) and never become devices. Open exceptions are the newest
        SNAPSHOT_EXCEPTIONS all the same; `exceptions_omitted` says how many older ones were left out."""
        floor = self.floor
        open_exceptions = sorted(
            (x for x in floor.exceptions() if x.status is ExceptionStatus.OPEN), key=lambda x: x.id
        )
        shown = open_exceptions[-SNAPSHOT_EXCEPTIONS:]
        return {
            "type": "snapshot",
            "seq": self.seq,
            "zones": [{"id": z.id, "name": z.name or z.id} for z in floor.zones()],
            "locations": [location_view(floor, location) for location in floor.locations()],
            "orders": [order_view(o) for o in floor.orders() if o.status in ACTIVE_ORDER_STATUSES],
            "exceptions": [exception_view(x) for x in shown],
            "exceptions_omitted": len(open_exceptions) - len(shown),
            "devices": self.device_views(),
            "stations": pack_station_views(floor),
            "walls": wall_views(floor),
            "putaways": live_putaway_views(floor),
            "counts": live_count_views(floor),
            "awaiting_ack": self.awaiting_ack(),
            "kpis": self.kpi_view(),
            "recent_events": self.recent_events(50),
        }

    def recent_events(self, limit: int) -> list[dict[str, Any]]:
        """The last events this hub relayed, oldest first, so a new dashboard's feed starts full."""
        return list(self._recent_events)[-limit:] if limit > 0 else []

    def on_commit(self, committed: CommittedChange) -> None:
        floor = self.floor
        assert self.kpis is not None
        for record in committed.events:
            self.kpis.record(record.type, record.data, record.occurred_at)
        if self._since_recount is not None:
            if len(self._since_recount) + len(committed.events) > RECOUNT_BUFFER_EVENTS:
                # A recount that cannot keep up: the live count (since the start) is what is shown.
                log.warning("shift KPI recount abandoned: too many events committed meanwhile")
                self._since_recount = None
            else:
                self._since_recount.extend(
                    (record.type, record.data, record.occurred_at) for record in committed.events
                )
        if committed.events:
            self._committed_seq = committed.events[-1].seq
        events = [event_view(e) for e in committed.events]
        self._recent_events.extend(events)
        if (
            self._unwatched_since is not None
            and self.clock() - self._unwatched_since > self.resume_grace_seconds
        ):
            # Nobody to send a delta to, and nobody left to resume from these: a client that connects
            # later gets a snapshot. Building views of busy orders on every commit is the costliest
            # thing here, so an edge nobody watches does not pay for it.
            self._recent.clear()
            return
        codes = set(committed.locations)
        for module in committed.lights:
            code = floor.location_of_module(module)
            if code is not None:
                codes.add(code)
        # A confirmed line changes its order without the order itself being marked changed (the store
        # writes the line alone), so every order an event names is sent again too.
        order_ids = list(
            dict.fromkeys([*committed.orders, *(e.order_id for e in committed.events if e.order_id)])
        )
        delta: dict[str, Any] = {
            "type": "delta",
            "seq": self.seq,
            "events": events,
            "locations": [
                location_view(floor, location)
                for location in map(floor.location, sorted(codes))
                if location is not None
            ],
            "orders": [order_view(order) for order in map(floor.order, order_ids) if order is not None],
            "exceptions": [
                exception_view(exception)
                for exception in map(floor.exception, committed.exceptions)
                if exception is not None
            ],
            "devices": self.device_views(sorted(committed.devices)),
            "stations": self._changed_stations(),
            "walls": self._changed_walls(committed),
            "putaways": [putaway_view(p) for p in map(floor.putaway, committed.putaways) if p is not None],
            "counts": [count_view(c) for c in map(floor.count, committed.counts) if c is not None],
        }
        self._recent.append(delta)
        while len(self._recent) > self.history:
            self._recent.popleft()
        self._offer(delta)

    def _changed_stations(self) -> list[dict[str, Any]]:
        """Pack stations whose view changed since last sent: the live scale reading changes without an
        event, so the hub compares views (a site has a handful of pack stations) instead of trusting events.
        """
        changed = []
        for view in pack_station_views(self.floor):
            if self._stations_sent.get(view["id"]) != view:
                self._stations_sent[view["id"]] = view
                changed.append(view)
        return changed

    def _changed_walls(self, committed: CommittedChange) -> list[dict[str, Any]]:
        """The put walls a commit changed: those of its batch and put events, or of a cubby it lit."""
        walls = list(self.floor.walls())
        lit = set(committed.lights)
        touched = [
            wall
            for wall in walls
            if any(cubby in lit for cubby in wall.cubbies)
            or any(e.type.startswith(WALL_EVENT_PREFIXES) for e in committed.events)
        ]
        return [wall_view(self.floor, wall) for wall in touched]

    def tick(self) -> None:
        """Offer every client a small delta so rates and waiting acks move on a quiet floor too."""
        stations = self._changed_stations()
        if stations:
            # A state change a resuming client must not miss: kept like a commit's delta.
            self._recent.append({"type": "delta", "seq": self.seq, "events": [], "stations": stations})
        if self.clients:
            self._offer(
                {
                    "type": "delta",
                    "seq": self.seq,
                    "events": [],
                    "stations": stations,
                    "awaiting_ack": self.awaiting_ack(),
                }
            )

    async def run(self) -> None:
        """The ticker; runs until cancelled."""
        while True:
            await asyncio.sleep(self.tick_seconds)
            self.tick()

    def _offer(self, delta: dict[str, Any]) -> None:
        """Hold `delta` for the next flush, which sends it to every client. The first delta after a quiet
        spell is flushed on the next turn of the loop; after that at most one flush per coalescing window."""
        if not self.clients:
            return
        self._pending.append(delta)
        if self._flush_handle is not None:
            return
        loop = asyncio.get_running_loop()
        delay = self._last_flush + self.coalesce_seconds - time.monotonic()
        self._flush_handle = loop.call_later(delay, self._flush) if delay > 0 else loop.call_soon(self._flush)

    def _flush(self) -> None:
        """One message for every client: the pending deltas merged, and encoded to JSON, once. Each client
        only gets a reference to it; one whose backlog is full is marked for resync instead."""
        self._flush_handle = None
        self._last_flush = time.monotonic()
        deltas, self._pending = self._pending, []
        if not deltas or not self.clients:
            return
        merged = self._merged(deltas)
        merged.text = encode(merged.message)
        for client in self.clients:
            if client.resync:
                continue
            if client.held + len(deltas) > self.client_queue:
                # Never wait for a slow client: drop its backlog and send it a snapshot when it catches up.
                client.backlog.clear()
                client.held = 0
                client.resync = True
                client.dropped += 1
                self.stats.overflows += 1
            else:
                client.backlog.append(merged)
                client.held += len(deltas)
            client.wake.set()

    def since(self, after: int) -> list[dict[str, Any]] | None:
        """Deltas after `after` if the hub still holds all of them, else None (the client must resync)."""
        if after > self.seq:
            return None  # a seq this edge never committed (another edge's, or a wiped store): resync
        if after == self.seq:
            return []
        event_deltas = [d for d in self._recent if d["events"]]
        if not event_deltas or event_deltas[0]["events"][0]["seq"] > after + 1:
            return None
        return [d for d in self._recent if d["seq"] > after]

    def connect(self) -> StreamClient:
        client = StreamClient()
        self.clients.add(client)
        self._unwatched_since = None
        return client

    def disconnect(self, client: StreamClient) -> None:
        self.clients.discard(client)
        if not self.clients:
            self._unwatched_since = self.clock()

    async def next_message(self, client: StreamClient) -> dict[str, Any]:
        """The next message for this client: the deltas flushed since its last one, merged, or a snapshot.
        Raises TooFarBehind for a client that fell behind again soon after a resync."""
        taken = await self._take(client)
        if taken is None:
            return self._resync(client)
        return self._caught_up(taken).message

    async def next_text(self, client: StreamClient) -> str:
        """`next_message` as the JSON text to send. Every client that keeps up gets the text its flush
        encoded once for all of them; a client that is behind gets its waiting messages merged into one."""
        taken = await self._take(client)
        if taken is None:
            return encode(self._resync(client))
        merged = self._caught_up(taken)
        if merged.text is None:
            merged.text = encode(merged.message)
        return merged.text

    async def _take(self, client: StreamClient) -> list[_Merged] | None:
        """The flushed messages waiting for this client (at least one); None if it must resync."""
        while not client.backlog and not client.resync:
            client.wake.clear()
            await client.wake.wait()
        if client.resync:
            return None
        taken = list(client.backlog)
        client.backlog.clear()
        client.held = 0
        return taken

    def _caught_up(self, taken: list[_Merged]) -> _Merged:
        self.stats.messages += 1
        if len(taken) == 1:
            return taken[0]
        # Behind by several flushes: one message with every event and the latest state of each entity.
        return self._merged([delta for merged in taken for delta in merged.deltas])

    def _merged(self, deltas: list[dict[str, Any]]) -> _Merged:
        key = tuple(map(id, deltas))
        merged = self._merges.get(key)
        if merged is None:
            merged = _Merged(deltas=tuple(deltas), message={**merge_deltas(deltas), "kpis": self.kpi_view()})
            self._merges[key] = merged
            while len(self._merges) > MERGES_KEPT:
                del self._merges[next(iter(self._merges))]
        return merged

    def _resync(self, client: StreamClient) -> dict[str, Any]:
        client.backlog.clear()
        client.held = 0
        client.resync = False
        now = time.monotonic()
        if now - client.resynced_at < self.drop_within_seconds:
            raise TooFarBehind(f"fell behind twice within {self.drop_within_seconds:g} s")
        client.resynced_at = now
        self.stats.resyncs += 1
        self.stats.messages += 1
        return self.snapshot()


def merge_deltas(deltas: list[dict[str, Any]]) -> dict[str, Any]:
    """One delta equivalent to applying `deltas` in order: all events, the latest state of each entity."""
    merged: dict[str, Any] = {"type": "delta", "seq": max(d["seq"] for d in deltas), "events": []}
    keyed: dict[str, dict[Any, Any]] = {part: {} for part in ENTITY_KEYS}
    for delta in deltas:
        merged["events"].extend(delta["events"])
        for part, index in keyed.items():
            for entry in delta.get(part, ()):
                key = entry[ENTITY_KEYS[part]]
                index.pop(key, None)  # re-insert: the latest change of an entity goes last
                index[key] = entry  # the later state of an entity wins
        if "awaiting_ack" in delta:
            merged["awaiting_ack"] = delta["awaiting_ack"]  # a whole map each time: the latest wins
    for part, index in keyed.items():
        merged[part] = list(index.values())
    return merged


async def cancel_quietly(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
