"""Commands: what adapters and the API ask the floor to do. Imperative names, frozen, keyword-only."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Button(StrEnum):
    """The keys on a pick-to-light module."""

    CONFIRM = "confirm"
    SHORT = "short"
    PLUS = "plus"
    MINUS = "minus"


@dataclass(frozen=True, kw_only=True, slots=True)
class Command:
    """Base of every command. `message_id` makes an inbound device message idempotent."""

    message_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class DefineZone(Command):
    """A zone of the site (from the site file)."""

    zone: str
    scan_verify: bool = False
    name: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class UpsertItem(Command):
    sku: str
    description: str = ""
    gtins: tuple[str, ...] = ()
    unit_weight_g: float | None = None
    weight_tolerance_g: float | None = None
    """Per-unit weight tolerance in grams, for items whose weight varies; None: none of its own."""


@dataclass(frozen=True, kw_only=True, slots=True)
class UpsertLocation(Command):
    code: str
    zone: str
    module: str | None = None
    sku: str | None = None
    on_hand: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class NewOrderLine:
    line_id: str
    sku: str
    qty: int
    location: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ReceiveOrder(Command):
    order_id: str
    lines: tuple[NewOrderLine, ...]
    priority: int = 0
    tote: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class StartOrder(Command):
    order_id: str
    zone: str
    operator: str | None = None
    tote: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelOrder(Command):
    order_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RetireFinishedOrders(Command):
    """Let go of the orders finished before `before` (wall clock): they stay in the store, not in memory."""

    before: float


@dataclass(frozen=True, kw_only=True, slots=True)
class ForgetResolvedExceptions(Command):
    """Let go of the exceptions resolved before `before` (wall clock); the store deletes them next."""

    before: float


@dataclass(frozen=True, kw_only=True, slots=True)
class PressButton(Command):
    """A key pressed on a PTL module. `display` is the value the module showed at that moment."""

    module: str
    button: Button
    display: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SupersedeRetainedCommand(Command):
    """Move a module's light seq past `seen_seq` and send it its current light again.

    The broker holds a retained `cmd` for the module, at or above the floor's seq, that the floor did not
    send (planted by hand, or left by an earlier run on another store): a module ignores any older seq, so
    the floor's command must outrank it before it can replace it.
    """

    module: str
    seen_seq: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportDeviceStatus(Command):
    """A device came online or went offline (its MQTT status, a port that vanished, an ack timeout)."""

    device: str
    kind: str
    online: bool
    transport: str = "mqtt"
    reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordDeviceFault(Command):
    """Input from a device that could not be understood: a malformed frame, an unknown button."""

    device: str
    kind: str
    reason: str
    detail: dict[str, object] = field(default_factory=dict)
    # The adapter knows no such device (an MQTT id no station names): the fault folds with the others of
    # unknown devices. A module no location names is recognised by the floor itself.
    unknown: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class ResolveException(Command):
    exception_id: int
    resolved_by: str | None = None
    note: str | None = None


class StationKind(StrEnum):
    PACK = "pack"
    ZONE = "zone"


class StationMode(StrEnum):
    """What an item scan at a zone station does: arm a pick, or put stock away."""

    PICK = "pick"
    PUTAWAY = "putaway"


@dataclass(frozen=True, kw_only=True, slots=True)
class DefineStation(Command):
    """A station of the site file: a zone's start station, or a weigh-verify pack station."""

    station: str
    kind: StationKind
    zone: str | None = None
    tolerance_g: float = 0.0
    tolerance_pct: float = 0.0
    tare_g: float = 0.0
    mode: StationMode = StationMode.PICK


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordScan(Command):
    """A scanner at a station read a code. `data` is the raw text, AIM prefix and GS separators included."""

    station: str
    data: str
    scanner: str | None = None


class ScaleCondition(StrEnum):
    """What the scale says about its reading, beyond the number."""

    OK = "ok"
    OVERLOAD = "overload"
    UNDERLOAD = "underload"
    ERROR = "error"


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordWeight(Command):
    """A weight from the scale at a station. `stable` is already decided by the scale adapter."""

    station: str
    grams: float
    stable: bool
    condition: ScaleCondition = ScaleCondition.OK
    scale: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class OverrideWeightCheck(Command):
    """A supervisor accepts a failed weight check for the order at a pack station."""

    station: str
    order_id: str
    reason: str
    by: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RaiseException(Command):
    """Infrastructure (e.g. the webhook relay) asks for a person's attention."""

    kind: str
    message: str
    device: str | None = None
    detail: dict[str, object] = field(default_factory=dict)
    # An open exception of the same kind and device counts the repeat; a separate one keeps each detail
    # (a command set aside must not be folded into the one before it).
    separate: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class ReceiveBatch(Command):
    """Orders to be picked as one walk and sorted at a put wall; `order_ids` oldest first."""

    batch_id: str
    order_ids: tuple[str, ...]
    wall: str


@dataclass(frozen=True, kw_only=True, slots=True)
class StartBatch(Command):
    """Light each bin of the batch in `zone` once, with the batch's summed quantity for it."""

    batch_id: str
    zone: str
    operator: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class DefineWall(Command):
    """A put wall of the site file: its cubbies' modules, in the order they are handed out."""

    wall: str
    cubbies: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class ReceivePutaway(Command):
    """Stock to put away: into `location`, or else into the bin holding the sku (in `zone`, if given)."""

    task_id: str
    sku: str
    qty: int
    location: str | None = None
    zone: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelPutaway(Command):
    task_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class DefineCountPolicy(Command):
    """The site file's `[counts]`: a count's difference above this percentage raises an exception."""

    variance_exception_pct: float


@dataclass(frozen=True, kw_only=True, slots=True)
class StartCount(Command):
    """Count the bins of a zone (those with a module) or the given locations; blind shows no quantity."""

    count_id: str
    zone: str | None = None
    locations: tuple[str, ...] = ()
    blind: bool = True
    by: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RecountBins(Command):
    """A supervisor asks for some counted bins again; none named: every bin whose count differed."""

    count_id: str
    locations: tuple[str, ...] = ()
    by: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelCount(Command):
    count_id: str
    by: str | None = None
