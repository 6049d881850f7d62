"""The web's ports (floorgate.web.ports) implemented over the writer, its floor, the store and the webhooks.

The web asks narrow questions and gets entities or read models back; only this module knows that the
answers come from the writer's live floor, and it reads that floor through its public attributes alone.
Failures of the edge's own types are translated here into the web's, each chained to its cause.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from floorgate.core.commands import Command
from floorgate.core.floor import Floor
from floorgate.core.model import (
    Batch,
    CycleCount,
    Device,
    FloorException,
    Light,
    Location,
    Order,
    Putaway,
    Station,
    Wall,
    Zone,
)
from floorgate.edge.store import Store, StoreError, StoreFailure
from floorgate.edge.webhooks.endpoints import WebhookProblem, WebhookService
from floorgate.edge.webhooks.outbox import Endpoint
from floorgate.edge.writer import CommandUnstorable, Writer, WriterUnavailable
from floorgate.web.context import WebContext
from floorgate.web.ports import (
    CommandSetAside,
    CommandsUnavailable,
    EventPage,
    Executed,
    NewSecret,
    PackState,
    StoreHealth,
    StoreUnavailable,
    WebhookEndpoint,
    WebhookRefused,
    WriterFigures,
)
from floorgate.web.roles import Role
from floorgate.web.stream import StreamHub

log = logging.getLogger(__name__)


def store_unavailable(err: StoreError) -> StoreUnavailable:
    """A store failure as the web reports it: the message (never a statement or a secret) and its cause."""
    return StoreUnavailable(str(err), cause=err.cause.value)


@dataclass(frozen=True, kw_only=True, slots=True)
class LiveFloor:
    """FloorReads over the writer's floor, asked for afresh each time: a reload after a failed commit
    replaces the writer's floor with another object."""

    floor: Callable[[], Floor]

    def zones(self) -> Iterable[Zone]:
        return self.floor().zones.values()

    def locations(self) -> Iterable[Location]:
        return self.floor().locations.values()

    def location(self, code: str) -> Location | None:
        return self.floor().locations.get(code)

    def location_of_module(self, module: str) -> str | None:
        return self.floor().location_of_module(module)

    def lights(self) -> Iterable[Light]:
        return self.floor().lights.values()

    def light(self, module: str) -> Light | None:
        return self.floor().lights.get(module)

    def devices(self) -> Iterable[Device]:
        return self.floor().devices.values()

    def device(self, device_id: str) -> Device | None:
        return self.floor().devices.get(device_id)

    def orders(self) -> Iterable[Order]:
        return self.floor().orders.values()

    def order(self, order_id: str) -> Order | None:
        return self.floor().orders.get(order_id)

    def exceptions(self) -> Iterable[FloorException]:
        return self.floor().exceptions.values()

    def exception(self, exception_id: int) -> FloorException | None:
        return self.floor().exceptions.get(exception_id)

    def stations(self) -> Iterable[Station]:
        return self.floor().stations.values()

    def station(self, station_id: str) -> Station | None:
        return self.floor().stations.get(station_id)

    def batches(self) -> Iterable[Batch]:
        return self.floor().batches.values()

    def batch(self, batch_id: str) -> Batch | None:
        return self.floor().batches.get(batch_id)

    def walls(self) -> Iterable[Wall]:
        return self.floor().walls.values()

    def wall(self, wall_id: str) -> Wall | None:
        return self.floor().walls.get(wall_id)

    def putaways(self) -> Iterable[Putaway]:
        return self.floor().state.putaways.values()

    def putaway(self, task_id: str) -> Putaway | None:
        return self.floor().state.putaways.get(task_id)

    def counts(self) -> Iterable[CycleCount]:
        return self.floor().state.counts.values()

    def count(self, count_id: str) -> CycleCount | None:
        return self.floor().state.counts.get(count_id)

    def pack_state(self, station_id: str) -> PackState | None:
        state = self.floor().packing.states.get(station_id)
        if state is None:
            return None
        return PackState(
            phase=state.phase.value,
            order_id=state.order_id,
            expected_g=state.expected_g,
            tolerance_g=state.tolerance_g,
            measured_g=state.measured_g,
            delta_g=state.delta_g,
            verdict=state.verdict,
            problem=state.problem,
            message=state.message,
            scale=state.scale,
            grams=state.grams,
            stable=state.stable,
            condition=state.condition.value,
            updated_at=state.updated_at,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class WriterCommands:
    """Commands: the single writer runs them; its refusals become the web's."""

    writer: Writer

    async def execute(self, command: Command) -> Executed:
        try:
            applied = await self.writer.execute(command)
        except CommandUnstorable as err:
            raise CommandSetAside(
                str(err), exception_id=err.exception_id, cause=err.failure.cause.value
            ) from err
        except WriterUnavailable as err:
            failure = store_unavailable(err.store_failure) if err.store_failure is not None else None
            raise CommandsUnavailable(str(err), store_failure=failure) from err
        return Executed(reply=applied.outcome.reply, event_types=[record.type for record in applied.events])


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreRecords:
    """Records: the event log and retired orders, read in a worker thread so the event loop is not held."""

    store: Store
    last_seq: Callable[[], int]

    async def events_after(self, after: int, limit: int, *, types: Sequence[str] | None) -> EventPage:
        def read() -> EventPage:
            events = self.store.events_after(after, limit, types=types)
            return EventPage(events=events, first_seq=self.store.first_seq(), last_seq=self.last_seq())

        try:
            return await asyncio.to_thread(read)
        except StoreError as err:
            raise store_unavailable(err) from err

    async def retired_order(self, order_id: str) -> Order | None:
        try:
            return await asyncio.to_thread(self.store.order, order_id)
        except StoreError as err:
            raise store_unavailable(err) from err


@dataclass(frozen=True, kw_only=True, slots=True)
class EdgeHealth:
    """Health: the writer's view of the store, its counters, the MQTT link and the edge's other figures."""

    writer: Writer
    store_location: str
    webhooks: WebhookService | None = None
    mqtt: Callable[[], bool] = lambda: True
    # gauges/counters of the other parts (PTL, relays) for /metrics, name -> value
    figures: Callable[[], Mapping[str, float]] = dict
    # Why the edge takes no work now (it is stopping); None while it does.
    inactive_reason: Callable[[], str | None] = lambda: None

    def store(self) -> StoreHealth:
        failure = self.writer.store_failure
        relay_failure = self.webhooks.relay.store_failure if self.webhooks is not None else None
        return StoreHealth(
            location=self.store_location,
            failure=store_unavailable(failure) if failure is not None else None,
            failing_since=self.writer.store_failing_since,
            held_events=self.writer.held_events,
            webhook_bookkeeping=str(relay_failure) if relay_failure is not None else None,
        )

    def store_causes(self) -> Sequence[str]:
        return [cause.value for cause in StoreFailure]

    def writer_figures(self) -> WriterFigures:
        stats = self.writer.stats
        return WriterFigures(
            events=stats.events,
            commands=stats.commands,
            duplicates=stats.duplicates,
            rejected=stats.rejected,
            failed=stats.failed,
            unstorable=stats.unstorable,
            batches=stats.batches,
            commit_failures=stats.commit_failures,
            last_batch_size=stats.last_batch_size,
            last_commit_seconds=stats.last_commit_seconds,
            wal_pages=stats.wal_pages,
            backlog=self.writer.backlog,
            last_seq=self.writer.last_seq,
            press_to_light=stats.press_to_light.figures(),
            commit_seconds=stats.commit_seconds.figures(),
            device_messages=dict(stats.device_messages),
            device_malformed=dict(stats.device_malformed),
        )

    def mqtt_connected(self) -> bool:
        return self.mqtt()

    def inactive(self) -> str | None:
        return self.inactive_reason()

    async def extra_metrics(self) -> Mapping[str, float]:
        extra = dict(self.figures())
        if self.webhooks is not None:
            extra.update(self.webhooks.metrics())
            try:
                extra.update(await self.webhooks.backlog())
            except StoreError as err:
                # The rest of the figures come from memory and still say what the edge is doing.
                log.debug("webhook backlog unreadable for /metrics", extra={"error": str(err)})
        return extra


@dataclass(frozen=True, kw_only=True, slots=True)
class ServiceWebhooks:
    """Webhooks over the edge's webhook service; its problems and store failures become the web's."""

    service: WebhookService

    def endpoints(self) -> list[WebhookEndpoint]:
        return [_shown(endpoint) for endpoint in self.service.registry.all()]

    async def create(self, *, url: str, events: list[str], secret: str | None, name: str | None) -> NewSecret:
        try:
            endpoint, chosen = await self.service.create(url=url, events=events, secret=secret, name=name)
        except WebhookProblem as err:
            raise _refused(err) from err
        except StoreError as err:
            raise store_unavailable(err) from err
        return NewSecret(endpoint=_shown(endpoint), secret=chosen)

    async def update(
        self, endpoint_id: str, *, url: str | None, events: list[str] | None, enabled: bool | None
    ) -> WebhookEndpoint:
        try:
            endpoint = await self.service.update(endpoint_id, url=url, events=events, enabled=enabled)
        except WebhookProblem as err:
            raise _refused(err) from err
        except StoreError as err:
            raise store_unavailable(err) from err
        return _shown(endpoint)

    async def rotate(self, endpoint_id: str, *, overlap_seconds: float, secret: str | None) -> NewSecret:
        try:
            endpoint, chosen = await self.service.rotate(
                endpoint_id, overlap_seconds=overlap_seconds, secret=secret
            )
        except WebhookProblem as err:
            raise _refused(err) from err
        except StoreError as err:
            raise store_unavailable(err) from err
        return NewSecret(endpoint=_shown(endpoint), secret=chosen)

    async def deliveries(
        self, *, status: str | None, order_id: str | None, endpoint_id: str | None, after_seq: int, limit: int
    ) -> list[dict[str, Any]]:
        try:
            return await asyncio.to_thread(
                self.service.deliveries.list_deliveries,
                status=status,
                order_id=order_id,
                endpoint_id=endpoint_id,
                after_seq=after_seq,
                limit=limit,
            )
        except StoreError as err:
            raise store_unavailable(err) from err

    async def replay_failed(self, endpoint_id: str | None) -> int:
        try:
            return await self.service.replay_failed(endpoint_id)
        except StoreError as err:
            raise store_unavailable(err) from err

    async def replay_one(self, delivery: str) -> None:
        try:
            await self.service.replay_one(delivery)
        except WebhookProblem as err:
            raise _refused(err) from err
        except StoreError as err:
            raise store_unavailable(err) from err


def _shown(endpoint: Endpoint) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=endpoint.id,
        url=endpoint.url,
        name=endpoint.name,
        events=endpoint.events,
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        source=endpoint.source,
        rotating_until=endpoint.previous_secret_until if endpoint.previous_secret else None,
    )


