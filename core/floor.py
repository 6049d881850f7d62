"""The floor aggregate: applies commands to the live state and returns events and light instructions.

Pure: no I/O, no clock (callers pass `now`), no logging. The single writer in `edge/` is its only caller;
it persists what `changes` names and sends the instructions only after the commit.

The floor itself is thin. It owns the state (core/state.py) and the collaborators every capability
shares: the light board (lights, who holds and who waits for each location, pickers' colours), the
exception book and the device registry. It builds the capabilities (master data, picking, the module
buttons, weigh-verify packing, batch picking and the put wall, devices, exceptions, and the station
scans, which route a scan to the zone scans', the pack stations' or the put wall's flow by the kind of
station), passing each the collaborators it needs, and collects their command handlers into one
dispatch table. A new kind of task (batch picking at a put wall, putaway, cycle
counts) lands as one more capability module following core/capability.py: built here, it registers its
handlers (and, if it takes scans, its station kind's scan flow) and shares the light board, rather than
adding branches to a class.

The floor never reads the store. An order it has let go of (retired) lives only in the store, so whoever
holds the store reads the order a command names when the floor does not hold it (`unheld_order`) and
notes it on the floor just before handing the command in (`note_retired`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar, overload

from floorgate.core import commands as cmd
from floorgate.core.batches import BatchPicking
from floorgate.core.buttons import Buttons
from floorgate.core.capability import Capability, Handler
from floorgate.core.cycle_counts import CycleCounts
from floorgate.core.device_registry import DeviceRegistry
from floorgate.core.exception_book import ExceptionBook
from floorgate.core.instructions import Instruction, LightBin
from floorgate.core.light_board import LightBoard
from floorgate.core.master_data import MasterData
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
from floorgate.core.module_lights import ModuleLights
from floorgate.core.outcome import Outcome
from floorgate.core.packing import PackStations
from floorgate.core.picking import Picking, order_fingerprint
from floorgate.core.put_wall import WALL_STATION, PutWall
from floorgate.core.putaway import Putaways
from floorgate.core.state import Changes, FloorState
from floorgate.core.station_scans import StationScans
from floorgate.core.zone_scans import ZoneScans

__all__ = ["Changes", "Floor", "Outcome", "order_fingerprint"]

T = TypeVar("T")


class _InState(Generic[T]):
    """A part of the floor's state, read and set as an attribute of the floor itself (`floor.orders`)."""

    def __set_name__(self, owner: type[Floor], name: str) -> None:
        self._name = name

    @overload
    def __get__(self, floor: None, owner: type[Floor]) -> _InState[T]: ...
    @overload
    def __get__(self, floor: Floor, owner: type[Floor] | None = None) -> T: ...
    def __get__(self, floor: Floor | None, owner: type[Floor] | None = None) -> T | _InState[T]:
        if floor is None:
            return self
        value: T = getattr(floor.state, self._name)
        return value

    def __set__(self, floor: Floor, value: T) -> None:
        setattr(floor.state, self._name, value)


