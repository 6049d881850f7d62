"""The floor's entities: items, locations, zones, orders and their lines, lights, devices, exceptions,
batches of orders and the put walls they are sorted at."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from floorgate.core.instructions import Blink


class OrderStatus(StrEnum):
    OPEN = "open"
    PICKING = "picking"
    PICKED = "picked"
    PACKED = "packed"
    CANCELLED = "cancelled"


class LineStatus(StrEnum):
    OPEN = "open"
    LIT = "lit"
    PICKED = "picked"
    SHORT = "short"


DONE_LINE_STATUSES = frozenset({LineStatus.PICKED, LineStatus.SHORT})
# The statuses an order reaches when its work is done; reaching one stamps its `finished_at`.
FINISHING_ORDER_STATUSES = frozenset({OrderStatus.PICKED, OrderStatus.PACKED, OrderStatus.CANCELLED})


def retirable_statuses(*, packing: bool) -> frozenset[OrderStatus]:
    """The finished statuses nothing on the floor changes any more: where a pack station exists, a
    picked order still waits to be packed."""
    return FINISHING_ORDER_STATUSES - {OrderStatus.PICKED} if packing else FINISHING_ORDER_STATUSES


@dataclass(slots=True)
class Zone:
    id: str
    scan_verify: bool = False
    name: str = ""


@dataclass(slots=True)
class Station:
    """A zone's start station or a weigh-verify pack station (from the site file)."""

    id: str
    kind: str
    zone: str | None = None
    tolerance_g: float = 0.0
    tolerance_pct: float = 0.0
    tare_g: float = 0.0
    # Who badged in last at this station (zone start stations): orders started here are theirs.
    operator: str | None = None
    # A zone station's work: "pick" (start orders, arm picks) or "putaway" (an item scan puts stock away).
    mode: str = "pick"


@dataclass(slots=True)
class Item:
    sku: str
    description: str = ""
    gtins: tuple[str, ...] = ()
    unit_weight_g: float | None = None
    # Grams each unit may weigh more or less than unit_weight_g (produce, bags of screws); None: the item
    # is as exact as the scale, and only the station's tolerance applies. See core/packing.py.
    weight_tolerance_g: float | None = None


@dataclass(slots=True)
class Location:
    code: str
    zone: str
    module: str | None = None
    sku: str | None = None
    on_hand: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ItemScan:
    """What an item scan at a lit location proved: the GTIN, and the lot/serial/expiry it carried."""

    gtin: str
    lot: str | None = None
    serial: str | None = None
    expiry: str | None = None
    station: str | None = None


@dataclass(slots=True)
class OrderLine:
    line_id: str
    sku: str
    qty: int
    location: str | None = None
    picked: int = 0
    status: LineStatus = LineStatus.OPEN
    # Place in its location's queue while another order holds the light there; None when not waiting.
    ticket: int | None = None
    # The item scan that armed this line in a scan-verify zone; its lot/serial/expiry go into the pick.
    scan: ItemScan | None = None
    # Its place in the order as received (the store keeps the lines in this order).
    position: int = 0


@dataclass(slots=True)
class ZoneRun:
    """An order being picked in one zone, by one picker, in one colour."""

    zone: str
    picker: str
    operator: str | None
    tote: str | None
    color: str
    done: bool = False


@dataclass(slots=True)
class Order:
    order_id: str
    lines: dict[str, OrderLine]
    fingerprint: str
    priority: int = 0
    tote: str | None = None
    status: OrderStatus = OrderStatus.OPEN
    runs: dict[str, ZoneRun] = field(default_factory=dict)
    finished_at: float | None = None
    """Wall clock when the order was last picked, packed or cancelled; None while work is left."""
    batch: str | None = None
    """The batch it is picked with (core/batches.py), derived from the batches; None: picked on its own."""


@dataclass(frozen=True, slots=True)
class RetiredOrder:
    """What the floor still needs of an order it let go of (the store holds the rest): its id is taken."""

    order_id: str
    status: OrderStatus
    fingerprint: str


@dataclass(slots=True)
class Light:
    """What a module was last told to show; `color is None` means off. `seq` only ever grows."""

    module: str
    seq: int = 0
    color: str | None = None
    blink: Blink = Blink.NONE
    display: str = ""
    order_id: str | None = None
    line_id: str | None = None

    @property
    def lit(self) -> bool:
        return self.color is not None


@dataclass(slots=True)
class Device:
    id: str
    kind: str
    transport: str = "mqtt"
    online: bool | None = None
    last_seen: float | None = None
    # When `last_seen` was last handed to the store: a busy module is seen many times a second, and its
    # row need not be rewritten for each press.
    last_seen_saved: float | None = None


class ExceptionStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(slots=True)
class FloorException:
    """Something that needs a person. Repeats of an open one are counted on it, not raised again."""

    id: int
    kind: str
    message: str
    raised_at: float
    order_id: str | None = None
    location: str | None = None
    device: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    count: int = 1
    last_at: float | None = None
    status: ExceptionStatus = ExceptionStatus.OPEN
    resolved_at: float | None = None
    resolved_by: str | None = None
    note: str | None = None


