"""Handover: an edge of an active/standby pair taking over the floor, recorded as a fact of the floor."""

from __future__ import annotations

from collections.abc import Mapping

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.capability import Handler
from floorgate.core.outcome import Outcome


class Handover:
    """Records takeovers; the floor itself is unchanged (the new active edge restored it from the store)."""

    def handlers(self) -> Mapping[type[cmd.Command], Handler]:
        return {cmd.RecordTakeover: self._record_takeover}

    def rebuild(self) -> None:
        """Nothing is derived from the state."""

    def _record_takeover(self, command: cmd.RecordTakeover, _now: float) -> Outcome:
        return Outcome(
            events=[ev.EdgeTookOver(edge=command.edge, epoch=command.epoch, previous=command.previous)]
        )
