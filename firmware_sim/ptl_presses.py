"""A simulated module's unanswered presses: kept, and sent again with the same id, until the edge answers.

The PTL contract is end to end (docs/contract.md): a module sends a confirm or short, and sends it again
every `every` seconds, until it sees a `cmd` with a newer seq than the one it showed when pressed. The
broker's acknowledgement is not enough: a broker that restarts without persistence has acknowledged
presses that the edge, not subscribed again yet, never gets. The edge applies a press once by its id, so
a repeat is harmless. A press made while the module cannot reach the broker waits here too and goes out
when it is back. A power cut forgets them all, as a module's RAM would.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from floorgate.core.buttons import ANSWERED_BUTTONS
from floorgate.devices.ptl.codec import ModuleEvent, encode_event

__all__ = ["ANSWERED_BUTTONS", "RESEND_EVERY", "HeldPress", "PressOutbox"]

# How often a module repeats a press the edge has not answered; real firmware uses about a second.
RESEND_EVERY = 1.0


@dataclass(slots=True, eq=False)
class HeldPress:
    """One press waiting for its answer. `shown_seq`: the seq the module showed when pressed (None: none
    yet); `due`: when it goes out next (the bank's clock); `sends`: how often the broker took it."""

    module: str
    event: ModuleEvent
    payload: bytes
    shown_seq: int | None
    due: float
    sends: int = 0


class PressOutbox:
    """The unanswered presses of a bank's modules, by module, in the order pressed."""

    def __init__(self, every: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if every <= 0:
            raise ValueError(f"the resend interval must be positive, got {every}")
        self.every = every
        self._clock = clock
        self._held: dict[str, list[HeldPress]] = {}
        self._wake = asyncio.Event()

    async def run(self, send: Callable[[HeldPress], None]) -> None:
        """Hand each press to `send` whenever it is due, until cancelled; `send` must not block."""
        while True:
            for press in self.take_due(self._clock()):
                send(press)
            self._wake.clear()
            next_due = self.next_due()
            delay = None if next_due is None else max(0.0, next_due - self._clock())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    def __len__(self) -> int:
        return sum(len(presses) for presses in self._held.values())

    def hold(self, module: str, event: ModuleEvent, shown_seq: int | None) -> HeldPress:
        """Keep a press until it is answered; it is due at once."""
        press = HeldPress(
            module=module, event=event, payload=encode_event(event), shown_seq=shown_seq, due=self._clock()
        )
        self._held.setdefault(module, []).append(press)
        self._wake.set()
        return press

    def answered(self, module: str, seq: int) -> int:
        """The module now shows `seq`: every press made while it showed an older one is answered. Returns
        how many were."""
        presses = self._held.get(module)
        if not presses:
            return 0
        left = [p for p in presses if p.shown_seq is not None and p.shown_seq >= seq]
        if left:
            self._held[module] = left
        else:
            del self._held[module]
        return len(presses) - len(left)

    def forget(self, modules: Iterable[str]) -> None:
        """A power cut: the modules' presses are gone."""
        for module in modules:
            self._held.pop(module, None)

    def hurry(self, modules: Iterable[str]) -> None:
        """Make the modules' presses due now (their connection is back)."""
        now = self._clock()
        for module in modules:
            for press in self._held.get(module, ()):
                press.due = now
                self._wake.set()

    def held(self, module: str | None = None) -> list[HeldPress]:
        """The unanswered presses of one module, or of all."""
        if module is not None:
            return list(self._held.get(module, ()))
        return [p for presses in self._held.values() for p in presses]

    def take_due(self, now: float) -> list[HeldPress]:
        """The presses due by `now`, each next due `every` later."""
        due = [p for presses in self._held.values() for p in presses if p.due <= now]
        for press in due:
            press.due = now + self.every
        return due

    def next_due(self) -> float | None:
        return min((p.due for presses in self._held.values() for p in presses), default=None)
