"""A fake of the writer's queue as device adapters see it (the `Submit` port): it records every command.

Like the writer, it settles each device message once "committed" (here: at once) unless told to hold the
acks, and it can refuse the next few commands as a failing writer would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from floorgate.core.commands import Command, ReportDeviceStatus

C = TypeVar("C", bound=Command)


@dataclass
class RecordingSubmit:
    """Every submitted command, in order; `fail_next` refuses that many, `hold_acks` keeps acks in `held`."""

    commands: list[Command] = field(default_factory=list)
    fail_next: int = 0
    hold_acks: bool = False
    held: list[Callable[[], None]] = field(default_factory=list)

    async def __call__(self, command: Command, /, *, on_commit: Callable[[], None] | None = None) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("writer refused the command")
        self.commands.append(command)
        if on_commit is not None:
            if self.hold_acks:
                self.held.append(on_commit)
            else:
                on_commit()

    def of(self, kind: type[C]) -> list[C]:
        return [command for command in self.commands if isinstance(command, kind)]

    def statuses(self, device: str | None = None) -> list[ReportDeviceStatus]:
        """The status reports, of one device or of all."""
        return [status for status in self.of(ReportDeviceStatus) if device is None or status.device == device]

    def online(self, device: str | None = None) -> list[bool]:
        """What the status reports said, in order: True for online."""
        return [status.online for status in self.statuses(device)]
