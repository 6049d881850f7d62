"""The device registry: every module, scanner and scale the floor has heard of, and whether it is online.

A device counts as seen whenever it sends anything; its status reports and faults are commands of their
own. Shared by the capabilities whose commands come from a device (a button press, a scale reading).
"""

from __future__ import annotations

from collections.abc import Mapping

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.capability import Handler
from floorgate.core.exception_book import ExceptionBook
from floorgate.core.light_board import LightBoard
from floorgate.core.model import Device
from floorgate.core.outcome import Outcome
from floorgate.core.state import FloorState

# A device's last-seen time is written to the store at most this often while it stays online.
LAST_SEEN_SAVE_SECONDS = 30.0


class DeviceRegistry:
    """The floor's devices: sightings, status reports and faults."""

    def __init__(self, state: FloorState, board: LightBoard, book: ExceptionBook) -> None:
        self._state = state
        self._board = board
        self._book = book

    def handlers(self) -> Mapping[type[cmd.Command], Handler]:
        return {
            cmd.ReportDeviceStatus: self._report_device_status,
            cmd.RecordDeviceFault: self._record_device_fault,
        }

    def rebuild(self) -> None:
        """Nothing to derive: the devices are the state."""

    def register(self, device_id: str, kind: str) -> None:
        """Know of a device before it has said anything (a module the site assigned to a location)."""
        state = self._state
        if device_id not in state.devices:
            state.devices[device_id] = Device(id=device_id, kind=kind)
            state.changes.devices.add(device_id)

    def seen(self, device_id: str, kind: str, now: float, outcome: Outcome) -> None:
        """The device sent something: it is online, and its last-seen time moves on."""
        state = self._state
        device = state.devices.get(device_id)
        if device is None:
            device = state.devices[device_id] = Device(id=device_id, kind=kind)
        device.last_seen = now
        came_online = device.online is not True
        if (
            came_online
            or device.last_seen_saved is None
            or now - device.last_seen_saved >= LAST_SEEN_SAVE_SECONDS
        ):
            device.last_seen_saved = now
            state.changes.devices.add(device_id)
        if came_online:
            device.online = True
            outcome.events.append(
                ev.DeviceOnline(device=device_id, kind=device.kind, transport=device.transport)
            )

    def _report_device_status(self, command: cmd.ReportDeviceStatus, now: float) -> Outcome:
        state = self._state
        outcome = Outcome()
        device = state.devices.get(command.device)
        if device is None:
            device = state.devices[command.device] = Device(
                id=command.device, kind=command.kind, transport=command.transport
            )
            if command.kind == "ptl" and self._board.location_of_module(command.device) is None:
                self._book.raise_(
                    outcome,
                    now,
                    kind="unknown_module",
                    message=f"module {command.device!r} is on the bus but belongs to no location",
                    device=command.device,
                )
        device.last_seen = now
        state.changes.devices.add(command.device)
        if device.online == command.online:
            return outcome
        device.online = command.online
        if command.online:
            outcome.events.append(
                ev.DeviceOnline(device=device.id, kind=device.kind, transport=device.transport)
            )
        else:
            outcome.events.append(
                ev.DeviceOffline(
                    device=device.id,
                    kind=device.kind,
                    transport=device.transport,
                    reason=command.reason,
                )
            )
        return outcome

    def _record_device_fault(self, command: cmd.RecordDeviceFault, now: float) -> Outcome:
        outcome = Outcome()
        self._book.raise_(
            outcome,
            now,
            kind="device_fault",
            message=f"{command.kind} {command.device!r}: {command.reason}",
            device=command.device,
            detail=dict(command.detail),
        )
        return outcome
