"""What the web needs from the running edge, as ports the edge implements: reads, commands, health, webhooks.

The web never holds the writer's live aggregate or the store: it asks these narrow questions and gets the
domain's own entities (floorgate.core.model) or the small frozen read models below. Every failure the edge
can report crosses as one of the exceptions here, so the web answers it without knowing the edge's types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from floorgate.core.commands import Command
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


class StoreUnavailable(Exception):
    """The edge's store cannot do what was asked now; `cause` names why as a person must fix it ("full")."""

    def __init__(self, message: str, *, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


class CommandSetAside(Exception):
    """The command made something the edge's own store refuses; it was kept as an exception instead."""

    def __init__(self, message: str, *, exception_id: int | None, cause: str) -> None:
        super().__init__(message)
        self.exception_id = exception_id
        self.cause = cause


class CommandsUnavailable(Exception):
    """The edge takes no commands now: its store fails (`store_failure`) or it is shutting down."""

    def __init__(self, message: str, *, store_failure: StoreUnavailable | None = None) -> None:
        super().__init__(message)
        self.store_failure = store_failure


class WebhookRefused(Exception):
    """A webhook request that cannot be done as asked: no such thing, or a field that does not fit."""

    def __init__(self, message: str, *, field: str | None = None, not_found: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.not_found = not_found


class LoggedEvent(Protocol):
    """An event as the log holds it: the envelope the API, the stream and webhooks all show."""

    @property
    def seq(self) -> int: ...
    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def occurred_at(self) -> float: ...
    @property
    def order_id(self) -> str | None: ...
    @property
    def data(self) -> Mapping[str, Any]: ...


class CommittedChange(Protocol):
    """What one committed batch changed: the keys of the entities the stream must send again."""

    @property
    def events(self) -> Sequence[LoggedEvent]: ...
    @property
    def lights(self) -> Sequence[str]: ...
    @property
    def orders(self) -> Sequence[str]: ...
    @property
    def devices(self) -> Sequence[str]: ...
    @property
    def exceptions(self) -> Sequence[int]: ...
    @property
    def locations(self) -> Sequence[str]: ...
    @property
    def putaways(self) -> Sequence[str]: ...
    @property
    def counts(self) -> Sequence[str]: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class PackState:
    """What a pack station is doing, as the weigh-verify screens show it."""

    phase: str
    order_id: str | None
    expected_g: float | None
    tolerance_g: float | None
    measured_g: float | None
    delta_g: float | None
    verdict: str | None
    problem: str | None
    message: str
    scale: str | None
    grams: float | None
    stable: bool
    condition: str
    updated_at: float | None


class FloorReads(Protocol):
    """Questions about the floor as last committed. Entities come in the floor's own order."""

    def zones(self) -> Iterable[Zone]: ...
    def locations(self) -> Iterable[Location]: ...
    def location(self, code: str) -> Location | None: ...
    def location_of_module(self, module: str) -> str | None: ...
    def lights(self) -> Iterable[Light]: ...
    def light(self, module: str) -> Light | None: ...
    def devices(self) -> Iterable[Device]: ...
    def device(self, device_id: str) -> Device | None: ...
    def orders(self) -> Iterable[Order]: ...
    def order(self, order_id: str) -> Order | None: ...
    def exceptions(self) -> Iterable[FloorException]: ...
    def exception(self, exception_id: int) -> FloorException | None: ...
    def stations(self) -> Iterable[Station]: ...
    def station(self, station_id: str) -> Station | None: ...
    def pack_state(self, station_id: str) -> PackState | None: ...
    def batches(self) -> Iterable[Batch]: ...
    def batch(self, batch_id: str) -> Batch | None: ...
    def walls(self) -> Iterable[Wall]: ...
    def wall(self, wall_id: str) -> Wall | None: ...
    def putaways(self) -> Iterable[Putaway]: ...
    def putaway(self, task_id: str) -> Putaway | None: ...
    def counts(self) -> Iterable[CycleCount]: ...
    def count(self, count_id: str) -> CycleCount | None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class EventPage:
    """Events after a seq, with the bounds of the log: `first_seq` is the oldest it still holds."""

    events: Sequence[LoggedEvent]
    first_seq: int
    last_seq: int


class Records(Protocol):
    """What only the store holds: the event log, and orders the floor has retired. May raise StoreUnavailable."""

    async def events_after(self, after: int, limit: int, *, types: Sequence[str] | None) -> EventPage: ...
    async def retired_order(self, order_id: str) -> Order | None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class Executed:
    """A command the writer committed: what the API answers from it, and the types of the events it made."""

    reply: Mapping[str, Any]
    event_types: Sequence[str]


class Commands(Protocol):
    """The writer's port: submit a core command and await its outcome.

    Raises CommandRejected (floorgate.core.errors) when the floor's rules refuse it, CommandSetAside when the
    store refuses what it made, and CommandsUnavailable when the edge cannot take it now.
    """

    async def execute(self, command: Command) -> Executed: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreHealth:
    """The store as the writer last found it; while commits fail, why and since when."""

    location: str
    failure: StoreUnavailable | None
    failing_since: float | None
    held_events: int
    # Why the webhook relay cannot keep its books in the store, while it cannot.
    webhook_bookkeeping: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class HistogramFigures:
    """A histogram of seconds as /metrics publishes it: the buckets' upper bounds, how many observations
    fell at or below each (cumulative), and the sum and count of every observation (the +Inf bucket)."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    total: float
    count: int


@dataclass(frozen=True, kw_only=True, slots=True)
class WriterFigures:
    """The writer's counters and gauges, as /metrics publishes them."""

    events: int
    commands: int
    duplicates: int
    rejected: int
    failed: int
    unstorable: int
    batches: int
    commit_failures: int
    last_batch_size: int
    last_commit_seconds: float
    wal_pages: int
    backlog: int
    last_seq: int
    # From a press's arrival at the writer to its batch's light commands handed to the MQTT link.
    press_to_light: HistogramFigures
    commit_seconds: HistogramFigures
    # Device messages handed to the writer, by device class ("ptl", "scanner", "scale"), and those of
    # them that were reports of input the adapter could not understand (malformed frames).
    device_messages: Mapping[str, int]
    device_malformed: Mapping[str, int]


class Health(Protocol):
    """Facts for liveness, readiness and metrics. `extra_metrics` adds the edge's other figures (PTL,
    webhooks). `inactive` says why this edge takes no work now (it is stopping), None while it does."""

    def store(self) -> StoreHealth: ...
    def store_causes(self) -> Sequence[str]: ...
    def writer_figures(self) -> WriterFigures: ...
    def mqtt_connected(self) -> bool: ...
    def inactive(self) -> str | None: ...
    async def extra_metrics(self) -> Mapping[str, float]: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookEndpoint:
    """A webhook endpoint as the API shows it: never its secrets."""

    id: str
    url: str
    name: str | None
    events: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    source: str  # "site" (from the site file) or "api"
    # While a rotated-out secret still signs beside the new one: until when.
    rotating_until: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class NewSecret:
    """An endpoint, and the secret it signs with now: told once, at creation or rotation."""

    endpoint: WebhookEndpoint
    secret: str


class Webhooks(Protocol):
    """Webhook endpoints and their deliveries. Raises WebhookRefused, or StoreUnavailable."""

    def endpoints(self) -> list[WebhookEndpoint]: ...
    async def create(
        self, *, url: str, events: list[str], secret: str | None, name: str | None
    ) -> NewSecret: ...
    async def update(
        self, endpoint_id: str, *, url: str | None, events: list[str] | None, enabled: bool | None
    ) -> WebhookEndpoint: ...
    async def rotate(self, endpoint_id: str, *, overlap_seconds: float, secret: str | None) -> NewSecret: ...
    async def deliveries(
        self, *, status: str | None, order_id: str | None, endpoint_id: str | None, after_seq: int, limit: int
    ) -> list[dict[str, Any]]: ...
    async def replay_failed(self, endpoint_id: str | None) -> int: ...
    async def replay_one(self, delivery: str) -> None: ...
