"""Simulated people who follow the white lights of a zone's bins: the demo's stockers and counters.

A putaway lights its bin steady white and a count blinks it white slowly (core/bin_tasks.py); each kind of
worker walks to a bin lit for their work, does it on the module's keys and confirms, woken by the module
bank's changes (no polling), as a picker follows the lights of their colour.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence

from floorgate.core.commands import Button
from floorgate.core.instructions import Blink
from floorgate.firmware_sim.ptl_modules import ModuleBank, ModuleOffline
from floorgate.firmware_sim.ptl_observation import ModuleState

log = logging.getLogger(__name__)


class BinWorker:
    """Works every bin of `modules` lit `color` with `blink`, one at a time, `seconds_per_bin` apart.

    Subclasses say what is done at the bin (`work`): the keys pressed before the confirm.
    """

    def __init__(
        self,
        bank: ModuleBank,
        name: str,
        modules: Sequence[str],
        *,
        color: str,
        blink: Blink,
        seconds_per_bin: float,
        rng: random.Random,
    ) -> None:
        if seconds_per_bin < 0:
            raise ValueError(f"seconds_per_bin must not be negative, got {seconds_per_bin}")
        self.bank = bank
        self.name = name
        self.modules = tuple(modules)
        self.color = color
        self.blink = blink
        self.seconds_per_bin = seconds_per_bin
        self.rng = rng
        self.done = 0
        # module -> the light's seq already worked: the light stays until the edge answers the confirm.
        self._worked: dict[str, int] = {}

    async def run(self) -> None:
        """Work until cancelled."""
        with self.bank.watch(self.modules) as feed:
            while True:
                target = self._next_target()
                if target is None:
                    await feed.wait()
                else:
                    await self._visit(target)

    def _next_target(self) -> ModuleState | None:
        for module in self.modules:
            state = self.bank.state(module)
            if (
                state.lit
                and state.seq is not None
                and state.color == self.color
                and state.blink is self.blink
                and self._worked.get(module) != state.seq
            ):
                return state
        return None

    async def _visit(self, target: ModuleState) -> None:
        spread = self.seconds_per_bin * 0.3
        await asyncio.sleep(max(0.0, self.seconds_per_bin + self.rng.uniform(-spread, spread)))
        state = self.bank.state(target.module)
        if state.seq != target.seq:
            return  # the edge changed the light while we walked: look again
        self._worked[target.module] = target.seq or 0
        try:
            await self.key_in(target.module, self.value_for(state))
            await self.bank.press(target.module, Button.CONFIRM)
        except ModuleOffline:
            log.info("%s: module %s is offline; waiting for it", self.name, target.module)
            del self._worked[target.module]
            await self.bank.wait_online(target.module)
            return
        self.done += 1

    def value_for(self, state: ModuleState) -> int:
        """The value to confirm at the bin (by default what the module asks for)."""
        return state.quantity or 0

    async def key_in(self, module: str, value: int) -> None:
        """Press plus or minus until the module shows `value`."""
        shown = self.bank.state(module).quantity or 0
        button = Button.PLUS if value > shown else Button.MINUS
        for _ in range(abs(value - shown)):
            await self.bank.press(module, button)
