"""Events: facts that happened on the floor. Past-tense names; `TYPE` is the public webhook/event-log name."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

# Field names per event class, worked out once: payload() is on the hot path of every pick.
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _copy(value: Any) -> Any:
    # One level of copying is enough: event fields hold plain values, lists and dicts of plain values,
    # and the payload must not change if the floor later changes what it shared with the event.
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    TYPE: ClassVar[str] = ""

    def payload(self) -> dict[str, Any]:
        names = _FIELD_NAMES.get(type(self))
        if names is None:
            names = _FIELD_NAMES[type(self)] = tuple(f.name for f in fields(self))
        body = {}
        for name in names:
            value = getattr(self, name)
            # Most fields are plain values: only containers are copied (and the call saved for the rest).
            body[name] = _copy(value) if isinstance(value, (dict, list)) else value
        return body

    @property
    def order_id(self) -> str | None:
        """The order this fact belongs to, if any: webhooks keep each order's events in seq order."""
        value = getattr(self, "order", None)
        return value if isinstance(value, str) else None


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderReceived(Event):
    TYPE: ClassVar[str] = "order.received"
    order: str
    priority: int
    tote: str | None
    lines: list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderStarted(Event):
    TYPE: ClassVar[str] = "order.started"
    order: str
    zone: str
    operator: str | None
    tote: str | None
    color: str
    lines_lit: list[str]
    lines_queued: list[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class PickConfirmed(Event):
    TYPE: ClassVar[str] = "pick.confirmed"
    order: str
    line: str
    sku: str
    location: str
    zone: str
    qty: int
    picked: int
    operator: str | None
    on_hand: int | None
    # Captured from the item scan in a scan-verify zone (GS1 AIs 10, 21, 17); absent when not scanned.
    lot: str | None = None
    serial: str | None = None
    expiry: str | None = None

    def payload(self) -> dict[str, Any]:
        body = Event.payload(self)
        for key in ("lot", "serial", "expiry"):
            if body[key] is None:
                del body[key]
        return body


@dataclass(frozen=True, kw_only=True, slots=True)
class ItemScanned(Event):
    """An item scan matched a lit line: the line's confirm now counts, with what the scan carried."""

    TYPE: ClassVar[str] = "pick.scanned"
    order: str
    line: str
    sku: str
    location: str
    zone: str
    gtin: str
    lot: str | None
    serial: str | None
    expiry: str | None
    operator: str | None
    station: str


@dataclass(frozen=True, kw_only=True, slots=True)
class OperatorSignedIn(Event):
    """A badge scan at a station: that operator works there now (and picks what it starts)."""

    TYPE: ClassVar[str] = "station.operator_signed_in"
    station: str
    operator: str
    previous: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class PickShorted(Event):
    TYPE: ClassVar[str] = "pick.short"
    order: str
    line: str
    sku: str
    location: str
    zone: str
    qty: int
    picked: int
    short: int
    operator: str | None
    on_hand: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class PickRejected(Event):
    TYPE: ClassVar[str] = "pick.rejected"
    order: str
    line: str
    sku: str
    location: str
    zone: str
    qty: int
    shown: str | None
    reason: str
    operator: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderZoneCompleted(Event):
    TYPE: ClassVar[str] = "order.zone_completed"
    order: str
    zone: str
    operator: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderPicked(Event):
    TYPE: ClassVar[str] = "order.picked"
    order: str
    lines: list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderCancelled(Event):
    TYPE: ClassVar[str] = "order.cancelled"
    order: str
    previous_status: str


@dataclass(frozen=True, kw_only=True, slots=True)
class InventoryAdjusted(Event):
    TYPE: ClassVar[str] = "inventory.adjusted"
    location: str
    sku: str | None
    on_hand: int
    previous: int | None
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class DeviceOnline(Event):
    TYPE: ClassVar[str] = "device.online"
    device: str
    kind: str
    transport: str


@dataclass(frozen=True, kw_only=True, slots=True)
class DeviceOffline(Event):
    TYPE: ClassVar[str] = "device.offline"
    device: str
    kind: str
    transport: str
    reason: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ExceptionRaised(Event):
    """Something on the floor needs a person: a short bin, a button nobody expected, a bad frame."""

    TYPE: ClassVar[str] = "exception.raised"
    exception_id: int
    kind: str
    message: str
    order: str | None = None
    location: str | None = None
    device: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class ExceptionResolved(Event):
    TYPE: ClassVar[str] = "exception.resolved"
    exception_id: int
    kind: str
    resolved_by: str | None
    note: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class PackVerified(Event):
    """A carton weighed within tolerance of what its order should weigh: the order is packed."""

    TYPE: ClassVar[str] = "pack.verified"
    order: str
    station: str
    expected_g: float
    measured_g: float
    delta_g: float
    tolerance_g: float
    scale: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PackRejected(Event):
    """A carton weighed outside tolerance: an item missing or extra. The packer may fix it and re-weigh."""

    TYPE: ClassVar[str] = "pack.rejected"
    order: str
    station: str
    expected_g: float
    measured_g: float
    delta_g: float
    tolerance_g: float
    scale: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PackOverridden(Event):
    """A supervisor accepted a carton that failed (or could not take) the weight check: the order is packed."""

    TYPE: ClassVar[str] = "pack.overridden"
    order: str
    station: str
    expected_g: float | None
    measured_g: float | None
    delta_g: float | None
    tolerance_g: float | None
    reason: str
    by: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchReceived(Event):
    TYPE: ClassVar[str] = "batch.received"
    batch: str
    wall: str
    orders: list[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchStarted(Event):
    """A batch's bins in a zone are lit, each once with the batch's summed quantity (or queued)."""

    TYPE: ClassVar[str] = "batch.started"
    batch: str
    zone: str
    operator: str | None
    color: str
    locations_lit: list[str]
    locations_queued: list[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchPickRejected(Event):
    """A confirm on a batch's bin that does not count: more than it asks for, or an unreadable display."""

    TYPE: ClassVar[str] = "batch.pick_rejected"
    batch: str
    location: str
    sku: str
    qty: int
    shown: str | None
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchPicked(Event):
    """Every bin of the batch is picked (or short): what each order got, ready to sort."""

    TYPE: ClassVar[str] = "batch.picked"
    batch: str
    wall: str
    picks: list[dict[str, Any]]
    orders: list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchSortStarted(Event):
    """The first item scan at the wall: each order of the batch got a cubby."""

    TYPE: ClassVar[str] = "batch.sort_started"
    batch: str
    wall: str
    cubbies: dict[str, str]


@dataclass(frozen=True, kw_only=True, slots=True)
class PutConfirmed(Event):
    TYPE: ClassVar[str] = "put.confirmed"
    order: str
    batch: str
    wall: str
    cubby: str
    sku: str
    qty: int


@dataclass(frozen=True, kw_only=True, slots=True)
class PutRejected(Event):
    """A scan or a confirm at the wall that puts nothing: an item no order needs, too many, a busy cubby."""

    TYPE: ClassVar[str] = "put.rejected"
    wall: str
    batch: str | None
    reason: str
    sku: str | None
    scan: str | None
    cubby: str | None = None
    order: str | None = None
    shown: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderSorted(Event):
    """The packer took the order out of its full cubby: the cubby is free."""

    TYPE: ClassVar[str] = "order.sorted"
    order: str
    batch: str
    wall: str
    cubby: str
    items: list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderSortCancelled(Event):
    """A batch's order was cancelled: the items picked for it go back (those in its cubby blink out)."""

    TYPE: ClassVar[str] = "order.sort_cancelled"
    order: str
    batch: str
    wall: str
    cubby: str | None
    in_cubby: list[dict[str, Any]]
    not_sorted: list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchSorted(Event):
    TYPE: ClassVar[str] = "batch.sorted"
    batch: str
    wall: str
    orders: list[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class PutawayReceived(Event):
    """A putaway task was made (by the API or an item scan at a putaway station) for this bin."""

    TYPE: ClassVar[str] = "putaway.received"
    task_id: str
    sku: str
    qty: int
    location: str
    zone: str
    station: str | None
    lit: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class PutawayConfirmed(Event):
    """The stocker confirmed the bin: `put` (the value the module showed) went in; `on_hand` after it."""

    TYPE: ClassVar[str] = "putaway.confirmed"
    task_id: str
    sku: str
    location: str
    zone: str
    qty: int
    put: int
    on_hand: int | None
    station: str | None
    operator: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class PutawayCancelled(Event):
    TYPE: ClassVar[str] = "putaway.cancelled"
    task_id: str
    location: str
    previous_status: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CountStarted(Event):
    TYPE: ClassVar[str] = "count.started"
    count_id: str
    zone: str | None
    blind: bool
    locations_lit: list[str]
    locations_queued: list[str]
    by: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class CountRecorded(Event):
    """A bin was counted: `expected` is the record at that moment, `counted` what the counter found."""

    TYPE: ClassVar[str] = "count.recorded"
    count_id: str
    location: str
    sku: str | None
    expected: int | None
    counted: int
    variance: int | None
    blind: bool
    recount: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CountCompleted(Event):
    """The last bin of a count was counted (again, after a recount)."""

    TYPE: ClassVar[str] = "count.completed"
    count_id: str
    zone: str | None
    bins: int
    bins_with_variance: int
    net_adjustment: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CountRecountRequested(Event):
    TYPE: ClassVar[str] = "count.recount_requested"
    count_id: str
    locations: list[str]
    by: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class CountCancelled(Event):
    TYPE: ClassVar[str] = "count.cancelled"
    count_id: str
    counted: list[str]
    not_counted: list[str]
    by: str | None
