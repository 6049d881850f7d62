"""The single writer: the one task that changes the floor, committing each batch in one transaction.

Adapters and the API put commands on a bounded queue. The writer takes a batch, applies each command to
the in-memory floor, writes the resulting state, events and inbound ids in ONE transaction, and only then
hands light instructions and deltas to its subscribers. Nothing is shown on the floor that a power cut
could take back, and one fsync is shared by the whole batch.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from floorgate.core.commands import Command, PressButton, RaiseException
from floorgate.core.errors import CommandRejected
from floorgate.core.exception_book import UNKNOWN_DEVICES_LISTED, UNLISTED_DEVICES, is_folded
from floorgate.core.floor import Floor, Outcome
from floorgate.core.instructions import Instruction
from floorgate.edge.store import (
    Batch,
    EventRecord,
    Store,
    StoreError,
    StoreFailure,
    batch_rows,
)
from floorgate.edge.store.ids import new_event_id
from floorgate.edge.webhooks.deliveries import DELIVERIES
from floorgate.edge.webhooks.outbox import EndpointRegistry
from floorgate.edge.writer_stats import WriterStats

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# Batches of up to this many rows (every press on a working floor) are committed on the event loop's own
# thread. Handing such a commit to a worker thread cost more than the commit: the wake-ups both ways, and
# the worker taking the GIL back after every SQLite step while the loop held it. Press -> light p99 at
# 500 presses/s fell from 17 ms to 10 ms with this (docs/benchmarks.md). Larger batches (an import, a
# backlog after an outage) go to a worker thread, so the API and the dashboards are not held up by their SQL.
INLINE_COMMIT_ROWS = 500

# How much of a command set aside (see `Writer._commit_alone`) its exception keeps, as ASCII.
UNSTORABLE_DETAIL_CHARS = 4000


class WriterUnavailable(Exception):
    """The writer cannot take work now (the store is failing, or it is shutting down)."""

    def __init__(self, message: str, *, store_failure: StoreError | None = None) -> None:
        super().__init__(message)
        self.store_failure = store_failure


class CommandUnstorable(Exception):
    """The command made a value the store refuses; it was kept as exception `exception_id` instead."""

    def __init__(self, failure: StoreError, *, exception_id: int | None) -> None:
        where = f"; it is kept as exception {exception_id}" if exception_id is not None else ""
        super().__init__(f"this could not be stored ({failure}){where}")
        self.failure = failure
        self.exception_id = exception_id


class UnstorableBatch(Exception):
    """A batch the store refused for what it holds; committing it again cannot succeed."""

    def __init__(self, failure: StoreError) -> None:
        super().__init__(str(failure))
        self.failure = failure


def _device_of(command: Command) -> str | None:
    for name in ("device", "module", "scanner", "scale"):
        value = getattr(command, name, None)
        if isinstance(value, str):
            return _storable(value)
    return None


def _storable(text: str) -> str:
    """Text any store can hold: what UTF-8 cannot encode (a lone surrogate) and NUL written as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


@dataclass(frozen=True, kw_only=True, slots=True)
class Committed:
    """What one committed batch changed, for whoever shows or relays it."""

    events: list[EventRecord]
    instructions: list[Instruction]
    lights: list[str]
    orders: list[str]
    devices: list[str]
    exceptions: list[int]
    locations: list[str]
    putaways: list[str] = field(default_factory=list)
    # Counts that changed, or one of whose bins did.
    counts: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, slots=True)
class Applied:
    """The result of one command the caller waited for: its outcome and the events as logged."""

    outcome: Outcome
    events: list[EventRecord]


Subscriber = Callable[[Committed], None]


@dataclass(kw_only=True, slots=True)
class _Pending:
    command: Command
    reply: asyncio.Future[Applied] | None
    # Called once the command is settled: committed, or judged a duplicate, rejected or failed. The MQTT
    # link acknowledges the device's message only then, so the broker keeps it until it is safe.
    on_commit: Callable[[], None] | None = None
    outcome: Outcome | None = None
    records: list[EventRecord] = field(default_factory=list)
    counted: bool = False  # in WriterStats.commands: once, however often it is applied again
    received: float = 0.0  # perf_counter() when a device handed it in (press -> light starts here)


