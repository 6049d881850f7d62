"""The floor's master data: zones, items, locations (bins and their modules) and stations, from ERP and site.

Upserts, so the site file and the ERP may send the same record again. A location whose light is held by
a pick keeps its module and zone until that pick is done.
"""

from __future__ import annotations

from collections.abc import Mapping

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.capability import Handler
from floorgate.core.device_registry import DeviceRegistry
from floorgate.core.errors import conflict, invalid
from floorgate.core.exception_book import ExceptionBook
from floorgate.core.light_board import LightBoard
from floorgate.core.model import Item, Location, Station, Zone
from floorgate.core.outcome import Outcome
from floorgate.core.state import FloorState


class MasterData:
    """Defines and updates what the floor is made of."""

    def __init__(
        self, state: FloorState, board: LightBoard, book: ExceptionBook, devices: DeviceRegistry
    ) -> None:
        self._state = state
        self._board = board
        self._book = book
        self._devices = devices

    def handlers(self) -> Mapping[type[cmd.Command], Handler]:
        return {
            cmd.DefineZone: self._define_zone,
            cmd.UpsertItem: self._upsert_item,
            cmd.UpsertLocation: self._upsert_location,
            cmd.DefineStation: self._define_station,
        }

    def rebuild(self) -> None:
        """Nothing to derive: the module index is the light board's."""

    def _define_zone(self, command: cmd.DefineZone, now: float) -> Outcome:
        state = self._state
        state.zones[command.zone] = Zone(id=command.zone, scan_verify=command.scan_verify, name=command.name)
        state.changes.zones.add(command.zone)
        return Outcome()

    def _define_station(self, command: cmd.DefineStation, now: float) -> Outcome:
        state = self._state
        if command.zone is not None and command.zone not in state.zones:
            raise invalid(f"station {command.station!r} names unknown zone {command.zone!r}", field="zone")
        previous = state.stations.get(command.station)
        state.stations[command.station] = Station(
            id=command.station,
            kind=command.kind.value,
            zone=command.zone,
            tolerance_g=command.tolerance_g,
            tolerance_pct=command.tolerance_pct,
            tare_g=command.tare_g,
            mode=command.mode.value,
            # The site file is read again on every start; who is signed in there is live state.
            operator=previous.operator if previous is not None else None,
        )
        state.changes.stations.add(command.station)
        return Outcome()

    def _upsert_item(self, command: cmd.UpsertItem, now: float) -> Outcome:
        state = self._state
        if command.weight_tolerance_g is not None and not 0 <= command.weight_tolerance_g < float("inf"):
            # Written so NaN is refused too: an infinite or NaN tolerance would pass (or fail) every carton.
            raise invalid("weight_tolerance_g must be a finite number >= 0", field="weight_tolerance_g")
        existing = state.items.get(command.sku)
        state.items[command.sku] = Item(
            sku=command.sku,
            description=command.description,
            gtins=command.gtins,
            unit_weight_g=command.unit_weight_g,
            weight_tolerance_g=command.weight_tolerance_g,
        )
        state.changes.items.add(command.sku)
        return Outcome(reply={"created": existing is None})

    def _upsert_location(self, command: cmd.UpsertLocation, now: float) -> Outcome:
        state = self._state
        existing = state.locations.get(command.code)
        self._check_location(command, existing)
        outcome = Outcome(reply={"created": existing is None})
        location = existing or Location(code=command.code, zone=command.zone)
        self._board.move_module(
            command.code, old=existing.module if existing is not None else None, new=command.module
        )
        location.zone = command.zone
        location.module = command.module
        if command.sku is not None:
            location.sku = command.sku
        if command.module is not None:
            self._book.settle(
                outcome,
                now,
                kind="unknown_module",
                device=command.module,
                note=f"assigned to location {command.code}",
            )
            self._devices.register(command.module, "ptl", outcome)
        if command.on_hand is not None and command.on_hand != location.on_hand:
            outcome.events.append(
                ev.InventoryAdjusted(
                    location=command.code,
                    sku=location.sku,
                    on_hand=command.on_hand,
                    previous=location.on_hand,
                    reason="set",
                )
            )
            location.on_hand = command.on_hand
        state.locations[command.code] = location
        state.changes.locations.add(command.code)
        return outcome

    def _check_location(self, command: cmd.UpsertLocation, existing: Location | None) -> None:
        """Refuse, before anything changes, a location the floor cannot take as it is now."""
        zones = self._state.zones
        if command.zone not in zones:
            known = ", ".join(sorted(zones)) or "none"
            raise invalid(f"unknown zone {command.zone!r} (zones: {known})", field="zone")
        if command.on_hand is not None and command.on_hand < 0:
            raise invalid("on_hand must not be negative", field="on_hand")
        if command.module is not None:
            owner = self._board.location_of_module(command.module)
            if owner is not None and owner != command.code:
                raise conflict(
                    f"module {command.module!r} already belongs to location {owner!r}", field="module"
                )
            if self._board.module_taker(command.module) is not None:
                raise conflict(
                    f"module {command.module!r} is not a bin's (a put wall's cubby)", field="module"
                )
        moving = existing is not None and (existing.module, existing.zone) != (command.module, command.zone)
        holder = self._board.holder(command.code)
        if moving and holder is not None:
            order_id, line_id = holder
            raise conflict(
                f"location {command.code!r} is lit for order {order_id} line {line_id}: "
                "its module and zone cannot change until that pick is done"
            )
        claim = self._board.claim_of(command.code)
        if moving and claim is not None:
            raise conflict(
                f"location {command.code!r} is lit for {claim[0]} task {claim[1]}: "
                "its module and zone cannot change until that task is done"
            )
