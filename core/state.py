"""The floor's state: the entities one edge holds, by key, and the change set the store writes next.

Every capability of the floor works on one FloorState, handed to it when the floor is built; the floor
replaces the dictionaries wholesale on restore, so a capability reads them through the state each time
rather than keeping its own reference to one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from floorgate.core.errors import conflict, not_found
from floorgate.core.model import (
    Batch,
    CycleCount,
    Device,
    FloorException,
    Item,
    Light,
    Location,
    Order,
    Putaway,
    RetiredOrder,
    Station,
    Wall,
    Zone,
)

DEFAULT_VARIANCE_EXCEPTION_PCT = 5.0


@dataclass(slots=True)
class Changes:
    """Keys of the entities changed since the last commit: the unit of work the store writes."""

    zones: set[str] = field(default_factory=set)
    items: set[str] = field(default_factory=set)
    locations: set[str] = field(default_factory=set)
    orders: set[str] = field(default_factory=set)
    lines: set[tuple[str, str]] = field(default_factory=set)
    lights: set[str] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)
    exceptions: set[int] = field(default_factory=set)
    stations: set[str] = field(default_factory=set)
    pack_stations: set[str] = field(default_factory=set)  # weigh-verify state (core/packing.py)
    batches: set[str] = field(default_factory=set)  # a batch, its orders and picks (core/batches.py)
    walls: set[str] = field(default_factory=set)  # a put wall's screen (core/put_wall.py)
    putaways: set[str] = field(default_factory=set)  # core/putaway.py
    counts: set[str] = field(default_factory=set)  # core/cycle_counts.py: the count itself
    count_bins: set[tuple[str, str]] = field(default_factory=set)  # (count_id, location)
    count_policy: set[str] = field(default_factory=set)  # {"site"} when `[counts]` changed

    def clear(self) -> None:
        for part in (
            self.zones,
            self.items,
            self.locations,
            self.orders,
            self.lines,
            self.lights,
            self.devices,
            self.exceptions,
            self.stations,
            self.pack_stations,
            self.batches,
            self.walls,
            self.putaways,
            self.counts,
            self.count_bins,
            self.count_policy,
        ):
            part.clear()


@dataclass(slots=True)
class FloorState:
    """The live entities of one edge's zones, and what changed in them since the last commit."""

    zones: dict[str, Zone] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)
    locations: dict[str, Location] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    lights: dict[str, Light] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)
    exceptions: dict[int, FloorException] = field(default_factory=dict)
    stations: dict[str, Station] = field(default_factory=dict)
    batches: dict[str, Batch] = field(default_factory=dict)
    walls: dict[str, Wall] = field(default_factory=dict)
    putaways: dict[str, Putaway] = field(default_factory=dict)
    counts: dict[str, CycleCount] = field(default_factory=dict)
    # `[counts] variance_exception_pct` of the site file: a new count takes it as its own threshold.
    variance_exception_pct: float = DEFAULT_VARIANCE_EXCEPTION_PCT
    changes: Changes = field(default_factory=Changes)
    # The order the command being handled names, as the store holds it once the floor let go of it;
    # set only for that command. Without it a retired order's id would start a new order.
    known_retired: RetiredOrder | None = None

    def retired(self, order_id: str) -> RetiredOrder | None:
        """The retired order of this id, if the caller handed it in with the command."""
        known = self.known_retired
        return known if known is not None and known.order_id == order_id else None

    def require_order(self, order_id: str, *, field: str | None = None) -> Order:
        """The order a command changes; one the floor has retired is a conflict, not an unknown id."""
        order = self.orders.get(order_id)
        if order is not None:
            return order
        retired = self.retired(order_id)
        if retired is not None:
            raise conflict(
                f"order {order_id!r} is {retired.status.value} and has left the floor: it can be read, "
                "not changed",
                field=field,
            )
        raise not_found(f"no order {order_id!r}", field=field)

    def touch_order(self, order: Order, *, all_lines: bool) -> None:
        self.changes.orders.add(order.order_id)
        if all_lines:
            self.changes.lines.update((order.order_id, line_id) for line_id in order.lines)
