"""The demo's replenishment: bins that run low get a putaway from the demo's ERP, and a simulated stocker per
zone puts the stock away under the bin's light.

A bin holds up to BIN_CAPACITY; below REPLENISH_BELOW it gets one putaway (`ReceivePutaway`, as
`POST /putaways` sends it) of what fills it again, and no other until that one is put or cancelled. The
demo's bins start at different levels (`starting_stock`), so the first putaways light up at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import zlib
from collections.abc import Mapping, Sequence

from floorgate.core import commands as cmd
from floorgate.core.bin_tasks import PUTAWAY_COLOR
from floorgate.core.errors import CommandRejected
from floorgate.core.instructions import Blink
from floorgate.edge.runtime import EdgeParts
from floorgate.edge.writer import Committed
from floorgate.firmware_sim.demo.bin_work import BinWorker
from floorgate.firmware_sim.ptl_modules import ModuleBank

log = logging.getLogger(__name__)

BIN_CAPACITY = 60
REPLENISH_BELOW = 15
STOCKERS = {"A": "sam", "B": "tia"}
_FINISHED = frozenset({"putaway.confirmed", "putaway.cancelled"})


def starting_stock(code: str) -> int:
    """A bin's stock when the demo starts: the same for a code on every run, some of them already low."""
    return 5 + zlib.crc32(code.encode()) % (BIN_CAPACITY - 5)


class Stocker(BinWorker):
    """Puts away the quantity each steady white bin of their zone asks for, and confirms it."""

    def __init__(
        self,
        bank: ModuleBank,
        name: str,
        modules: Sequence[str],
        *,
        seconds_per_bin: float,
        rng: random.Random,
    ) -> None:
        super().__init__(
            bank,
            name,
            modules,
            color=PUTAWAY_COLOR,
            blink=Blink.NONE,
            seconds_per_bin=seconds_per_bin,
            rng=rng,
        )


class Replenishment:
    """Plays the ERP's replenishment: one putaway for each bin below REPLENISH_BELOW, until it is put."""

    def __init__(self, parts: EdgeParts) -> None:
        self.parts = parts
        self.sent = 0
        self._prefix = f"RP-{int(time.time()) % 100_000:05d}"
        self._open: dict[str, str] = {}  # location -> its open putaway's task id
        self._low: set[str] = set()
        self._wake = asyncio.Event()
        parts.writer.subscribe(self._on_commit)

    def _on_commit(self, committed: Committed) -> None:
        for event in committed.events:
            location = event.data.get("location")
            if not isinstance(location, str):
                continue
            if event.type in _FINISHED and self._open.get(location) == event.data.get("task_id"):
                del self._open[location]
            on_hand = event.data.get("on_hand")
            if isinstance(on_hand, int) and on_hand < REPLENISH_BELOW:
                self._low.add(location)
                self._wake.set()

    async def run(self) -> None:
        floor = self.parts.writer.floor
        self._low.update(
            code for code, loc in floor.locations.items() if (loc.on_hand or 0) < REPLENISH_BELOW
        )
        while True:
            await self._wake.wait()
            self._wake.clear()
            for code in sorted(self._low):
                self._low.discard(code)
                location = floor.locations.get(code)
                if code in self._open or location is None or location.sku is None:
                    continue
                on_hand = location.on_hand or 0
                if on_hand >= REPLENISH_BELOW:
                    continue  # filled since (a count found more)
                await self._send(code, location.sku, BIN_CAPACITY - on_hand)
            if self._low:
                self._wake.set()  # bins that ran low while these were sent

    async def _send(self, code: str, sku: str, qty: int) -> None:
        self.sent += 1
        task_id = f"{self._prefix}-{self.sent}"
        self._open[code] = task_id
        try:
            await self.parts.writer.execute(
                cmd.ReceivePutaway(task_id=task_id, sku=sku, qty=qty, location=code)
            )
        except CommandRejected as err:
            del self._open[code]
            log.warning("demo putaway not sent", extra={"location": code, "reason": str(err)})


async def run_stock_work(
    parts: EdgeParts,
    bank: ModuleBank,
    zones: Mapping[str, Sequence[str]],
    *,
    seconds_per_bin: float,
    rng: random.Random,
) -> None:
    """Replenishment and one stocker per zone (`zones`: each zone's modules), until cancelled."""
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(Replenishment(parts).run(), name="replenishment")
        for zone, modules in zones.items():
            name = STOCKERS.get(zone, f"stocker-{zone}")
            stocker = Stocker(
                bank, name, modules, seconds_per_bin=seconds_per_bin, rng=random.Random(rng.random())
            )
            tasks.create_task(stocker.run(), name=f"stocker-{name}")
