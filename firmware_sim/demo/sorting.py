"""The demo's pick-and-sort loop: batches of small orders picked in one walk, then sorted at put wall W1.

Zone C is the batch-pick zone: its bins hold small e-commerce items and only the batch picker works there.
The ERP side sends a batch of a few orders for its bins and starts it for the batch picker, who picks each
bin once for the whole batch (the simulated picker follows the batch's colour). Once the
batch is picked, the sorter at the wall scans its items one by one on the wall's simulated serial
scanner, puts each into the cubby that lights and presses its button, and takes out the cubbies that
blink "done" (the order is sorted). Now and then the sorter scans an item no order of the batch needs,
and the wall's screen shows it in red. A new batch is started only while at most one waits for the wall.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from floorgate.core import commands as cmd
from floorgate.core.commands import Button
from floorgate.core.errors import CommandRejected
from floorgate.core.model import Batch, BatchStatus, SortState
from floorgate.edge.runtime import EdgeParts
from floorgate.edge.wiring.scanners import scanner_device_id
from floorgate.edge.writer import Committed
from floorgate.firmware_sim.demo.scanning import SCANNER_ONLINE_TIMEOUT_S, CommitWatch
from floorgate.firmware_sim.pickers import SimulatedPicker
from floorgate.firmware_sim.ptl_modules import ModuleBank
from floorgate.firmware_sim.scanners import PtySerialScanner

log = logging.getLogger(__name__)

WALL = "W1"
CUBBIES = tuple(f"{WALL}-{n:02d}" for n in range(1, 25))
BATCH_ZONE = "C"
BATCH_AISLES = 2
BINS_PER_AISLE = 8
UNIT_WEIGHT_G = 150.0
BATCH_PICKER = "eve"
SORTER = "sue"
ORDERS_PER_BATCH = (6, 12)
# How long the sorter waits for the edge to answer a scan or a press before looking again.
ANSWER_TIMEOUT_S = 10.0


def wall_site_toml(scanner: PtySerialScanner) -> str:
    """The batch-pick zone with its bins, and the put wall whose scanner is `scanner`'s pty."""
    lines = [f'[[zones]]\nid = "{BATCH_ZONE}"\nname = "Zone {BATCH_ZONE} (batches)"\n']
    for aisle in range(1, BATCH_AISLES + 1):
        for slot in range(1, BINS_PER_AISLE + 1):
            code = f"{BATCH_ZONE}-{aisle:02d}-{slot:02d}"
            lines.append(
                f'[[locations]]\ncode = "{code}"\nzone = "{BATCH_ZONE}"\nmodule = "{code}"\n'
                f'sku = "SKU-{code}"\non_hand = 400\n'
            )
    cubbies = ", ".join(f'"{c}"' for c in CUBBIES)
    lines.append(
        f'[[walls]]\nid = "{WALL}"\ncubbies = [{cubbies}]\n'
        f'scanner = {{ transport = "serial", port = "{scanner.path}" }}\n'
    )
    return "\n".join(lines)


def wall_scanner(link_dir: Path) -> PtySerialScanner:
    return PtySerialScanner(link=link_dir / f"scanner-{WALL}")


def to_put(batch: Batch) -> Counter[str]:
    """The units of each SKU picked for the batch and neither put nor on their way to a cubby yet."""
    left: Counter[str] = Counter()
    for entry in batch.orders:
        if entry.state in (SortState.WAITING, SortState.FILLING):
            for sku in entry.picked:
                left[sku] += max(0, entry.left(sku))
    return +left


