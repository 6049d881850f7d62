"""The device registry: every module, scanner and scale the floor has heard of, and whether it is online.

A device counts as seen whenever it sends anything; its status reports and faults are commands of their
own. Shared by the capabilities whose commands come from a device (a button press, a scale reading).

A module no location names is not a device: anyone on the broker can invent module ids, so what such a
module says folds into the exception book's one `unknown_module` exception, and only its latest status is
remembered (for at most UNPLACED_REMEMBERED modules), so a location that claims it later knows whether it
is online.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.capability import Handler
from floorgate.core.exception_book import DEVICE_ID_CHARS, ExceptionBook, short_id
from floorgate.core.light_board import LightBoard
from floorgate.core.model import Device
from floorgate.core.outcome import Outcome
from floorgate.core.state import FloorState

# A device's last-seen time is written to the store at most this often while it stays online.
LAST_SEEN_SAVE_SECONDS = 30.0
# Unplaced modules whose latest status is remembered; beyond that the oldest is forgotten (a flood of
# invented ids costs this much memory and no more).
UNPLACED_REMEMBERED = 256


@dataclass(frozen=True, kw_only=True, slots=True)
class _Heard:
    """What an unplaced module said last."""

    online: bool
    at: float
    transport: str


class DeviceRegistry:
    """The floor's devices: sightings, status reports and faults."""

    def __init__(self, state: FloorState, board: LightBoard, book: ExceptionBook) -> None:
        self._state = state
        self._board = board
        self._book = book
        self._unplaced: dict[str, _Heard] = {}

    def handlers(self) -> Mapping[type[cmd.Command], Handler]:
        return {
            cmd.ReportDeviceStatus: self._report_device_status,
            cmd.RecordDeviceFault: self._record_device_fault,
        }

    def rebuild(self) -> None:
        """Nothing to derive: the devices are the state. What unplaced modules said is not kept."""
        self._unplaced.clear()

    def is_unplaced_module(self, device_id: str, kind: str) -> bool:
        """A module that is no device of the floor: no location names it, and none ever did."""
        return (
            kind == "ptl"
            and device_id not in self._state.devices
            and self._board.location_of_module(device_id) is None
        )

    def register(self, device_id: str, kind: str, outcome: Outcome | None = None) -> None:
        """Know of a device before it has said anything (a module the site assigned to a location).

        A module heard while unplaced starts with what it said last; `outcome` gets its `DeviceOnline`."""
        state = self._state
        if device_id in state.devices:
            return
        device = state.devices[device_id] = Device(id=device_id, kind=kind)
        state.changes.devices.add(device_id)
        heard = self._unplaced.pop(device_id, None)
        if heard is None:
            return
        device.transport = heard.transport
        device.online = heard.online
        device.last_seen = device.last_seen_saved = heard.at
        if heard.online and outcome is not None:
            outcome.events.append(
                ev.DeviceOnline(device=device_id, kind=device.kind, transport=device.transport)
            )

    def _hear_unplaced(self, device_id: str, online: bool, now: float, transport: str) -> None:
        if len(device_id) > DEVICE_ID_CHARS:
            return  # no module a location could name; an MQTT topic level may be 64 KiB
        self._unplaced.pop(device_id, None)
        self._unplaced[device_id] = _Heard(online=online, at=now, transport=transport)
        while len(self._unplaced) > UNPLACED_REMEMBERED:
            del self._unplaced[next(iter(self._unplaced))]

    def seen(self, device_id: str, kind: str, now: float, outcome: Outcome) -> None:
        """The device sent something: it is online, and its last-seen time moves on.

        An unplaced module does not become a device by it (see the module's docstring)."""
        state = self._state
        if self.is_unplaced_module(device_id, kind):
            self._hear_unplaced(device_id, True, now, "mqtt")
            return
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
        if self.is_unplaced_module(command.device, command.kind):
            self._hear_unplaced(command.device, command.online, now, command.transport)
            module = short_id(command.device)
            self._book.raise_unknown(
                outcome,
                now,
                kind="unknown_module",
                message=f"module {module!r} is on the bus but belongs to no location",
                device=module,
                detail={"online": command.online},
            )
            return outcome
        device = state.devices.get(command.device)
        if device is None:
            device = state.devices[command.device] = Device(
                id=command.device, kind=command.kind, transport=command.transport
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
        if command.unknown or self.is_unplaced_module(command.device, command.kind):
            device = short_id(command.device)
            self._book.raise_unknown(
                outcome,
                now,
                kind="device_fault",
                message=f"{command.kind} {device!r}, which the floor does not know: {command.reason}",
                device=device,
                detail=dict(command.detail),
            )
            return outcome
        self._book.raise_(
            outcome,
            now,
            kind="device_fault",
            message=f"{command.kind} {command.device!r}: {command.reason}",
            device=command.device,
            detail=dict(command.detail),
        )
        return outcome
