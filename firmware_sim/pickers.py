"""Simulated pickers: people who follow the lights of their zone and press the modules' buttons.

A picker works one module at a time, like a person: it takes the first module (in zone order) lit
in its colour, walks there, picks, and presses keys on the module. What it presses is decided by
`plan_presses`, a pure function so the odds of shorts and over-picks are unit-testable.

A red, fast-blinking module is the edge saying "error, fix it". The picker who worked that module
last (it remembers what was asked for there, and forgets once it sees the module lit for someone
else) brings the display back to that quantity and confirms. Red on a module it never worked is
someone else's problem; a picker started after the error does not know it is theirs.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from floorgate.core.commands import Button
from floorgate.core.instructions import ERROR_COLOR, Blink
from floorgate.devices.cancellation import raise_if_cancelling
from floorgate.firmware_sim.ptl_modules import ModuleBank, ModuleOffline
from floorgate.firmware_sim.ptl_observation import ChangeFeed, ModuleState

# A picker who follows every light in the zone, whatever its colour: `floorgate sim` runs one per zone
# against an edge elsewhere, where nobody tells it which colour the edge gave it.
ANY_COLOR = "*"

log = logging.getLogger(__name__)


class PickKind(StrEnum):
    PICK = "pick"  # confirmed what was asked for
    SHORT = "short"  # took less (the bin was short) and pressed short
    OVER_PICK = "over_pick"  # pressed plus by mistake and confirmed more than asked for


@dataclass(frozen=True, kw_only=True, slots=True)
class PickPlan:
    presses: tuple[Button, ...]
    kind: PickKind


def plan_presses(
    shown: int,
    requested: int,
    rng: random.Random,
    *,
    short_rate: float = 0.0,
    mistake_rate: float = 0.0,
) -> PickPlan:
    """The keys a picker presses at a module showing `shown` when `requested` was asked for.

    First plus/minus bring the display to `requested` (they differ only when fixing an error).
    Then, with probability `short_rate`, minus 1..requested times and `short` (reaching 0 is fine:
    the bin was empty); else, with probability `mistake_rate`, plus once and `confirm` (an
    over-pick the edge will reject); else `confirm` with the requested quantity.
    """
    presses: list[Button] = []
    if shown < requested:
        presses.extend([Button.PLUS] * (requested - shown))
    elif shown > requested:
        presses.extend([Button.MINUS] * (shown - requested))
    # Draw only for a non-zero rate, so a picker without shorts or mistakes uses no randomness here.
    if requested > 0 and short_rate > 0 and rng.random() < short_rate:
        missing = rng.randint(1, requested)
        presses.extend([Button.MINUS] * missing)
        presses.append(Button.SHORT)
        return PickPlan(presses=tuple(presses), kind=PickKind.SHORT)
    if mistake_rate > 0 and rng.random() < mistake_rate:
        presses.extend([Button.PLUS, Button.CONFIRM])
        return PickPlan(presses=tuple(presses), kind=PickKind.OVER_PICK)
    presses.append(Button.CONFIRM)
    return PickPlan(presses=tuple(presses), kind=PickKind.PICK)


def _check_rate(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")
    return value


class SimulatedPicker:
    """A person following the pick-to-light modules of one zone.

    `color` may be None (not working an order yet) and may be changed at run time by whoever starts
    orders; the picker notices at once. `seconds_per_pick` is the walk-and-pick time, varied by
    ±`jitter` (a fraction of it). Counters: `picks` (right quantity confirmed, fixes included),
    `shorts`, `mistakes` (over-picks) and `fixes` (errors corrected).
    """

    def __init__(
        self,
        bank: ModuleBank,
        name: str,
        modules_in_zone: Sequence[str],
        *,
        color: str | None = None,
        seconds_per_pick: float = 1.0,
        jitter: float = 0.3,
        short_rate: float = 0.0,
        mistake_rate: float = 0.0,
        rng: random.Random,
    ) -> None:
        if seconds_per_pick < 0:
            raise ValueError(f"seconds_per_pick must not be negative, got {seconds_per_pick}")
        self._bank = bank
        self.name = name
        self._zone = tuple(modules_in_zone)
        for module in self._zone:
            bank.state(module)  # fail now, naming the module, rather than when it lights up
        self._feed: ChangeFeed | None = None
        self._color: str | None = None
        self.color = color
        self.seconds_per_pick = seconds_per_pick
        self.jitter = _check_rate("jitter", jitter)
        self.short_rate = _check_rate("short_rate", short_rate)
        self.mistake_rate = _check_rate("mistake_rate", mistake_rate)
        self._rng = rng
        self.picks = 0
        self.shorts = 0
        self.mistakes = 0
        self.fixes = 0
        self.working_on: str | None = None
        # module -> seq already worked: a lit module stays lit until the edge answers, and must not
        # be confirmed twice for the same cmd.
        self._worked: dict[str, int] = {}
        # module -> quantity asked for when this picker worked it, to fix an error there later.
        self._requested: dict[str, int] = {}

    @property
    def color(self) -> str | None:
        return self._color

    @color.setter
    def color(self, value: str | None) -> None:
        if value == ERROR_COLOR:
            raise ValueError(f"{ERROR_COLOR} is the error colour, never a picker's")
        self._color = value
        if self._feed is not None:
            self._feed.poke()  # other modules may now be ours

    async def run(self) -> None:
        """Work until cancelled, woken by the bank's changes to this zone (no polling)."""
        with self._bank.watch(self._zone) as feed:
            self._feed = feed
            try:
                while True:
                    target = self._next_target()
                    if target is None:
                        await feed.wait()
                    else:
                        await self._work(target)
            finally:
                self._feed = None

    def _next_target(self) -> ModuleState | None:
        for module in self._zone:
            state = self._bank.state(module)
            if not state.lit or state.seq is None or self._worked.get(module) == state.seq:
                continue
            if self._mine(state.color):
                return state
            if self._is_error(state):
                if module in self._requested:
                    return state
            else:
                # Lit for someone else now: an error here later is theirs to fix, not ours.
                self._requested.pop(module, None)
        return None

    def _mine(self, color: str | None) -> bool:
        if self._color is None or color is None or color == ERROR_COLOR:
            return False
        return self._color in (ANY_COLOR, color)

    @staticmethod
    def _is_error(state: ModuleState) -> bool:
        return state.color == ERROR_COLOR and state.blink is Blink.FAST

    def _walk_time(self) -> float:
        spread = self.seconds_per_pick * self.jitter
        return max(0.0, self.seconds_per_pick + self._rng.uniform(-spread, spread))

    async def _work(self, target: ModuleState) -> None:
        module = target.module
        self.working_on = module
        try:
            await asyncio.sleep(self._walk_time())  # walking and picking take time: not a poll
            state = self._bank.state(module)
            if state.seq is None or state.seq != target.seq:
                return  # the edge changed the light while we walked: look again
            fixing = self._is_error(state)
            if not fixing and not self._mine(state.color):
                return  # our colour changed while we walked: this light is someone else's now
            plan = self._plan(state, fixing)
            self._worked[module] = state.seq
            try:
                for button in plan.presses:
                    await self._bank.press(module, button)
            except ModuleOffline:
                raise_if_cancelling()
                # Nothing reached the edge for this cmd (or not all of it): try again once the
                # module is back. The retained cmd may re-light it with the same seq.
                log.info("picker %s: module %s is offline; waiting for it", self.name, module)
                del self._worked[module]
                await self._bank.wait_online(module)
                return
            self._count(plan.kind, fixing)
        finally:
            self.working_on = None

    def _plan(self, state: ModuleState, fixing: bool) -> PickPlan:
        shown = state.quantity
        if shown is None:
            # Text on the display, not a quantity: nothing to count or adjust, just acknowledge it.
            return PickPlan(presses=(Button.CONFIRM,), kind=PickKind.PICK)
        if fixing:
            # Fix exactly, without new mistakes: the person is paying attention now.
            return plan_presses(shown, self._requested[state.module], self._rng)
        self._requested[state.module] = shown
        return plan_presses(
            shown,
            shown,
            self._rng,
            short_rate=self.short_rate,
            mistake_rate=self.mistake_rate,
        )

    def _count(self, kind: PickKind, fixing: bool) -> None:
        if kind is PickKind.PICK:
            self.picks += 1
            if fixing:
                self.fixes += 1
        elif kind is PickKind.SHORT:
            self.shorts += 1
        else:
            self.mistakes += 1
