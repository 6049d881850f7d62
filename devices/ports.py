"""The device ports: what an adapter is given to hand commands in (`Submit`), and what it is to the edge.

Every adapter (PTL, scanners, scales, whatever its transport) submits core commands through the same
port and runs the same way, so both protocols live here rather than with any one adapter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from floorgate.core.commands import Command


class Submit(Protocol):
    """The writer's queue: `on_commit` runs once the command is durably applied (or judged a duplicate)."""

    def __call__(
        self, command: Command, /, *, on_commit: Callable[[], None] | None = None
    ) -> Awaitable[None]: ...


class StationDevice(Protocol):
    """A running device adapter: `run()` owns its transport and reconnects by itself until cancelled."""

    name: str

    async def run(self) -> None: ...
