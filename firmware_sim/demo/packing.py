"""The demo's pack stations: simulated MQTT scales and packers that weigh every order the pickers finish
(an order of a batch once the put wall has sorted it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from decimal import Decimal

from floorgate.core import commands as cmd
from floorgate.core.model import OrderStatus
from floorgate.core.packing import expected_weight
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.edge.runtime import EdgeParts
from floorgate.edge.writer import Committed
from floorgate.firmware_sim.scales import MqttScale, PackJob, Platform, SimulatedPacker

log = logging.getLogger(__name__)

PACK_STATIONS = ("PACK-1", "PACK-2")
VERDICT_TIMEOUT_S = 20.0
_VERDICTS = {"pack.verified": "verified", "pack.rejected": "rejected", "pack.overridden": "overridden"}


class PackingFlow:
    """Feeds picked orders to two simulated packers, one per pack station, and reports their verdicts."""

    def __init__(
        self, parts: EdgeParts, endpoint: MqttEndpoint, rng: random.Random, *, seconds_per_carton: float = 1.0
    ) -> None:
        self.parts = parts
        self.endpoint = endpoint
        self.rng = rng
        self.seconds_per_carton = seconds_per_carton
        self._picked: asyncio.Queue[str] = asyncio.Queue()
        self._verdicts: dict[str, asyncio.Queue[str]] = {}
        parts.writer.subscribe(self._on_commit)

    def _on_commit(self, committed: Committed) -> None:
        orders = self.parts.writer.floor.orders
        for event in committed.events:
            if event.type == "order.picked" and event.order_id:
                order = orders.get(event.order_id)
                if order is not None and order.batch is None:
                    self._picked.put_nowait(event.order_id)
            elif event.type == "order.sorted" and event.order_id:
                # An order picked with a batch is packed once the put wall has sorted it out.
                self._picked.put_nowait(event.order_id)
            verdict = _VERDICTS.get(event.type)
            if verdict is not None and event.order_id in self._verdicts:
                self._verdicts[event.order_id].put_nowait(verdict)

    async def _give_items_weights(self) -> None:
        """The demo's SKUs get unit weights once, so every picked order can be weighed."""
        writer = self.parts.writer
        skus = sorted({loc.sku for loc in writer.floor.locations.values() if loc.sku})
        for sku in skus:
            item = writer.floor.items.get(sku)
            if item is None or item.unit_weight_g is None:
                grams = float(self.rng.choice((35, 60, 120, 180, 250, 410, 620)))
                await writer.execute(
                    cmd.UpsertItem(sku=sku, description=f"demo item {sku}", unit_weight_g=grams)
                )

    async def _next_job(self) -> PackJob:
        floor = self.parts.writer.floor
        while True:
            order_id = await self._picked.get()
            order = floor.orders.get(order_id)
            if order is None or order.status is not OrderStatus.PICKED:
                continue
            station = floor.stations.get(PACK_STATIONS[0])
            tare = station.tare_g if station is not None else 0.0
            try:
                carton = expected_weight(order, floor, tare_g=tare)
            except ValueError:
                continue  # an item without a unit weight: the station would block; skip it in the demo
            weights = [
                floor.items[ln.sku].unit_weight_g or 0.0 for ln in order.lines.values() if ln.picked > 0
            ]
            self._verdicts[order_id] = asyncio.Queue()
            return PackJob(
                code=order.tote or order_id, carton_g=carton, lightest_item_g=min(weights, default=0.0)
            )

    async def run(self) -> None:
        await self._give_items_weights()
        async with asyncio.TaskGroup() as tasks:
            for n, station in enumerate(PACK_STATIONS, 1):
                platform = Platform(
                    unit="kg", division=Decimal("0.001"), settle_s=0.8, noise_g=0.2, rng=random.Random(n)
                )
                scale = MqttScale(self.endpoint, self.parts.config.site.id, station, platform, interval=0.25)
                packer = SimulatedPacker(
                    f"packer-{n}",
                    platform,
                    next_job=self._next_job,
                    scan=self._scan_at(station),
                    verdict=self._verdict,
                    seconds_per_carton=self.seconds_per_carton,
                    mistake_rate=0.1,
                    rng=random.Random(self.rng.random()),
                )
                tasks.create_task(scale.run(), name=f"scale-{station}")
                tasks.create_task(packer.run(), name=f"packer-{station}")

    def _scan_at(self, station: str) -> Callable[[str], Awaitable[None]]:
        async def scan(code: str) -> None:
            await self.parts.writer.execute(
                cmd.RecordScan(station=station, data=code, scanner=f"{station}-sim")
            )

        return scan

    async def _verdict(self, code: str) -> str:
        floor = self.parts.writer.floor
        order_id = next(
            (oid for oid in self._verdicts if oid == code or floor.orders[oid].tote == code),
            code,
        )
        queue = self._verdicts.setdefault(order_id, asyncio.Queue())
        try:
            async with asyncio.timeout(VERDICT_TIMEOUT_S):
                verdict = await queue.get()
        except TimeoutError:
            log.warning("demo packer got no verdict", extra={"order_id": order_id})
            verdict = "timeout"
        if verdict != "rejected":
            with contextlib.suppress(KeyError):
                del self._verdicts[order_id]
        return verdict
