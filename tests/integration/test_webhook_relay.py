"""Outbox and relay against a real HTTP receiver that verifies every request with `standardwebhooks`."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from floorgate.core import commands as cmd
from floorgate.edge.store import Store, make_engine
from floorgate.edge.webhooks.deliveries import DeliveryStore
from floorgate.edge.webhooks.endpoints import WebhookService
from floorgate.edge.webhooks.outbox import Endpoint, EndpointRegistry
from floorgate.edge.webhooks.relay import RetryPolicy, WebhookRelay
from floorgate.edge.webhooks.signing import new_secret
from floorgate.edge.writer import Writer
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import Reply, Request, WebhookReceiver, refuse_first

pytestmark = pytest.mark.integration

FAST = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2, timeout=0.5, concurrency=8)


@dataclass
class Harness:
    writer: Writer
    relay: WebhookRelay
    service: WebhookService
    deliveries: DeliveryStore
    tasks: list[asyncio.Task[None]]
    since: int = 0

    async def add_endpoint(self, url: str, secret: str, events: list[str] | None = None) -> Endpoint:
        endpoint, _ = await self.service.create(url=url, events=events or ["*"], secret=secret, name="erp")
        self.since = self.writer.last_seq  # events before this have no delivery for it
        return endpoint

    def owed(self) -> list[str]:
        """Ids of the events written since the endpoint was added: each must arrive."""
        return [e[0] for e in self.events(self.since)]

    async def run_orders(self, count: int, lines: int = 3) -> None:
        """Orders picked end to end: each gives received, started, picks, zone completed, picked."""
        for n in range(count):
            order = f"O{n}"
            await self.writer.execute(
                cmd.ReceiveOrder(
                    order_id=order,
                    lines=tuple(
                        cmd.NewOrderLine(line_id=str(i), sku=f"S{i}", qty=1, location=f"L{i}")
                        for i in range(lines)
                    ),
                )
            )
            await self.writer.execute(cmd.StartOrder(order_id=order, zone="A", operator="ann"))
            for i in range(lines):
                await self.writer.execute(
                    cmd.PressButton(module=f"M{i}", button=cmd.Button.CONFIRM, display="1")
                )

    def events(self, after: int = 0) -> list[tuple[str, str, str | None]]:
        return [(e.id, e.type, e.order_id) for e in self.writer.store.events_after(after, 100_000)]


@pytest.fixture
async def harness(store_url: str) -> AsyncIterator[Harness]:
    store = Store(make_engine(store_url))
    store.create_schema()
    deliveries = DeliveryStore(store.engine)
    registry = EndpointRegistry()
    loaded = store.load()
    writer = Writer(store=store, floor=loaded.floor, last_seq=loaded.last_seq, outbox=registry)

    async def gone(endpoint: Endpoint, reason: str) -> None:
        await writer.execute(
            cmd.RaiseException(kind="webhook_endpoint_gone", message=reason, device=endpoint.id)
        )

    relay = WebhookRelay(
        deliveries=deliveries, registry=registry, on_gone=gone, policy=FAST, rng=random.Random(1)
    )
    writer.subscribe(lambda committed: relay.wake())
    service = WebhookService(registry=registry, deliveries=deliveries, relay=relay)
    tasks = [asyncio.create_task(writer.run()), asyncio.create_task(relay.run())]
    await writer.execute(cmd.DefineZone(zone="A"))
    for i in range(3):
        await writer.execute(
            cmd.UpsertLocation(code=f"L{i}", zone="A", module=f"M{i}", sku=f"S{i}", on_hand=1000)
        )
    yield Harness(writer=writer, relay=relay, service=service, deliveries=deliveries, tasks=tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    store.close()


def in_order_per_order(received: list[tuple[str, int, str | None]]) -> bool:
    last: dict[str, int] = {}
    for _id, seq, order in received:
        if order is None:
            continue
        if seq <= last.get(order, 0):
            return False
        last[order] = seq
    return True


async def test_every_event_arrives_signed_once_and_in_order_per_order(harness: Harness) -> None:
    secret = new_secret()
    async with WebhookReceiver([secret]) as erp:
        await harness.add_endpoint(erp.url, secret)
        await harness.run_orders(6)
        expected = harness.owed()
        await wait_until(lambda: len(erp.accepted) == len(expected), timeout=10, what="all delivered")
        assert sorted(erp.accepted_ids()) == sorted(expected)
        assert erp.unverified == []
        assert in_order_per_order([(r.id, r.seq, r.order) for r in erp.accepted])
        picks = [r for r in erp.accepted if r.type == "pick.confirmed"]
        assert len(picks) == 18


async def test_different_orders_are_delivered_concurrently_each_in_its_own_order(harness: Harness) -> None:
    secret = new_secret()
    async with WebhookReceiver([secret], script=lambda r: Reply(204, delay=0.2)) as erp:
        endpoint = await harness.add_endpoint(erp.url, secret, events=["order.*", "pick.*"])
        await harness.service.update(endpoint.id, enabled=False)  # let every order's events pile up
        await harness.run_orders(4, lines=1)
        total = len([e for e in harness.events(harness.since) if e[1].startswith(("order.", "pick."))])
        await harness.service.update(endpoint.id, enabled=True)
        await wait_until(lambda: len(erp.accepted) == total, timeout=20, what="all delivered")
        # Four orders' first events were due together: they went out side by side, not one by one.
        assert erp.max_in_flight >= 2
        assert in_order_per_order([(r.id, r.seq, r.order) for r in erp.accepted])
        assert erp.unverified == []


async def test_a_receiver_that_fails_for_a_while_gets_everything_once_it_recovers(harness: Harness) -> None:
    secret = new_secret()
    async with WebhookReceiver([secret], script=refuse_first(12, status=500)) as erp:
        await harness.add_endpoint(erp.url, secret)
        await harness.run_orders(2)
        total = len(harness.owed())
        await wait_until(lambda: len(erp.accepted) == total, timeout=15, what="delivered after the 500s")
        assert erp.unverified == []
        assert in_order_per_order([(r.id, r.seq, r.order) for r in erp.accepted])
        retried = {r.headers["webhook-id"] for r in erp.requests[:12]}
        assert retried <= set(erp.accepted_ids())  # the same webhook-id on every retry


async def test_retry_after_pauses_the_whole_endpoint(harness: Harness) -> None:
    secret = new_secret()
    async with WebhookReceiver(
        [secret], script=refuse_first(1, status=503, headers={"Retry-After": "1"})
    ) as erp:
        await harness.add_endpoint(erp.url, secret)
        await harness.run_orders(1, lines=1)
        total = len(harness.owed())
        started = time.monotonic()
        await wait_until(lambda: len(erp.accepted) == total, timeout=10, what="delivered after Retry-After")
        assert time.monotonic() - started >= 0.9
        assert harness.relay.stats.throttled >= 1


async def test_timeouts_and_dropped_connections_are_retried(harness: Harness) -> None:
    secret = new_secret()

    def flaky(request: Request) -> Reply:
        if request.number == 1:
            return Reply(hang=True)
        if request.number in (2, 3):
            return Reply(drop=True)
        return Reply(200)

    async with WebhookReceiver([secret], script=flaky) as erp:
        await harness.add_endpoint(erp.url, secret)
        await harness.run_orders(1, lines=2)
        total = len(harness.owed())
        await wait_until(
            lambda: len(erp.accepted) == total, timeout=15, what="delivered despite timeouts and drops"
        )
        assert erp.unverified == []


async def test_410_disables_the_endpoint_raises_an_exception_and_keeps_the_deliveries(
    harness: Harness,
) -> None:
    secret = new_secret()
    gone = True
    async with WebhookReceiver([secret], script=lambda r: Reply(410) if gone else Reply(204)) as erp:
        endpoint = await harness.add_endpoint(erp.url, secret, events=["pick.*"])
        await harness.run_orders(1, lines=2)
        await wait_until(
            lambda: harness.service.registry.get(endpoint.id).enabled is False, what="endpoint disabled"
        )

        def gone_exceptions() -> list[object]:
            return [x for x in harness.writer.floor.exceptions.values() if x.kind == "webhook_endpoint_gone"]

        # Raised through the writer just after the endpoint is disabled: wait for it, not for luck.
        await wait_until(lambda: len(gone_exceptions()) > 0, what="the endpoint-gone exception")
        assert len(gone_exceptions()) == 1
        pending = harness.deliveries.list_deliveries(status="pending", endpoint_id=endpoint.id)
        assert len(pending) == 2

        gone = False
        await harness.service.update(endpoint.id, enabled=True)
        await wait_until(lambda: len(erp.accepted) == 2, timeout=10, what="delivered once re-enabled")
        assert [r.type for r in erp.accepted] == ["pick.confirmed", "pick.confirmed"]


async def test_after_the_last_retry_a_delivery_fails_visibly_blocks_its_order_and_can_be_replayed(
    harness: Harness,
) -> None:
    secret = new_secret()
    accept = False
    async with WebhookReceiver([secret], script=lambda r: Reply(204) if accept else Reply(500)) as erp:
        endpoint = await harness.add_endpoint(erp.url, secret)
        await harness.run_orders(1, lines=1)

        def settled() -> bool:
            # O0's first event failed for good, and no delivery is still being retried: the order's other
            # events wait untried, and an event of no order (its own lane, on its own jittered schedule)
            # has failed too, before or after O0's, so replaying the failed ones replays everything tried.
            failed = harness.deliveries.list_deliveries(status="failed", endpoint_id=endpoint.id)
            pending = harness.deliveries.list_deliveries(status="pending", endpoint_id=endpoint.id)
            return any(d["order_id"] == "O0" for d in failed) and all(d["attempts"] == 0 for d in pending)

        await wait_until(settled, timeout=10, what="O0's first event failed and no delivery still retried")
        failed = harness.deliveries.list_deliveries(status="failed")
        assert all(d["attempts"] == FAST.max_attempts for d in failed)
        assert harness.relay.stats.failed >= 1
        # The rest of that order's events wait behind the failed one instead of overtaking it.
        blocked = harness.deliveries.list_deliveries(status="pending", order_id="O0")
        assert blocked
        assert all(d["attempts"] == 0 for d in blocked), (blocked, failed)

        accept = True
        replayed = await harness.service.replay_failed(endpoint.id)
        assert replayed == len(failed)
        total = len(harness.owed())
        await wait_until(lambda: len(erp.accepted) == total, timeout=10, what="everything after the replay")
        assert in_order_per_order([(r.id, r.seq, r.order) for r in erp.accepted])


async def test_during_a_secret_rotation_each_delivery_carries_both_signatures(harness: Harness) -> None:
    old = new_secret()
    async with WebhookReceiver([old]) as erp:
        endpoint = await harness.add_endpoint(erp.url, old)
        _, new = await harness.service.rotate(endpoint.id, overlap_seconds=60, secret=None)
        erp.secrets.append(new)
        await harness.run_orders(1, lines=1)
        total = len(harness.owed())
        await wait_until(lambda: len(erp.accepted) == total, timeout=10, what="delivered")
        for received in erp.accepted:
            assert len(received.signatures.split(" ")) == 2
            assert received.verified_with == (0, 1)  # each secret alone verifies it

        ended, _ = await harness.service.rotate(endpoint.id, overlap_seconds=0, secret=new_secret())
        assert ended.secrets_in_use(time.time()) == [ended.secret]


async def test_an_endpoint_only_gets_the_events_its_filter_names(harness: Harness) -> None:
    secret = new_secret()
    async with WebhookReceiver([secret]) as erp:
        await harness.add_endpoint(erp.url, secret, events=["order.picked", "pick.*"])
        await harness.run_orders(1, lines=2)
        await wait_until(lambda: len(erp.accepted) == 3, timeout=10, what="the filtered events")
        assert sorted(r.type for r in erp.accepted) == ["order.picked", "pick.confirmed", "pick.confirmed"]
