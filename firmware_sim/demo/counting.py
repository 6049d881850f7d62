"""The demo's cycle counts: every `count_every` seconds a blind count of one aisle starts, zone by zone in
turn, and a simulated counter per zone counts each bin as it blinks white, sometimes finding a different
quantity from the record (a count_variance exception, when it is off by more than the site allows).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from itertools import zip_longest

from floorgate.core import commands as cmd
from floorgate.core.bin_tasks import COUNT_BLINK, COUNT_COLOR
from floorgate.core.errors import CommandRejected
from floorgate.edge.runtime import EdgeParts
from floorgate.firmware_sim.demo.bin_work import BinWorker
from floorgate.firmware_sim.ptl_modules import ModuleBank
from floorgate.firmware_sim.ptl_observation import ModuleState

log = logging.getLogger(__name__)

COUNTERS = {"A": "cora", "B": "dev"}
# The first count starts this soon after the demo (or after `count_every`, if that is sooner), so a
# newcomer sees one at work within the first minute.
FIRST_COUNT_S = 20.0
# How often a counter's count differs from the record, and by how much at most.
VARIANCE_RATE = 0.25
MAX_VARIANCE = 3


class Counter(BinWorker):
    """Counts each slowly blinking white bin of their zone: keys in what is there, and confirms."""

    def __init__(
        self,
        bank: ModuleBank,
        name: str,
        modules: Sequence[str],
        *,
        on_hand: Callable[[str], int],
        seconds_per_bin: float,
        rng: random.Random,
    ) -> None:
        super().__init__(
            bank,
            name,
            modules,
            color=COUNT_COLOR,
            blink=COUNT_BLINK,
            seconds_per_bin=seconds_per_bin,
            rng=rng,
        )
        # What the bin of a module really holds: in the demo, its record, but for the counts that find
        # otherwise (the simulated stock has no other truth).
        self._on_hand = on_hand
        self.variances = 0

    def value_for(self, state: ModuleState) -> int:
        there = self._on_hand(state.module)
        if self.rng.random() >= VARIANCE_RATE:
            return there
        self.variances += 1
        off = self.rng.choice([n for n in range(-MAX_VARIANCE, MAX_VARIANCE + 1) if n])
        return max(0, there + off)


def aisles(locations: Sequence[tuple[str, str]]) -> list[tuple[str, ...]]:
    """The bins of each aisle (`ZONE-AISLE-SLOT` codes), taking the zones in turn: A-01, B-01, A-02, ..."""
    by_zone: dict[str, dict[str, list[str]]] = {}
    for code, zone in sorted(locations):
        aisle = code.rsplit("-", 1)[0]
        by_zone.setdefault(zone, {}).setdefault(aisle, []).append(code)
    columns = [list(zone_aisles.values()) for _, zone_aisles in sorted(by_zone.items())]
    return [tuple(bins) for row in zip_longest(*columns) for bins in row if bins]


class CountSchedule:
    """Starts a blind count of the next aisle every `every_s` seconds (the first after FIRST_COUNT_S)."""

    def __init__(self, parts: EdgeParts, every_s: float) -> None:
        if every_s <= 0:
            raise ValueError(f"the time between counts must be positive, got {every_s}")
        self.parts = parts
        self.every_s = every_s
        self.started = 0
        self._prefix = f"CC-{int(time.time()) % 100_000:05d}"

    async def run(self) -> None:
        floor = self.parts.writer.floor
        order = aisles([(code, loc.zone) for code, loc in floor.locations.items() if loc.module])
        await asyncio.sleep(min(FIRST_COUNT_S, self.every_s))
        while order:
            bins = order[self.started % len(order)]
            self.started += 1
            count_id = f"{self._prefix}-{self.started}"
            try:
                await self.parts.writer.execute(
                    cmd.StartCount(count_id=count_id, locations=bins, blind=True, by="demo schedule")
                )
            except CommandRejected as err:
                # The aisle is still being counted from last time: the next one is counted next.
                log.warning("demo count not started", extra={"count_id": count_id, "reason": str(err)})
            await asyncio.sleep(self.every_s)


async def run_count_work(
    parts: EdgeParts,
    bank: ModuleBank,
    zones: Mapping[str, Sequence[str]],
    *,
    every_s: float,
    seconds_per_bin: float,
    rng: random.Random,
) -> None:
    """The count schedule and one counter per zone (`zones`: each zone's modules), until cancelled."""
    floor = parts.writer.floor

    def on_hand(module: str) -> int:
        code = next((c for c, loc in floor.locations.items() if loc.module == module), None)
        location = floor.locations.get(code) if code is not None else None
        return (location.on_hand or 0) if location is not None else 0

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(CountSchedule(parts, every_s).run(), name="count-schedule")
        for zone, modules in zones.items():
            name = COUNTERS.get(zone, f"counter-{zone}")
            counter = Counter(
                bank,
                name,
                modules,
                on_hand=on_hand,
                seconds_per_bin=seconds_per_bin,
                rng=random.Random(rng.random()),
            )
            tasks.create_task(counter.run(), name=f"counter-{name}")