class Writer:
    def __init__(
        self,
        *,
        store: Store,
        floor: Floor,
        last_seq: int,
        recent_inbound_ids: list[str] | None = None,
        clock: Callable[[], float] = time.time,
        max_batch: int = 1000,
        queue_size: int = 20_000,
        remember_inbound: int = 200_000,
        outbox: EndpointRegistry | None = None,
        inline_commit_rows: int = INLINE_COMMIT_ROWS,
        retain_finished_s: float | None = None,
    ) -> None:
        self.store = store
        self._inline_commit_rows = inline_commit_rows
        self.retain_finished_s = retain_finished_s
        self.floor = floor
        self.stats = WriterStats()
        self._seq = last_seq
        self._clock = clock
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=queue_size)
        self._remember = remember_inbound
        self._seen: OrderedDict[str, None] = OrderedDict(
            (i, None) for i in reversed(recent_inbound_ids or [])
        )
        self._subscribers: list[Subscriber] = []
        # kind -> how much the log has said about unknown device ids folding into that kind (see below)
        self._folds_said: dict[str, int] = {}
        self.outbox = outbox or EndpointRegistry()
        # While commits fail: why, since when (wall clock), and how many events the held batch carries.
        self.store_failure: StoreError | None = None
        # The store's write-ahead log is kept between batches (SQLite: `floorgate.edge.store.checkpoint`).
        self._log = store.checkpoint_policy()
        self.store_failing_since: float | None = None
        self.held_events = 0
        self._store_failed = asyncio.Event()
        # Held while a batch is processed, and by a chore (`chore`): the two never overlap.
        self._turn = asyncio.Lock()

    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def subscribe(self, subscriber: Subscriber) -> None:
        """Called after every commit, on the event loop; must not block."""
        self._subscribers.append(subscriber)

    async def submit(self, command: Command, *, on_commit: Callable[[], None] | None = None) -> None:
        """Queue a device command; waiting for room is the backpressure on a busy floor."""
        received = time.perf_counter()
        self.stats.count_device_message(command)
        await self._queue.put(_Pending(command=command, reply=None, on_commit=on_commit, received=received))

    async def execute(self, command: Command) -> Applied:
        """Apply a command and wait until it is committed. Raises CommandRejected, WriterUnavailable or
        CommandUnstorable (set aside as an exception: see `_commit_alone`)."""
        if self.store_failure is not None:
            raise WriterUnavailable(str(self.store_failure), store_failure=self.store_failure)
        reply: asyncio.Future[Applied] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(command=command, reply=reply))
        return await reply

    async def chore(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `work` in a worker thread on the writer's turn, between two batches: store upkeep that
        writes (the event log's retention) then never holds the write lock while a press is committed.
        Presses arriving meanwhile wait and are committed together right after it, so keep it short."""
        if self.store_failure is not None:
            raise WriterUnavailable(str(self.store_failure), store_failure=self.store_failure)
        async with self._turn:
            return await asyncio.to_thread(work, *args, **kwargs)

    async def read_committed(self, read: Callable[[Floor], T]) -> T:
        """`read(floor)` between two batches, on the event loop: the floor then holds only what is committed
        (mid-batch it is ahead of the store). While commits fail this waits until the held batch is in."""
        async with self._turn:
            return read(self.floor)

    async def run(self) -> None:
        while True:
            await self._log.tend(idle=self._queue.empty())
            self.stats.wal_pages = self._log.log_pages
            try:
                # While a checkpoint is owed, wait for work no longer than until the next step is due.
                async with asyncio.timeout(self._log.wait()):
                    first = await self._queue.get()
            except TimeoutError:
                continue
            batch = [first]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            async with self._turn:
                await self._process(batch)
            # A small batch commits without leaving the loop's thread; before the next, let the loop send
            # what this one lit and read what came in, or a deep queue would starve both.
            await asyncio.sleep(0)

    async def _process(self, batch: list[_Pending]) -> None:
        now = self._clock()
        applied = self._apply(batch, now)
        try:
            await self._commit_applied(applied, batch, now)
        except UnstorableBatch as err:
            # Something in the batch made a value the store refuses; the same batch would fail for ever and
            # stop the floor. Each command is committed alone instead, to find the one(s) that cannot be.
            log.warning(
                "the store refused a batch; committing its commands one by one",
                extra={"commands": len(applied), "error": str(err.failure)},
            )
            alone = {id(p) for p in applied}
            self._reload_floor(applied)
            for pending in applied:
                await self._commit_alone(pending, now)
            for pending in batch:
                if id(pending) not in alone and pending.on_commit is not None:
                    pending.on_commit()  # the duplicates, rejected and failed ones: answered already

    async def _commit_alone(self, pending: _Pending, now: float) -> None:
        applied = self._apply([pending], now)
        try:
            await self._commit_applied(applied, [pending], now)
        except UnstorableBatch as err:
            failure = err.failure
        else:
            return
        self._reload_floor(applied)
        self.stats.unstorable += 1
        command = pending.command
        # Nothing is lost: the command itself (as ASCII, so the store can hold it) becomes an exception
        # for a supervisor, committed with its message id, and only then is its message acknowledged.
        stand_in = _Pending(
            command=RaiseException(
                message_id=None if command.message_id is None else _storable(command.message_id),
                kind="unstorable_command",
                message=_storable(f"{type(command).__name__} was set aside: {failure}"),
                device=_device_of(command),
                detail={
                    "command": ascii(command)[:UNSTORABLE_DETAIL_CHARS],
                    "error": _storable(str(failure)),
                },
                separate=True,
            ),
            reply=None,
            on_commit=pending.on_commit,
            counted=True,  # it stands in for a command already counted
        )
        applied = self._apply([stand_in], now)
        log.error(
            "a command made a value the store refuses; it is kept as an exception instead",
            extra={
                "command": type(command).__name__,
                "message_id": command.message_id,
                "error": str(failure),
            },
        )
        # If even that cannot be stored, the store itself is at fault: held and retried like an outage.
        await self._commit_applied(applied, [stand_in], now, refuse_unstorable=False)
        if pending.reply is not None and not pending.reply.done():
            raised = [r.data.get("exception_id") for r in stand_in.records if r.type == "exception.raised"]
            pending.reply.set_exception(CommandUnstorable(failure, exception_id=next(iter(raised), None)))

    async def _commit_applied(
        self, applied: list[_Pending], batch: list[_Pending], now: float, *, refuse_unstorable: bool = True
    ) -> None:
        rows = batch_rows(self.floor)
        records = [r for p in applied for r in p.records]
        rows.events = records
        # The outbox: each matching endpoint's delivery is written in the same transaction as its event.
        rows.add(DELIVERIES, self.outbox.delivery_rows(records, now))
        rows.inbound_ids = [(p.command.message_id, now) for p in applied if p.command.message_id]
        changes = self.floor.changes
        committed = Committed(
            events=records,
            instructions=[i for p in applied if p.outcome for i in p.outcome.instructions],
            lights=list(changes.lights),
            orders=list(changes.orders),
            devices=list(changes.devices),
            exceptions=list(changes.exceptions),
            locations=list(changes.locations),
            putaways=list(changes.putaways),
            counts=list(dict.fromkeys([*changes.counts, *(count for count, _ in changes.count_bins)])),
        )
        started = time.perf_counter()
        await self._commit(rows, batch, refuse_unstorable=refuse_unstorable)
        changes.clear()
        self.stats.batches += 1
        self._log.committed(rows.row_count)
        self.stats.last_batch_size = len(batch)
        self.stats.last_commit_seconds = time.perf_counter() - started
        self.stats.commit_seconds.observe(self.stats.last_commit_seconds)
        self.stats.events += len(records)
        for pending in batch:
            if pending.reply is not None and not pending.reply.done() and pending.outcome is not None:
                pending.reply.set_result(Applied(outcome=pending.outcome, events=pending.records))
            if pending.on_commit is not None:
                pending.on_commit()
        for subscriber in self._subscribers:
            try:
                subscriber(committed)
            except Exception:  # a broken consumer must not stop the floor; the commit already happened
                log.exception("subscriber %r failed after commit", subscriber)
        # The subscribers have handed the batch's light commands to the MQTT link: each press is answered.
        lit_at = time.perf_counter()
        for pending in applied:
            if pending.received and type(pending.command) is PressButton:
                self.stats.press_to_light.observe(lit_at - pending.received)
        self._say_folds_once(committed.exceptions)

    def _say_folds_once(self, exception_ids: list[int]) -> None:
        """Reports from device ids the floor does not know fold into one exception per kind
        (core/exception_book.py), so a flood of invented ids grows no state. The log says so once per kind
        when the first folds, and once more when there are more ids than the exception lists: never once
        per message, which would let the flood grow the log instead."""
        for exception_id in exception_ids:
            exception = self.floor.exceptions.get(exception_id)
            if exception is None or not is_folded(exception):
                continue
            stage = 2 if exception.detail.get(UNLISTED_DEVICES) else 1
            if self._folds_said.get(exception.kind, 0) >= stage:
                continue
            self._folds_said[exception.kind] = stage
            log.warning(
                "reports from unknown device ids fold into one exception of their kind (said once)"
                if stage == 1
                else f"more unknown device ids than the exception lists: it keeps the latest "
                f"{UNKNOWN_DEVICES_LISTED} and counts the rest (said once)",
                extra={"kind": exception.kind, "exception_id": exception.id, "device": exception.device},
            )

    def _apply(self, batch: list[_Pending], now: float) -> list[_Pending]:
        applied: list[_Pending] = []
        for index, pending in enumerate(batch):
            command = pending.command
            if not pending.counted:
                pending.counted = True
                self.stats.commands += 1
            message_id = command.message_id
            if message_id is not None and message_id in self._seen:
                self.stats.duplicates += 1
                if pending.reply is not None and not pending.reply.done():
                    pending.reply.set_result(Applied(outcome=Outcome(reply={"duplicate": True}), events=[]))
                continue
            try:
                self._note_retired(command)
                outcome = self.floor.handle(command, now)
            except CommandRejected as rejected:
                self.stats.rejected += 1
                if pending.reply is not None and not pending.reply.done():
                    pending.reply.set_exception(rejected)
                continue
            except StoreError as err:
                # The order the command names had to be read from the store (the floor has let go of
                # it) and could not be; the floor is untouched, so only this command is refused.
                self.stats.rejected += 1
                if pending.reply is not None and not pending.reply.done():
                    pending.reply.set_exception(WriterUnavailable(str(err), store_failure=err))
                continue
            except Exception as err:
                # A bug in a rule must not take the edge down on device input. The command may have half
                # changed the floor, so the floor is rebuilt from the store and the batch applied again
                # without it.
                self.stats.failed += 1
                log.exception("command failed: %s", type(command).__name__, extra={"command": repr(command)})
                if pending.reply is not None and not pending.reply.done():
                    pending.reply.set_exception(err)
                return self._reapply_after_failure(applied, batch[index + 1 :], now)
            if message_id is not None:
                self._remember_id(message_id)
            pending.outcome = outcome
            pending.records = self._records(outcome, now)
            applied.append(pending)
        return applied

    def _note_retired(self, command: Command) -> None:
        """Tell the floor about the order the command names if the floor has retired it: only the store
        holds it then (StoreError if the store cannot say). Without it, its id would start a new order."""
        order_id = self.floor.unheld_order(command)
        retired = None if order_id is None else self.store.retired_order(order_id)
        if retired is not None:
            self.floor.note_retired(retired)

    def retire_before(self) -> float | None:
        """Orders finished before this (wall clock) leave memory; None: they never do."""
        return None if self.retain_finished_s is None else self._clock() - self.retain_finished_s

    def _reapply_after_failure(
        self, applied: list[_Pending], remaining: list[_Pending], now: float
    ) -> list[_Pending]:
        self._reload_floor(applied)
        return self._apply([*applied, *remaining], now)

    def _reload_floor(self, applied: list[_Pending]) -> None:
        """Back to the floor as committed: what `applied` did to it in memory (not stored) is undone."""
        loaded = self.store.load(retire_before=self.retire_before())
        self.floor = loaded.floor
        self._seq = loaded.last_seq
        for pending in applied:
            if pending.command.message_id is not None:
                self._seen.pop(pending.command.message_id, None)
            pending.outcome = None
            pending.records = []

    def _records(self, outcome: Outcome, now: float) -> list[EventRecord]:
        records = []
        for event in outcome.events:
            self._seq += 1
            records.append(
                EventRecord(
                    seq=self._seq,
                    id=new_event_id(now),
                    type=event.TYPE,
                    occurred_at=now,
                    order_id=event.order_id,
                    data=event.payload(),
                )
            )
        return records

    def _remember_id(self, message_id: str) -> None:
        self._seen[message_id] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)

    async def _commit(self, rows: Batch, batch: list[_Pending], *, refuse_unstorable: bool = True) -> None:
        """Commit, retrying while the store fails: the batch is held, new API work is refused meanwhile.

        Device messages in the batch and in the queue stay unacknowledged, so the broker keeps them; a
        request still in the queue is answered WriterUnavailable at once rather than left waiting. A batch
        the store refuses for what it holds (not for the state it is in) raises UnstorableBatch instead.
        """
        delay = 0.05
        relieved = False
        while True:
            try:
                failed_before = relieved or self.store_failure is not None
                if failed_before and await asyncio.to_thread(self.store.holds, rows):
                    log.warning("the held batch had reached the store before its commit failed")
                elif rows.row_count <= self._inline_commit_rows:
                    self.store.commit(rows)
                else:
                    await asyncio.to_thread(self.store.commit, rows)
            except StoreError as err:
                if refuse_unstorable and err.cause is StoreFailure.UNSTORABLE:
                    raise UnstorableBatch(err) from err
                if not relieved and self.store_failure is None and await self._log.relieve(err):
                    relieved = True  # the log's own file made room: tried again at once, no outage
                    continue
                self._store_failing(err, held_events=len(rows.events))
                try:
                    await self._log.relieve(err)  # a full disk: the log's own file may make room
                    await asyncio.sleep(delay * (0.5 + random.random()))
                except asyncio.CancelledError:
                    # Stopped while the store fails: the batch is certainly not on disk, so the requests in
                    # it are told so instead of losing their connection (devices' messages stay unacked).
                    _refuse(batch, WriterUnavailable(f"the edge stopped before it could commit this: {err}"))
                    raise
                delay = min(delay * 2, 5.0)
                continue
            if self.store_failure is not None:
                self._store_recovered()
            return

    def _store_failing(self, err: StoreError, *, held_events: int) -> None:
        self.stats.commit_failures += 1
        previous = self.store_failure
        first = previous is None
        if previous is None or err.cause != previous.cause:
            # Once per outage (and when its cause changes), never once per retry.
            log.error(
                "store commits fail; holding the batch, refusing new work and retrying",
                extra={
                    "cause": err.cause.value,
                    "store": err.location,
                    "held_events": held_events,
                    "error": str(err),
                },
            )
        if first:
            self.store_failing_since = self._clock()
        self.store_failure = err
        self.held_events = held_events
        self._store_failed.set()
        self._refuse_queued_requests(err)

    def _store_recovered(self) -> None:
        failure, since = self.store_failure, self.store_failing_since
        log.warning(
            "store commits work again; the held batch is committed",
            extra={
                "cause": failure.cause.value if failure else None,
                "store": failure.location if failure else None,
                "held_events": self.held_events,
                "down_s": round(self._clock() - since, 3) if since is not None else None,
            },
        )
        self.store_failure = None
        self.store_failing_since = None
        self.held_events = 0
        self._store_failed.clear()

    def _refuse_queued_requests(self, err: StoreError) -> None:
        """Answer the API requests still waiting in the queue: not applied, so refusing them is the truth.

        Device commands keep their place and order; their messages stay unacknowledged at the broker.
        """
        queued: list[_Pending] = []
        while not self._queue.empty():
            queued.append(self._queue.get_nowait())
        _refuse(queued, WriterUnavailable(str(err), store_failure=err))
        for pending in queued:
            if pending.reply is None:
                self._queue.put_nowait(pending)

    async def store_failed(self) -> StoreError:
        """Wait until a commit fails; the failure it reported."""
        while self.store_failure is None:
            await self._store_failed.wait()
        return self.store_failure


def _refuse(pendings: list[_Pending], refusal: WriterUnavailable) -> None:
    for pending in pendings:
        if pending.reply is not None and not pending.reply.done():
            pending.reply.set_exception(refusal)
