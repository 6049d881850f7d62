"""The module buttons: every PTL press goes to the work its module shows, and every confirm is answered.

A press on a module that is not a bin (a put wall's cubby) goes to the capability owning that module; a
press on a bin whose light a claim holds (a batch pick, a putaway, a count) goes to that claim's taker;
anything else is picking's (an order line's pick, or a stray press it records). Whoever judged it, a
confirm or short is answered with a newer seq for its module (docs/contract.md): the module repeats the
press until it sees one.
"""

from __future__ import annotations

from collections.abc import Mapping

from floorgate.core import commands as cmd
from floorgate.core.capability import Handler
from floorgate.core.device_registry import DeviceRegistry
from floorgate.core.light_board import LightBoard
from floorgate.core.outcome import Outcome
from floorgate.core.picking import Picking

# The presses a module repeats until the edge answers (docs/contract.md). Plus and minus are not: the module
# edits its own display, and any command sent in answer would overwrite the value the picker is setting.
ANSWERED_BUTTONS = frozenset({cmd.Button.CONFIRM, cmd.Button.SHORT})


class Buttons:
    """Handles `PressButton`: routes it to the module's owner, the bin's claim, or picking."""

    def __init__(self, board: LightBoard, devices: DeviceRegistry, picking: Picking) -> None:
        self._board = board
        self._devices = devices
        self._picking = picking

    def handlers(self) -> Mapping[type[cmd.Command], Handler]:
        return {cmd.PressButton: self._press}

    def rebuild(self) -> None:
        """Nothing to derive: who owns a module or holds a bin is the light board's."""

    def _press(self, command: cmd.PressButton, now: float) -> Outcome:
        outcome = Outcome()
        board = self._board
        self._devices.seen(command.module, "ptl", now, outcome)
        owner = board.module_taker(command.module)
        code = board.location_of_module(command.module)
        claim = board.claim_of(code) if code is not None else None
        if owner is not None:
            owner.press_module(command, now, outcome)
        elif code is not None and claim is not None:
            kind, task = claim
            board.taker(kind).press(command, code, task, now, outcome)
        else:
            self._picking.press(command, now, outcome)
        ours = owner is not None or code is not None
        if (
            command.button in ANSWERED_BUTTONS
            and ours
            and all(i.module != command.module for i in outcome.instructions)
        ):
            # The module sends a confirm or short again until it sees a newer seq than the one it showed:
            # a press that leaves its light as it was (a dark module, a refused press) is answered all the
            # same. A module neither a location nor a capability has is not ours to light: answering it
            # would give any id that publishes a light row of its own (its repeats are one message id).
            board.reissue(command.module, outcome)
        return outcome