def _refused(err: WebhookProblem) -> WebhookRefused:
    return WebhookRefused(str(err), field=err.field, not_found=err.not_found)


def web_context(
    *,
    site_id: str,
    edge_id: str,
    writer: Writer,
    store: Store,
    tokens: Mapping[str, Role],
    hub: StreamHub,
    token_names: Mapping[str, str] | None = None,
    webhooks: WebhookService | None = None,
    pending_commands: Callable[[], Mapping[str, Mapping[str, Any]]] = dict,
    figures: Callable[[], Mapping[str, float]] = dict,
    mqtt_connected: Callable[[], bool] = lambda: True,
    inactive: Callable[[], str | None] = lambda: None,
    started_at: float = 0.0,
) -> WebContext:
    """The web's context with every port implemented over this edge's parts."""
    return WebContext(
        site_id=site_id,
        edge_id=edge_id,
        tokens=tokens,
        token_names=token_names or {},
        hub=hub,
        floor=LiveFloor(floor=lambda: writer.floor),
        records=StoreRecords(store=store, last_seq=lambda: writer.last_seq),
        commands=WriterCommands(writer=writer),
        health=EdgeHealth(
            writer=writer,
            store_location=store.location,
            webhooks=webhooks,
            mqtt=mqtt_connected,
            figures=figures,
            inactive_reason=inactive,
        ),
        webhooks=ServiceWebhooks(service=webhooks) if webhooks is not None else None,
        pending_commands=pending_commands,
        started_at=started_at,
    )