class Floor:
    """The live state of one edge's zones."""

    def __init__(self) -> None:
        self.state = FloorState()
        self.board = LightBoard(self.state)
        self.book = ExceptionBook(self.state)
        self.registry = DeviceRegistry(self.state, self.board, self.book)
        self.picking = Picking(self.state, self.board, self.book)
        # Weigh-verify at pack stations (core/packing.py); the store restores its stations' states.
        self.packing = PackStations(self.state, self.book, self.registry)
        # Batch picking lights bins through claims on the board; the put wall owns its cubbies' modules.
        self.batch_picking = BatchPicking(self.state, self.board, self.book, self.picking)
        self.board.register(self.batch_picking)
        self.zone_scans = ZoneScans(
            self.state, self.board, self.book, self.picking, start_batch=self.batch_picking.start
        )
        self.put_wall = PutWall(self.state, self.board, self.book, self.registry, self.picking)
        # Putaway and cycle counts light bins through the board's claims (core/putaway.py,
        # core/cycle_counts.py); a zone station in putaway mode hands its scans to putaway.
        self.putaways = Putaways(self.state, self.board, self.book, badges=self.zone_scans.scan)
        self.counts = CycleCounts(self.state, self.board, self.book)
        self.board.register(self.putaways)
        self.board.register(self.counts)
        scans = StationScans(
            self.state,
            self.book,
            flows={
                cmd.StationKind.ZONE.value: self.zone_scans.scan,
                cmd.StationKind.PACK.value: self.packing.scan,
                WALL_STATION: self.put_wall.scan,
                f"{cmd.StationKind.ZONE.value}/{cmd.StationMode.PUTAWAY.value}": self.putaways.scan,
            },
        )
        self.capabilities: tuple[Capability, ...] = (
            MasterData(self.state, self.board, self.book, self.registry),
            self.picking,
            Buttons(self.board, self.registry, self.picking),
            self.packing,
            self.batch_picking,
            self.put_wall,
            scans,
            self.registry,
            self.book,
            ModuleLights(self.board),
            self.putaways,
            self.counts,
        )
        self._handlers: dict[type[cmd.Command], Handler] = {}
        for capability in self.capabilities:
            for command_type, handler in capability.handlers().items():
                if command_type in self._handlers:
                    raise ValueError(f"two capabilities handle {command_type.__name__}")
                self._handlers[command_type] = handler

    # -- the state, as the edge and the web read it -------------------------------------------------

    zones = _InState[dict[str, Zone]]()
    items = _InState[dict[str, Item]]()
    locations = _InState[dict[str, Location]]()
    orders = _InState[dict[str, Order]]()
    lights = _InState[dict[str, Light]]()
    devices = _InState[dict[str, Device]]()
    exceptions = _InState[dict[int, FloorException]]()
    stations = _InState[dict[str, Station]]()
    batches = _InState[dict[str, Batch]]()
    walls = _InState[dict[str, Wall]]()
    changes = _InState[Changes]()

    # -- entry point -------------------------------------------------------------------------------

    def handle(self, command: cmd.Command, now: float) -> Outcome:
        """Apply one command. Raises CommandRejected, before touching any state, when it cannot apply."""
        handler = self._handlers.get(type(command))
        if handler is None:
            raise TypeError(f"no handler for {type(command).__name__}")
        try:
            return handler(command, now)
        finally:
            self.state.known_retired = None

    def note_retired(self, order: RetiredOrder) -> None:
        """The order the next command names, as the store holds it since this floor let go of it (see
        `unheld_order`); the note lasts for that one command. Without it, a retired order's id counts as
        never received."""
        self.state.known_retired = order

    def unheld_order(self, command: cmd.Command) -> str | None:
        """The order id the command names when this floor does not hold that order (retired, or unknown)."""
        order_id = getattr(command, "order_id", None)
        if isinstance(order_id, str) and order_id not in self.state.orders:
            return order_id
        return None

    # -- restore -----------------------------------------------------------------------------------

    def restore(
        self,
        *,
        zones: Iterable[Zone] = (),
        items: Iterable[Item] = (),
        locations: Iterable[Location] = (),
        orders: Iterable[Order] = (),
        lights: Iterable[Light] = (),
        devices: Iterable[Device] = (),
        exceptions: Iterable[FloorException] = (),
        stations: Iterable[Station] = (),
        batches: Iterable[Batch] = (),
        walls: Iterable[Wall] = (),
        putaways: Iterable[Putaway] = (),
        counts: Iterable[CycleCount] = (),
        variance_exception_pct: float | None = None,
    ) -> None:
        """Load state read back from the store and rebuild the indexes derived from it."""
        state = self.state
        state.stations = {s.id: s for s in stations}
        state.zones = {z.id: z for z in zones}
        state.items = {i.sku: i for i in items}
        state.locations = {loc.code: loc for loc in locations}
        state.orders = {o.order_id: o for o in orders}
        state.lights = {light.module: light for light in lights}
        state.devices = {d.id: d for d in devices}
        state.exceptions = {x.id: x for x in exceptions}
        state.batches = {b.batch_id: b for b in batches}
        state.walls = {w.id: w for w in walls}
        state.putaways = {p.task_id: p for p in putaways}
        state.counts = {c.count_id: c for c in counts}
        if variance_exception_pct is not None:
            state.variance_exception_pct = variance_exception_pct
        self.board.rebuild()
        for capability in self.capabilities:
            capability.rebuild()
        state.changes.clear()

    # -- the lights, as the edge reads them --------------------------------------------------------

    def location_of_module(self, module: str) -> str | None:
        return self.board.location_of_module(module)

    def light_commands(self) -> list[Instruction]:
        """The command every module the floor has lit should show now, lit ones first: re-sent on start-up.

        Dark modules are sent their "off" again too (see LightBoard.light_commands).
        """
        return self.board.light_commands()

    def lit_commands(self) -> list[LightBin]:
        """The command every lit module should show now."""
        return self.board.lit_commands()
