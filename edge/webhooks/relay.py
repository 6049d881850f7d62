"""The webhook relay: sends every outbox delivery, signed, until the receiver takes it. Never drops one.

One worker per endpoint. Each round it reads the endpoint's oldest pending deliveries and sends the due
ones lane by lane (an order's events go out one after another in seq order, each once the previous one
was taken; events of different orders go out concurrently), and writes the outcomes in one
transaction. Requests go over the relay's own keep-alive HTTP/1.1 client (edge/webhook_http.py), or
httpx where only httpx will do. Failures back off exponentially with jitter over hours;
429/502/503/504 pause the whole endpoint (honouring Retry-After); 410 Gone disables the endpoint and
raises an exception for a person. After the last attempt a delivery is `failed`: counted, listed, and
replayable; later events of its order wait so the order stays in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from floorgate.edge.store import StoreError
from floorgate.edge.webhooks import signing as webhook_signing
from floorgate.edge.webhooks.deliveries import DELIVERED, FAILED, PENDING, DeliveryStore, DueDelivery
from floorgate.edge.webhooks.http import (
    HttpAnswer,
    HttpFailure,
    KeepAliveClient,
    needs_httpx,
    post_with_httpx,
)
from floorgate.edge.webhooks.outbox import Endpoint, EndpointRegistry

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

THROTTLE_STATUSES = frozenset({429, 502, 503, 504})
# A round starts no new send after this long: its outcomes are then written, so progress shows and a
# crash sends again at most a round's worth of deliveries (at least once, never lost).
ROUND_SECONDS = 1.0


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    max_attempts: int = 16  # with the defaults: about 5 hours from the first try to `failed`
    base_delay: float = 1.0
    max_delay: float = 3600.0
    timeout: float = 10.0
    concurrency: int = 16
    window: int = 1000
    max_retry_after: float = 3600.0

    def delay(self, attempts: int, rng: random.Random) -> float:
        """Exponential backoff with jitter: spread retries so a recovering ERP is not hit all at once."""
        raw = min(self.max_delay, self.base_delay * 2 ** max(0, attempts - 1))
        return float(raw * rng.uniform(0.5, 1.0))


@dataclass(kw_only=True, slots=True)
class RelayStats:
    delivered: int = 0
    attempts_failed: int = 0
    failed: int = 0
    throttled: int = 0
    gone: int = 0
    rounds: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Attempt:
    delivered: bool = False
    status_code: int | None = None
    error: str | None = None
    throttle_for: float | None = None
    gone: bool = False


def body_of(delivery: DueDelivery) -> bytes:
    payload = {
        "type": delivery.event_type,
        "timestamp": _iso(delivery.occurred_at),
        "data": delivery.data,
        "seq": delivery.event_seq,
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=False).encode()


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Retry-After as delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


GoneCallback = Callable[[Endpoint, str], Awaitable[None]]


@dataclass(eq=False)
class _Worker:
    endpoint_id: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    # Outcomes of attempts made but not yet written, because the store could not write: written before
    # anything is sent again, so a receiver is not sent the same deliveries on every retry.
    unrecorded: list[dict[str, Any]] = field(default_factory=list)


class WebhookRelay:
    def __init__(
        self,
        *,
        deliveries: DeliveryStore,
        registry: EndpointRegistry,
        on_gone: GoneCallback,
        policy: RetryPolicy | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._deliveries = deliveries
        self._registry = registry
        self._on_gone = on_gone
        self.policy = policy or RetryPolicy()
        self._client = client
        self._keepalive: KeepAliveClient | None = None
        self._clock = clock
        self._rng = rng or random.Random()
        self.stats = RelayStats()
        self._workers: dict[str, _Worker] = {}
        self._throttled_until: dict[str, float] = {}
        self._changed = asyncio.Event()
        self.store_failure: StoreError | None = None
        """Set while the store cannot read or write deliveries (logged once per outage)."""

    def wake(self) -> None:
        """New deliveries were committed, or an endpoint changed: every worker looks again."""
        self._changed.set()
        for worker in self._workers.values():
            worker.wake.set()

    async def run(self) -> None:
        import httpx  # imported here, after the start's lights: it takes a tenth of a second

        limits = httpx.Limits(max_connections=self.policy.concurrency * 4, max_keepalive_connections=32)
        async with contextlib.AsyncExitStack() as stack:
            if self._client is None:
                # Our own keep-alive client for plain requests; httpx for what it alone does here.
                self._keepalive = KeepAliveClient()
                stack.push_async_callback(self._keepalive.aclose)
                self._client = await stack.enter_async_context(
                    httpx.AsyncClient(
                        limits=limits, follow_redirects=False, headers={"user-agent": "FloorGate"}
                    )
                )
            try:
                while True:
                    self._changed.clear()
                    self._sync_workers()
                    await self._changed.wait()
            finally:
                tasks = [w.task for w in self._workers.values() if w.task is not None]
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    def _sync_workers(self) -> None:
        wanted = {e.id for e in self._registry.all()}
        for endpoint_id in wanted - set(self._workers):
            worker = _Worker(endpoint_id=endpoint_id)
            worker.task = asyncio.create_task(self._serve(worker), name=f"webhooks {endpoint_id}")
            self._workers[endpoint_id] = worker

    async def _serve(self, worker: _Worker) -> None:
        endpoint_id = worker.endpoint_id
        backoff_on_store = 0.5
        while True:
            worker.wake.clear()
            endpoint = self._registry.get(endpoint_id)
            if endpoint is None or not endpoint.enabled:
                await worker.wake.wait()
                continue
            now = self._clock()
            paused = self._throttled_until.get(endpoint_id, 0.0) - now
            if paused > 0:
                await self._sleep_or_wake(worker, paused)
                continue
            try:
                if worker.unrecorded:
                    await asyncio.to_thread(self._deliveries.record, worker.unrecorded)
                    worker.unrecorded = []
                due, next_at = await asyncio.to_thread(self._plan, endpoint_id, now)
                self._store_works()
                if not due:
                    await self._sleep_or_wake(worker, next_at - now if next_at != math.inf else None)
                    continue
                await self._round(endpoint, due, worker)
                backoff_on_store = 0.5
            except StoreError as err:
                # The store is failing (disk full, read-only): the deliveries are still on disk and the
                # outcomes of a round are held; nothing is sent again until they are written.
                self._store_failing(err, endpoint_id)
                await self._sleep_or_wake(worker, backoff_on_store)
                backoff_on_store = min(backoff_on_store * 2, 30.0)

    def _store_failing(self, err: StoreError, endpoint_id: str) -> None:
        previous, self.store_failure = self.store_failure, err
        if previous is None or previous.cause != err.cause:
            log.warning(  # once per outage, not once per retry
                "webhook relay cannot record deliveries; holding their outcomes and retrying",
                extra={"endpoint": endpoint_id, "cause": err.cause.value, "error": str(err)},
            )

    def _store_works(self) -> None:
        """A read or write went through and no worker holds outcomes it could not write."""
        if self.store_failure is not None and not any(w.unrecorded for w in self._workers.values()):
            log.info(
                "webhook relay records deliveries again", extra={"cause": self.store_failure.cause.value}
            )
            self.store_failure = None

    async def _sleep_or_wake(self, worker: _Worker, seconds: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await worker.wake.wait()

    def _plan(self, endpoint_id: str, now: float) -> tuple[list[list[DueDelivery]], float]:
        """Each lane's deliveries that are due now, oldest first, and when the next one falls due.

        A lane stops at its first delivery that is not due (backing off) or whose order has a failed
        delivery: what comes after it in that lane waits, so the lane stays in order."""
        pending = self._deliveries.pending(endpoint_id, self.policy.window)
        blocked_orders = self._deliveries.failed_orders(endpoint_id) if pending else set()
        lanes: dict[str, list[DueDelivery]] = {}
        waiting: set[str] = set()
        next_at = math.inf
        for delivery in pending:
            lane = delivery.lane
            if lane in waiting:
                continue
            if delivery.order_id is not None and delivery.order_id in blocked_orders:
                waiting.add(lane)
            elif delivery.next_attempt_at <= now:
                lanes.setdefault(lane, []).append(delivery)
            else:
                waiting.add(lane)
                next_at = min(next_at, delivery.next_attempt_at)
        return list(lanes.values()), next_at

    async def _round(self, endpoint: Endpoint, due: list[list[DueDelivery]], worker: _Worker) -> None:
        """Send every lane's due deliveries: lanes side by side, each lane one delivery after another.

        A lane goes on to its next delivery once the receiver took the previous one, so a backlog drains
        at the receiver's pace however few orders it holds, instead of one delivery per order per round.
        A failure ends its lane's turn; a throttle or a 410 ends the round for every lane. No new send
        starts after ROUND_SECONDS, so outcomes are written (and a crash repeats) at most that much work.
        """
        self.stats.rounds += 1
        gate = asyncio.Semaphore(self.policy.concurrency)
        results: list[tuple[DueDelivery, Attempt]] = []
        halted = False
        ends = time.monotonic() + ROUND_SECONDS

        async def send_lane(lane: list[DueDelivery]) -> None:
            nonlocal halted
            for delivery in lane:
                async with gate:
                    if halted or time.monotonic() > ends:
                        return
                    outcome = await self._send(endpoint, delivery)
                results.append((delivery, outcome))
                if not outcome.delivered:
                    halted = halted or outcome.gone or outcome.throttle_for is not None
                    return

        await asyncio.gather(*(send_lane(lane) for lane in due))
        # Outcomes in seq order, not in the order answers came back: retry delays are drawn from the rng
        # in a fixed order, so a seeded relay behaves the same on every run.
        results.sort(key=lambda result: result[0].event_seq)
        now = self._clock()
        updates: list[dict[str, Any]] = []
        throttle_for = 0.0
        gone_reason: str | None = None
        for delivery, outcome in results:
            attempts = delivery.attempts + 1
            key = {"endpoint_id": delivery.endpoint_id, "event_seq": delivery.event_seq}
            if outcome.delivered:
                self.stats.delivered += 1
                updates.append(
                    {
                        **key,
                        "status": DELIVERED,
                        "attempts": attempts,
                        "delivered_at": now,
                        "last_status_code": outcome.status_code,
                        "last_error": None,
                    }
                )
                continue
            if outcome.gone:
                gone_reason = (
                    f"the receiver answered 410 Gone for {delivery.event_type} #{delivery.event_seq}"
                )
                # Not an attempt of this delivery's: the endpoint is switched off and keeps it pending.
                updates.append({**key, "last_status_code": 410, "last_error": "410 Gone: endpoint disabled"})
                continue
            self.stats.attempts_failed += 1
            delay = self.policy.delay(attempts, self._rng)
            if outcome.throttle_for is not None:
                self.stats.throttled += 1
                delay = max(delay, outcome.throttle_for)
                throttle_for = max(throttle_for, outcome.throttle_for)
            final = attempts >= self.policy.max_attempts
            if final:
                self.stats.failed += 1
                log.warning(
                    "webhook delivery failed for good; it can be replayed",
                    extra={
                        "endpoint": endpoint.id,
                        "event_seq": delivery.event_seq,
                        "attempts": attempts,
                        "error": outcome.error,
                    },
                )
            updates.append(
                {
                    **key,
                    "status": FAILED if final else PENDING,
                    "attempts": attempts,
                    "next_attempt_at": now + delay,
                    "last_status_code": outcome.status_code,
                    "last_error": outcome.error,
                }
            )
        if throttle_for > 0:
            self._throttled_until[endpoint.id] = now + throttle_for
            log.info(
                "webhook endpoint throttled",
                extra={"endpoint": endpoint.id, "seconds": round(throttle_for, 1)},
            )
        try:
            await asyncio.to_thread(self._deliveries.record, updates)
        except StoreError:
            worker.unrecorded = updates
            raise
        if gone_reason is not None:
            self.stats.gone += 1
            disabled = endpoint.with_changes(enabled=False, disabled_reason=gone_reason)
            self._registry.put(disabled)
            await asyncio.to_thread(self._deliveries.save_endpoint, disabled)
            log.error(
                "webhook endpoint disabled: 410 Gone", extra={"endpoint": endpoint.id, "url": endpoint.url}
            )
            await self._on_gone(disabled, gone_reason)

    async def _send(self, endpoint: Endpoint, delivery: DueDelivery) -> Attempt:
        body = body_of(delivery)
        now = self._clock()
        headers = webhook_signing.headers(endpoint.secrets_in_use(now), delivery.event_id, int(now), body)
        try:
            async with asyncio.timeout(self.policy.timeout):
                response = await self._post(endpoint.url, body, headers)
        except TimeoutError:
            return Attempt(error=f"no answer within {self.policy.timeout:g} s")
        except HttpFailure as err:
            return Attempt(error=str(err)[:300])
        code = response.status
        if 200 <= code < 300:
            return Attempt(delivered=True, status_code=code)
        if code == 410:
            return Attempt(status_code=code, gone=True)
        if code in THROTTLE_STATUSES:
            retry_after = retry_after_seconds(response.headers.get("retry-after"), now)
            if retry_after is not None:
                retry_after = min(retry_after, self.policy.max_retry_after)
            return Attempt(
                status_code=code, error=f"HTTP {code}", throttle_for=retry_after or self.policy.base_delay
            )
        return Attempt(status_code=code, error=f"HTTP {code}: {response.text[:200]}")

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpAnswer:
        if self._keepalive is not None and not needs_httpx(url):
            return await self._keepalive.post(url, body, headers)
        assert self._client is not None
        return await post_with_httpx(self._client, url, body, headers)
