"""The shape of a floor capability: the commands it handles, and what it rebuilds after a restore.

Picking, packing, zone scans, devices and exceptions are each one; a new kind of task (batch picking at a
put wall, putaway, cycle counts) lands as one more, sharing the floor's collaborators (the light board,
the exception book, the device registry, the floor's state) that the floor passes to it when it builds it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from floorgate.core import commands as cmd
from floorgate.core.model import Station
from floorgate.core.outcome import Outcome

# Applies one command at `now`. Raises CommandRejected, before touching any state, when it cannot apply.
Handler = Callable[[Any, float], Outcome]

# Handles a scan at one kind of station: (station, scan, now) -> outcome.
ScanFlow = Callable[[Station, cmd.RecordScan, float], Outcome]


class Capability(Protocol):
    """One part of the floor's work, built by the floor with the collaborators it needs."""

    def handlers(self) -> Mapping[type[cmd.Command], Handler]:
        """The commands this capability handles; no two capabilities of a floor claim the same one."""
        ...

    def rebuild(self) -> None:
        """Derive again, from the floor's state just restored from the store, what this part indexes."""
        ...
