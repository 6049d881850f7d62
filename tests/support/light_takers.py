"""Hand-written light takers for the light board's claims: a task kind that lights bins, and an owner of
modules that are not bins. They record what the board and the button router hand them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from floorgate.core import commands as cmd
from floorgate.core.instructions import Blink
from floorgate.core.light_board import LightBoard
from floorgate.core.outcome import Outcome

TAKER_COLOR = "white"


@dataclass
class HeldClaim:
    """One claim as a capability would keep it in the floor's state: lit, or queued with its ticket."""

    lit: bool
    ticket: int | None


@dataclass
class RecordingTaker:
    """A task kind that lights a bin with its task's name, and records its presses and turns."""

    board: LightBoard
    modules: dict[str, str]  # location code -> module, for showing the light
    kind: str = "probe"  # a kind no capability of the floor registers
    held: dict[tuple[str, str], HeldClaim] = field(default_factory=dict)
    presses: list[tuple[str, str, cmd.Button, str | None]] = field(default_factory=list)
    turns: list[tuple[str, str]] = field(default_factory=list)

    def ask(self, code: str, task: str) -> Outcome:
        outcome = Outcome()
        ticket = self.board.claim(code, self.kind, task, outcome)
        self.held[code, task] = HeldClaim(lit=ticket is None, ticket=ticket)
        if ticket is None:
            self._show(code, task, outcome)
        return outcome

    def done(self, code: str, task: str) -> Outcome:
        outcome = Outcome()
        del self.held[code, task]
        self.board.release(code, self.kind, task, outcome)
        return outcome

    def lit(self, code: str, task: str, outcome: Outcome) -> None:
        self.turns.append((code, task))
        self.held[code, task] = HeldClaim(lit=True, ticket=None)
        self._show(code, task, outcome)

    def press(self, command: cmd.PressButton, code: str, task: str, now: float, outcome: Outcome) -> None:
        self.presses.append((code, task, command.button, command.display))

    def claims(self) -> Iterable[tuple[str, str, bool, int | None]]:
        return [(code, task, claim.lit, claim.ticket) for (code, task), claim in self.held.items()]

    def _show(self, code: str, task: str, outcome: Outcome) -> None:
        self.board.set_light(self.modules[code], outcome, color=TAKER_COLOR, blink=Blink.SLOW, display=task)


@dataclass
class RecordingModuleOwner:
    """Owns modules that are not bins; records the presses on them and leaves their lights as they are."""

    presses: list[tuple[str, cmd.Button]] = field(default_factory=list)

    def press_module(self, command: cmd.PressButton, now: float, outcome: Outcome) -> None:
        self.presses.append((command.module, command.button))