class BatchStatus(StrEnum):
    OPEN = "open"
    PICKING = "picking"
    PICKED = "picked"
    SORTING = "sorting"
    SORTED = "sorted"


class SortState(StrEnum):
    """Where one order of a batch is at the put wall."""

    WAITING = "waiting"  # its batch is not sorting yet: no cubby
    FILLING = "filling"  # it has a cubby and items still to come
    DONE = "done"  # every item picked for it is in its cubby: the cubby blinks "done"
    SORTED = "sorted"  # taken out of its cubby, which is free again
    REMOVING = "removing"  # cancelled while in a cubby: the cubby blinks until it is emptied
    CANCELLED = "cancelled"  # cancelled, and in no cubby


@dataclass(slots=True)
class BatchPick:
    """One bin lit once for a batch, with the summed quantity of its orders' lines there."""

    location: str
    sku: str
    qty: int
    picked: int = 0
    status: LineStatus = LineStatus.OPEN
    # Place in the bin's queue while other work holds its light; None when not waiting.
    ticket: int | None = None


@dataclass(slots=True)
class BatchOrder:
    """One order of a batch: what was picked for it, what is in its cubby, what is on its way there."""

    order_id: str
    state: SortState = SortState.WAITING
    cubby: str | None = None
    picked: dict[str, int] = field(default_factory=dict)  # sku -> units picked for it by the batch
    put: dict[str, int] = field(default_factory=dict)  # sku -> units confirmed into its cubby
    pending: tuple[str, int] | None = None  # (sku, units) a scan sent to its cubby, not yet confirmed

    def left(self, sku: str) -> int:
        """Units of `sku` picked for it and neither in its cubby nor on their way there."""
        pending = self.pending[1] if self.pending is not None and self.pending[0] == sku else 0
        return self.picked.get(sku, 0) - self.put.get(sku, 0) - pending


@dataclass(slots=True)
class Batch:
    """Orders picked as one walk (each bin lit once for all of them), then sorted at a put wall."""

    batch_id: str
    wall: str
    fingerprint: str
    number: int  # the order batches arrived in: the oldest picked batch is sorted first
    orders: list[BatchOrder]  # oldest first, as the ERP listed them
    status: BatchStatus = BatchStatus.OPEN
    runs: dict[str, ZoneRun] = field(default_factory=dict)  # zone -> who picks it there, in what colour
    picks: dict[str, BatchPick] = field(default_factory=dict)  # location code -> its bin's pick


@dataclass(slots=True)
class Wall:
    """A put wall: its cubbies (modules that are not bins), and what its screen shows the sorter."""

    id: str
    cubbies: tuple[str, ...]
    scan: str | None = None  # the last code read at the wall
    sku: str | None = None
    cubby: str | None = None  # the cubby that scan sent the item to
    qty: int | None = None  # the units that cubby shows
    message: str = ""
    error: bool = False  # the last scan was refused: the screen blinks red


class PutawayStatus(StrEnum):
    QUEUED = "queued"  # its bin's light is held by other work; it is lit when that is done
    LIT = "lit"
    PUT = "put"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class Putaway:
    """Stock to put into a bin: the bin lights with the quantity, and the confirmed value is what was put."""

    task_id: str
    sku: str
    qty: int
    location: str
    fingerprint: str
    created_at: float
    status: PutawayStatus = PutawayStatus.QUEUED
    # Place in its bin's queue while other work holds the light there; None when not waiting.
    ticket: int | None = None
    put: int | None = None
    # The zone station it was scanned at (None: it came from the API), and who was signed in there.
    station: str | None = None
    operator: str | None = None
    finished_at: float | None = None


class CountStatus(StrEnum):
    COUNTING = "counting"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class CountBinStatus(StrEnum):
    QUEUED = "queued"  # its light is held by other work (a pick, a putaway): the count waits for it
    LIT = "lit"
    COUNTED = "counted"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class CountBin:
    """One bin of a cycle count.

    `expected` is the record when the bin was first counted and `counted` what its latest count found;
    `variance` is that latest count's difference from the record it replaced, `adjusted` the sum of every
    change the count made to the record (a recount adds to it)."""

    location: str
    status: CountBinStatus = CountBinStatus.QUEUED
    ticket: int | None = None
    sku: str | None = None
    expected: int | None = None
    counted: int | None = None
    variance: int | None = None
    adjusted: int = 0
    recounts: int = 0
    counted_at: float | None = None


@dataclass(slots=True)
class CycleCount:
    """A count of some bins, blind or not; a difference above `variance_exception_pct` is an exception."""

    count_id: str
    blind: bool
    zone: str | None
    bins: dict[str, CountBin]
    fingerprint: str
    started_at: float
    variance_exception_pct: float
    status: CountStatus = CountStatus.COUNTING
    finished_at: float | None = None
    by: str | None = None
