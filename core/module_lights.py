"""Module lights: the floor's answer to a light on the bus that it did not send.

A capability of its own (core/capability.py) because no task owns it: the broker may hold a retained
command for a module, planted by hand or left by an earlier run on another store, whose seq is at or
above the floor's. A module ignores an older seq, so the floor moves the module's seq past the one seen,
durably like any light change, and sends the module its current light again under that seq.
"""

from __future__ import annotations

from collections.abc import Mapping

from floorgate.core import commands as cmd
from floorgate.core.capability import Handler
from floorgate.core.errors import invalid
from floorgate.core.light_board import LightBoard
from floorgate.core.outcome import Outcome

# The highest seq the floor takes from the bus: a JSON number every client reads exactly (2**53 - 1), far
# below the 64-bit integers a store holds. A planted seq above it is refused, not followed.
MAX_SEEN_SEQ = 2**53 - 1


class ModuleLights:
    """Handles `SupersedeRetainedCommand`; the lights themselves are the light board's."""

    def __init__(self, board: LightBoard) -> None:
        self._board = board

    def handlers(self) -> Mapping[type[cmd.Command], Handler]:
        return {cmd.SupersedeRetainedCommand: self._supersede}

    def rebuild(self) -> None:
        """Nothing to derive: the lights are the state."""

    def _supersede(self, command: cmd.SupersedeRetainedCommand, now: float) -> Outcome:
        if not command.module:
            raise invalid("a module id is required", field="module")
        if not 0 <= command.seen_seq <= MAX_SEEN_SEQ:
            raise invalid(f"seen_seq must be between 0 and {MAX_SEEN_SEQ}", field="seen_seq")
        outcome = Outcome()
        self._board.reissue(command.module, outcome, past=command.seen_seq)
        return outcome