class BatchFlow:
    """Plays the ERP, the batch picker and the sorter at the wall."""

    def __init__(
        self,
        parts: EdgeParts,
        bank: ModuleBank,
        scanner: PtySerialScanner,
        *,
        seconds_per_pick: float,
        short_rate: float,
        rng: random.Random,
    ) -> None:
        self.parts = parts
        self.bank = bank
        self.scanner = scanner
        self.seconds_per_pick = seconds_per_pick
        self.short_rate = short_rate
        self.rng = rng
        self.batches_picked = 0
        self.orders_sorted = 0
        self.watch = CommitWatch(parts.writer)
        # Short ids (a cubby shows its order's): numbered from the clock, so a kept store never repeats one.
        self._next = int(time.time()) % 10_000 * 100
        self._changed = asyncio.Event()
        parts.writer.subscribe(self._on_commit)

    def _on_commit(self, committed: Committed) -> None:
        for event in committed.events:
            if event.type == "batch.picked":
                self.batches_picked += 1
            elif event.type == "order.sorted":
                self.orders_sorted += 1
        self._changed.set()

    async def _floor_changed(self) -> None:
        """Wait for the next commit (or a few seconds: the sorter looks again either way)."""
        self._changed.clear()
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                await self._changed.wait()
        except TimeoutError:
            pass

    def _wall_batches(self, *statuses: BatchStatus) -> list[Batch]:
        batches = self.parts.writer.floor.batches.values()
        return sorted((b for b in batches if b.wall == WALL and b.status in statuses), key=lambda b: b.number)

    async def run(self) -> None:
        floor = self.parts.writer.floor
        zone = sorted(code for code, loc in floor.locations.items() if loc.zone == BATCH_ZONE)
        picker = SimulatedPicker(
            self.bank,
            BATCH_PICKER,
            zone,
            seconds_per_pick=self.seconds_per_pick,
            short_rate=self.short_rate,
            rng=random.Random(self.rng.random()),
        )
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(picker.run(), name=f"picker-{BATCH_PICKER}")
            tasks.create_task(self._feed(picker, zone), name="batches")
            tasks.create_task(self._sort(), name=f"sorter-{SORTER}")

    async def _feed(self, picker: SimulatedPicker, zone: Sequence[str]) -> None:
        writer = self.parts.writer
        for code in zone:
            # The sorter scans the SKU: the wall knows it as an item (weighed at the pack stations too).
            if f"SKU-{code}" not in writer.floor.items:
                item = cmd.UpsertItem(
                    sku=f"SKU-{code}", description=f"demo item {code}", unit_weight_g=UNIT_WEIGHT_G
                )
                await writer.execute(item)
        while True:
            # The wall sorts one batch at a time: keep one picked batch waiting for it, not a pile.
            while self._wall_batches(BatchStatus.OPEN, BatchStatus.PICKING, BatchStatus.PICKED)[1:]:
                await self._floor_changed()
            self._next += 1
            batch_id = f"BATCH-{self._next:06d}"
            order_ids = []
            try:
                for n in range(1, self.rng.randint(*ORDERS_PER_BATCH) + 1):
                    order_id = f"E{self._next:06d}-{n}"
                    chosen = self.rng.sample(list(zone), k=self.rng.randint(1, 3))
                    lines = tuple(
                        cmd.NewOrderLine(
                            line_id=str(i), sku=f"SKU-{code}", qty=self.rng.randint(1, 3), location=code
                        )
                        for i, code in enumerate(chosen, 1)
                    )
                    await writer.execute(cmd.ReceiveOrder(order_id=order_id, lines=lines))
                    order_ids.append(order_id)
                await writer.execute(
                    cmd.ReceiveBatch(batch_id=batch_id, order_ids=tuple(order_ids), wall=WALL)
                )
                await writer.execute(
                    cmd.StartBatch(batch_id=batch_id, zone=BATCH_ZONE, operator=BATCH_PICKER)
                )
            except CommandRejected as err:
                log.warning("demo batch not started: %s", err)
                await asyncio.sleep(1)  # a breather before the next batch, not a wait for anything
                continue
            run = writer.floor.batches[batch_id].runs.get(BATCH_ZONE)
            picker.color = run.color if run is not None else None
            while writer.floor.batches[batch_id].status in (BatchStatus.OPEN, BatchStatus.PICKING):
                await self._floor_changed()

    async def _sort(self) -> None:
        floor = self.parts.writer.floor
        device = scanner_device_id(WALL)

        def online(_committed: Committed | None = None) -> bool | None:
            state = floor.devices.get(device)
            return True if state is not None and state.online else None

        if not online():
            async with asyncio.timeout(SCANNER_ONLINE_TIMEOUT_S):
                await self.watch.expect(online)
        await self.scanner.scan(f"OP:{SORTER}")
        # Items of the other zones, none of which a batch ever needs.
        others = sorted(code for code, loc in floor.locations.items() if loc.zone != BATCH_ZONE)
        while True:
            await self._take_out_done()
            batches = self._wall_batches(BatchStatus.SORTING) or self._wall_batches(BatchStatus.PICKED)
            items = to_put(batches[0]) if batches else Counter[str]()
            if not items:
                await self._floor_changed()
                continue
            await asyncio.sleep(self._walk_time())
            if self.rng.random() < 0.05:
                # An item that fell into the wrong tote: no order of this batch needs it.
                await self._scan(f"SKU-{self.rng.choice(others)}")
                continue
            sku = self.rng.choice(sorted(items.elements()))
            cubby = await self._scan(sku)
            if cubby is not None:
                await asyncio.sleep(self._walk_time())
                await self._press(cubby)

    async def _scan(self, code: str) -> str | None:
        """Scan `code` at the wall; the cubby it lit, or None (refused, or no answer in time)."""
        wall = self.parts.writer.floor.walls[WALL]

        def answered(committed: Committed) -> tuple[str | None] | None:
            if any(e.type == "put.rejected" for e in committed.events):
                return (None,)
            return (wall.cubby,) if wall.scan == code and wall.cubby is not None else None

        answer = self.watch.expect(answered)
        try:
            await self.scanner.scan(code)
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                return (await answer)[0]
        except TimeoutError:
            log.warning("demo scan at the wall not answered in time", extra={"scan": code})
            return None
        finally:
            answer.cancel()

    async def _press(self, cubby: str) -> None:
        """Press the cubby's button and wait until its module shows the edge's answer."""
        before = self.bank.state(cubby).seq
        with self.bank.watch([cubby]) as feed:
            await self.bank.press(cubby, Button.CONFIRM)
            try:
                async with asyncio.timeout(ANSWER_TIMEOUT_S):
                    while self.bank.state(cubby).seq == before:
                        await feed.wait()
            except TimeoutError:
                log.warning("demo cubby press not answered in time", extra={"cubby": cubby})

    async def _take_out_done(self) -> None:
        for batch in self._wall_batches(BatchStatus.SORTING):
            for entry in batch.orders:
                if entry.state in (SortState.DONE, SortState.REMOVING) and entry.cubby is not None:
                    await asyncio.sleep(self._walk_time())
                    await self._press(entry.cubby)

    def _walk_time(self) -> float:
        return self.seconds_per_pick * self.rng.uniform(0.5, 1.0)
