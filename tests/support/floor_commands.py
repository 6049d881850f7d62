"""The small floor the core unit tests drive through commands: zones A and B, four bins, and helpers that
receive orders, press buttons and read what an outcome lit, cleared or recorded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

import pytest

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.errors import CommandRejected
from floorgate.core.floor import Floor, Outcome
from floorgate.core.instructions import ClearBin, LightBin

NOW = 1_700_000_000.0


def make_floor() -> Floor:
    floor = Floor()
    for zone in ("A", "B"):
        floor.handle(cmd.DefineZone(zone=zone), NOW)
    for code, zone, sku, on_hand in [
        ("A-01", "A", "SKU-1", 10),
        ("A-02", "A", "SKU-2", 10),
        ("A-03", "A", "SKU-3", 1),
        ("B-01", "B", "SKU-4", 10),
    ]:
        floor.handle(
            cmd.UpsertLocation(code=code, zone=zone, module=f"M-{code}", sku=sku, on_hand=on_hand), NOW
        )
    return floor


def receive(floor: Floor, order_id: str, *lines: tuple[str, str, int, str | None]) -> Outcome:
    return floor.handle(
        cmd.ReceiveOrder(
            order_id=order_id,
            lines=tuple(
                cmd.NewOrderLine(line_id=lid, sku=sku, qty=qty, location=loc) for lid, sku, qty, loc in lines
            ),
        ),
        NOW,
    )


def press(floor: Floor, module: str, display: str | None, button: cmd.Button = cmd.Button.CONFIRM) -> Outcome:
    return floor.handle(cmd.PressButton(module=module, button=button, display=display), NOW)


def of_type(outcome: Outcome, kind: type[ev.Event]) -> list[ev.Event]:
    return [e for e in outcome.events if isinstance(e, kind)]


def lights_on(outcome: Outcome) -> dict[str, LightBin]:
    return {i.module: i for i in outcome.instructions if isinstance(i, LightBin)}


def cleared(outcome: Outcome) -> set[str]:
    return {i.module for i in outcome.instructions if isinstance(i, ClearBin)}


def restored_copy(floor: Floor, *, prepare: Callable[[Floor], None] | None = None) -> Floor:
    """A new floor restored from this one's entities, as the store would read them back after a restart.

    `prepare` is called on the new floor before the restore (to register a light taker on its board)."""
    copy = Floor()
    if prepare is not None:
        prepare(copy)
    copy.restore(
        zones=floor.zones.values(),
        items=floor.items.values(),
        locations=floor.locations.values(),
        orders=floor.orders.values(),
        lights=floor.lights.values(),
        devices=floor.devices.values(),
        exceptions=floor.exceptions.values(),
        stations=floor.stations.values(),
        batches=floor.batches.values(),
        walls=floor.walls.values(),
        putaways=floor.state.putaways.values(),
        counts=floor.state.counts.values(),
        variance_exception_pct=floor.state.variance_exception_pct,
    )
    return copy


def nothing_changed(floor: Floor) -> bool:
    """Whether the floor's change set is empty: a refused command left nothing for the store to write."""
    changes = floor.changes
    return not any(getattr(changes, f.name) for f in fields(changes))


def refused(floor: Floor, command: cmd.Command) -> CommandRejected:
    """The refusal of a command the floor must not take, having checked that it changed nothing."""
    floor.changes.clear()
    with pytest.raises(CommandRejected) as raised:
        floor.handle(command, NOW)
    assert nothing_changed(floor)
    return raised.value


def floor_events(outcome: Outcome) -> list[ev.Event]:
    """The outcome's events but a module's first sighting (device.online)."""
    return [e for e in outcome.events if not isinstance(e, ev.DeviceOnline)]
