"""How a bank of simulated PTL modules is observed: what each module shows, its changes, cmd receipts, counters.

`ModuleBank` (firmware_sim/ptl_modules.py) produces these; tests, pickers and the CLI read them instead of
polling the broker. A `ChangeFeed` is one observer's bounded queue of `ModuleChange`s.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Self

from floorgate.core.instructions import Blink
from floorgate.devices.ptl.codec import MalformedPayload, ModuleCommand, decode_command


@dataclass(frozen=True, kw_only=True, slots=True)
class ModuleState:
    """What one module shows. `seq` is the last applied cmd, None before the first (or after a power cut)."""

    module: str
    lit: bool = False
    color: str | None = None
    blink: Blink = Blink.NONE
    display: str = ""
    seq: int | None = None

    @classmethod
    def showing(cls, module: str, command: ModuleCommand) -> ModuleState:
        """What a module shows once it applied `command`."""
        if command.off:
            return cls(module=module, seq=command.seq)
        return cls(
            module=module,
            lit=True,
            color=command.color,
            blink=command.blink,
            display=command.display,
            seq=command.seq,
        )

    @property
    def quantity(self) -> int | None:
        """The display read as a quantity; None when it shows text or nothing."""
        if self.display.isascii() and self.display.isdigit():
            return int(self.display)
        return None


def decode_payload(payload: object) -> ModuleCommand:
    """A `cmd` as a module reads it off the wire; MalformedPayload for anything else."""
    if not isinstance(payload, bytes | bytearray):
        raise MalformedPayload(f"payload of type {type(payload).__name__}")
    return decode_command(bytes(payload))


class ChangeCause(StrEnum):
    COMMAND = "command"  # a cmd from the edge
    BUTTON = "button"  # plus/minus edited the display
    POWER_LOSS = "power_loss"  # kill(): the module went dark and forgot everything


@dataclass(frozen=True, kw_only=True, slots=True)
class ModuleChange:
    module: str
    before: ModuleState
    after: ModuleState
    cause: ChangeCause


class CommandOutcome(StrEnum):
    APPLIED = "applied"  # a newer seq: the module now shows it
    REPEATED = "repeated"  # the seq already applied (a resend or the retained copy): acked again
    STALE = "stale"  # an older seq than the one shown: ignored, not acked
    MALFORMED = "malformed"  # not a cmd the protocol allows: counted and logged
    DELETED = "deleted"  # an empty payload: the retained cmd was deleted; not a command, ignored


@dataclass(frozen=True, kw_only=True, slots=True)
class CommandReceipt:
    """One cmd as a module received it, for `on_cmd` observers such as the CLI."""

    module: str
    outcome: CommandOutcome
    command: ModuleCommand | None
    acked: bool
    error: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class BankStats:
    cmds_received: int = 0
    cmds_applied: int = 0
    cmds_repeated: int = 0
    cmds_stale: int = 0
    cmds_malformed: int = 0
    cmds_deleted: int = 0  # empty cmds (a retained copy deleted), ignored
    acks_sent: int = 0  # acks the broker accepted (PUBACK received)
    events_sent: int = 0  # key presses the broker accepted (the first time each)
    events_resent: int = 0  # unanswered presses sent again and accepted by the broker
    presses_answered: int = 0  # kept presses answered by a newer seq
    connects: int = 0  # successful (re)connections over all connections


@dataclass(kw_only=True, slots=True)
class BankCounters:
    """The mutable twin of BankStats, kept by the bank: counting must not allocate on the hot path."""

    cmds_received: int = 0
    cmds_applied: int = 0
    cmds_repeated: int = 0
    cmds_stale: int = 0
    cmds_malformed: int = 0
    cmds_deleted: int = 0
    acks_sent: int = 0
    events_sent: int = 0
    events_resent: int = 0
    presses_answered: int = 0
    connects: int = 0


class ChangeFeed:
    """One observer's queue of module changes; made by `ModuleBank.watch()`, closed by leaving its `with`.

    Bounded on purpose: an observer that stops reading must not grow the bank's memory. When full, the
    oldest change is dropped and counted in `dropped`; `ModuleBank.state()` is always the truth.
    """

    def __init__(
        self, modules: frozenset[str] | None, maxlen: int, on_close: Callable[[ChangeFeed], None]
    ) -> None:
        self._modules = modules
        self._pending: deque[ModuleChange] = deque(maxlen=maxlen)
        self._ready = asyncio.Event()
        self._on_close = on_close
        self.dropped = 0

    def _offer(self, change: ModuleChange) -> None:
        if self._modules is not None and change.module not in self._modules:
            return
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
        self._pending.append(change)
        self._ready.set()

    def poke(self) -> None:
        """Wake a `wait()` without a change, e.g. when what the observer looks for has changed."""
        self._ready.set()

    async def wait(self) -> list[ModuleChange]:
        """Wait until there is a change (or a poke), then take every pending change."""
        await self._ready.wait()
        self._ready.clear()
        changes = list(self._pending)
        self._pending.clear()
        return changes

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> ModuleChange:
        while not self._pending:
            self._ready.clear()
            await self._ready.wait()
        return self._pending.popleft()

    def close(self) -> None:
        self._on_close(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
