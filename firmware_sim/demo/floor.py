"""`floorgate demo`: the whole system on embedded defaults with simulated modules, pickers and orders."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from floorgate.core import commands as cmd
from floorgate.core.errors import CommandRejected
from floorgate.core.model import OrderStatus
from floorgate.devices.mqtt.endpoint import MqttEndpoint, TlsFiles
from floorgate.edge.runtime import EdgeParts, build, run_edge
from floorgate.edge.site import SiteConfig, parse_site
from floorgate.edge.writer import Committed
from floorgate.firmware_sim.demo.broker import EmbeddedBroker
from floorgate.firmware_sim.demo.counting import run_count_work
from floorgate.firmware_sim.demo.packing import PackingFlow
from floorgate.firmware_sim.demo.scanning import ScanRefused, StartStations, start_station_id
from floorgate.firmware_sim.demo.sorting import BATCH_ZONE, WALL, BatchFlow, wall_scanner, wall_site_toml
from floorgate.firmware_sim.demo.stocking import run_stock_work, starting_stock
from floorgate.firmware_sim.pickers import SimulatedPicker
from floorgate.firmware_sim.ptl_modules import ModuleBank

log = logging.getLogger(__name__)

ZONES = ("A", "B")
AISLES = 3
BINS_PER_AISLE = 8  # 2 zones x 3 aisles x 8 bins = 48 modules
PICKERS = {"A": ("ann", "bob"), "B": ("cat", "dan")}


def demo_site_toml(*, data_dir: Path, http_port: int, start_stations: str = "", wall: str = "") -> str:
    """The demo's site file; `start_stations` is StartStations.site_toml() and `wall` the put wall's entry
    (demo/sorting.py), which name the scanner ptys."""
    lines = [
        '[site]\nid = "demo"\n',
        f'[edge]\nid = "edge-1"\ndata_dir = "{data_dir}"\n',
        f'[http]\nhost = "127.0.0.1"\nport = {http_port}\n',
    ]
    for zone in ZONES:
        lines.append(f'[[zones]]\nid = "{zone}"\nname = "Zone {zone}"\n')
    for zone in ZONES:
        for aisle in range(1, AISLES + 1):
            for slot in range(1, BINS_PER_AISLE + 1):
                code = f"{zone}-{aisle:02d}-{slot:02d}"
                lines.append(
                    f'[[locations]]\ncode = "{code}"\nzone = "{zone}"\nmodule = "{code}"\n'
                    f'sku = "SKU-{code}"\non_hand = {starting_stock(code)}\n'
                )
    for n in (1, 2):
        lines.append(
            f'[[stations]]\nid = "PACK-{n}"\nkind = "pack"\ntolerance_g = 15\ntare_g = 120\n'
            'scale = { transport = "mqtt" }\n'
        )
    if start_stations:
        lines.append(start_stations)
    if wall:
        lines.append(wall)
    return "\n".join(lines)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DemoOptions:
    broker: str | None = None
    http_port: int = 8000
    mqtt_port: int = 1883
    data_dir: Path = Path("data/demo")
    keep_data: bool = False
    seconds_per_pick: float = 0.8
    short_rate: float = 0.04
    mistake_rate: float = 0.03
    seed: int | None = None
    duration: float | None = None
    count_every: float = 120.0
    """Seconds between the cycle counts the demo starts (one aisle each, the zones in turn)."""
    tls_files: TlsFiles | None = None
    """For an mqtts:// `broker`: the edge and the simulators connect with these files."""


class OrderFlow:
    """Plays the ERP and the pickers at the zone start stations: each picker receives an order, scans it in
    at their zone's scanner, picks it, and gets the next."""

    def __init__(
        self,
        parts: EdgeParts,
        bank: ModuleBank,
        stations: StartStations,
        options: DemoOptions,
        rng: random.Random,
    ) -> None:
        self.parts = parts
        self.bank = bank
        self.stations = stations
        self.options = options
        self.rng = rng
        self.orders_done = 0
        self._next = int(time.time()) % 100_000 * 100
        self._picked: dict[str, asyncio.Event] = {}
        parts.writer.subscribe(self._on_commit)

    def _on_commit(self, committed: Committed) -> None:
        for event in committed.events:
            if event.type == "order.picked" and event.order_id in self._picked:
                self._picked[event.order_id].set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            for zone, names in PICKERS.items():
                modules = [
                    code for code, loc in self.parts.writer.floor.locations.items() if loc.zone == zone
                ]
                for name in names:
                    picker = SimulatedPicker(
                        self.bank,
                        name,
                        sorted(modules),
                        seconds_per_pick=self.options.seconds_per_pick,
                        short_rate=self.options.short_rate,
                        mistake_rate=self.options.mistake_rate,
                        rng=random.Random(self.rng.random()),
                    )
                    tasks.create_task(picker.run(), name=f"picker-{name}")
                    tasks.create_task(self._feed(picker, zone, modules), name=f"orders-{name}")

    async def _feed(self, picker: SimulatedPicker, zone: str, modules: list[str]) -> None:
        writer = self.parts.writer
        while True:
            self._next += 1
            order_id = f"SO-{self._next:07d}"
            chosen = self.rng.sample(modules, k=self.rng.randint(1, 4))
            lines = tuple(
                cmd.NewOrderLine(line_id=str(n), sku=f"SKU-{code}", qty=self.rng.randint(1, 5), location=code)
                for n, code in enumerate(chosen, 1)
            )
            tote = f"T-{self._next}"
            # Half the orders by their paperwork, half by the tote label: both are what pickers scan.
            code = order_id if self._next % 2 else f"TOTE:{tote}"
            done = self._picked[order_id] = asyncio.Event()
            try:
                await writer.execute(cmd.ReceiveOrder(order_id=order_id, lines=lines, tote=tote))
                started = await self.stations.start(
                    zone=zone, picker=picker.name, order_id=order_id, code=code
                )
            except (CommandRejected, TimeoutError) as err:
                del self._picked[order_id]
                log.warning("demo order not started: %s", str(err) or "the scan was not committed in time")
                await asyncio.sleep(1)  # a breather before the next order, not a wait for anything
                continue
            if isinstance(started, ScanRefused):
                del self._picked[order_id]
                log.warning(
                    "demo scan refused",
                    extra={
                        "station": start_station_id(zone),
                        "order_id": order_id,
                        "reason": started.message,
                    },
                )
                await asyncio.sleep(1)
                continue
            if started.operator != picker.name:
                log.warning(
                    "demo order started for someone else",
                    extra={"order_id": order_id, "picker": picker.name, "operator": started.operator},
                )
            if writer.floor.orders[order_id].status is OrderStatus.PICKED:
                done.set()
            picker.color = started.color
            await done.wait()
            del self._picked[order_id]
            self.orders_done += 1


class _BoundedExit:
    """An async context manager whose exit may take at most `seconds`.

    Ctrl-C must stop the demo even when a simulator or the embedded broker does not stop in time (under
    load, one did not, and the demo never exited); what overran is logged and left behind.
    """

    def __init__(self, inner: Any, what: str, seconds: float = 5.0) -> None:
        self.inner = inner
        self.what = what
        self.seconds = seconds

    async def __aenter__(self) -> Any:
        return await self.inner.__aenter__()

    async def __aexit__(self, *exc: object) -> bool:
        try:
            async with asyncio.timeout(self.seconds):
                return bool(await self.inner.__aexit__(*exc))
        except TimeoutError:
            log.warning("%s did not stop within %g s; leaving it behind", self.what, self.seconds)
            return False


async def run_demo(options: DemoOptions) -> None:
    rng = random.Random(options.seed)
    if options.data_dir.exists() and not options.keep_data:
        shutil.rmtree(options.data_dir)
    options.data_dir.mkdir(parents=True, exist_ok=True)
    http_port = options.http_port
    if not _port_free(http_port):
        raise SystemExit(f"port {http_port} is in use: pass --port to choose another")
    token = secrets.token_urlsafe(16)
    async with contextlib.AsyncExitStack() as stack:
        # The scanners' ptys exist before the site file is built: it names their links as the ports.
        stations = StartStations(ZONES, options.data_dir.resolve())
        stations.plug()
        stack.callback(stations.unplug)
        sorter_scanner = wall_scanner(options.data_dir.resolve())
        sorter_scanner.plug()
        stack.callback(sorter_scanner.unplug)
        config: SiteConfig = parse_site(
            demo_site_toml(
                data_dir=options.data_dir.resolve(),
                http_port=http_port,
                start_stations=stations.site_toml(),
                wall=wall_site_toml(sorter_scanner),
            ),
            source="demo-site.toml",
        )
        if options.broker:
            endpoint = MqttEndpoint.from_url(options.broker, tls_files=options.tls_files)
        else:
            mqtt_port = options.mqtt_port if _port_free(options.mqtt_port) else _free_port()
            broker = await stack.enter_async_context(
                _BoundedExit(EmbeddedBroker(port=mqtt_port), "the embedded broker")
            )
            endpoint = MqttEndpoint.from_url(broker.url)
        parts = await build(config, mqtt=endpoint, admin_tokens=[token])
        stations.attach(parts.writer)
        modules = [loc.module for loc in config.locations if loc.module]
        modules += [cubby for wall in config.walls for cubby in wall.cubbies]
        bank = await stack.enter_async_context(
            _BoundedExit(
                ModuleBank(endpoint, config.site.id, modules, connections=4), "the simulated PTL modules"
            )
        )

        async def ready(parts: EdgeParts) -> None:
            print(
                f"\nFloorGate demo is running ({len(modules)} modules in zones {', '.join(ZONES)} and "
                f"{BATCH_ZONE} and on put wall {WALL}, "
                f"{sum(len(p) for p in PICKERS.values())} simulated pickers scanning orders in at "
                f"{', '.join(start_station_id(z) for z in ZONES)}; stockers put away what runs low, "
                f"a blind count of one aisle starts every {options.count_every:g} s, and batches of "
                f"orders are picked in zone {BATCH_ZONE} and sorted at the wall)\n"
                f"  dashboard  {parts.url}/dashboard?token={token}\n"
                f"  API        {parts.url}/docs   (Authorization: Bearer {token}, role admin)\n"
                f"  MQTT       {endpoint.url}   topics floorgate/{config.site.id}/#\n"
                "Press Ctrl-C to stop.\n",
                flush=True,
            )

        flow = OrderFlow(parts, bank, stations, options, rng)
        async with asyncio.TaskGroup() as tasks:
            edge = tasks.create_task(run_edge(parts, on_ready=ready), name="edge")
            while not parts.server.started:
                if edge.done():
                    return
                await asyncio.sleep(0.05)
            flow_task = tasks.create_task(flow.run(), name="order-flow")
            batches = BatchFlow(
                parts,
                bank,
                sorter_scanner,
                seconds_per_pick=options.seconds_per_pick,
                short_rate=options.short_rate,
                rng=random.Random(rng.random()),
            )
            batch_task = tasks.create_task(batches.run(), name="batch-flow")
            # PACK-1 and PACK-2 weigh every picked order on simulated MQTT scales (edge/demo_packing.py).
            packing = tasks.create_task(PackingFlow(parts, endpoint, rng).run(), name="packing")
            progress = tasks.create_task(_progress(parts, flow, batches), name="progress")
            # Stockers and counters work the same bins as the pickers (firmware_sim/demo/stocking.py, counting.py).
            zones = {
                z: sorted(loc.module for loc in config.locations if loc.zone == z and loc.module)
                for z in ZONES
            }
            walk = options.seconds_per_pick * 2
            # The batch zone's bins are replenished too (a putaway waiting there would hold a batch's bin).
            stocked = {
                **zones,
                BATCH_ZONE: sorted(
                    loc.module for loc in config.locations if loc.zone == BATCH_ZONE and loc.module
                ),
            }
            stock = tasks.create_task(
                run_stock_work(parts, bank, stocked, seconds_per_bin=walk, rng=rng), name="stock-work"
            )
            counts = tasks.create_task(
                run_count_work(
                    parts, bank, zones, every_s=options.count_every, seconds_per_bin=walk, rng=rng
                ),
                name="count-work",
            )
            if options.duration is not None:
                await asyncio.sleep(options.duration)
                for task in (flow_task, batch_task, packing, progress, stock, counts, edge):
                    task.cancel()


async def _progress(parts: EdgeParts, flow: OrderFlow, batches: BatchFlow) -> None:
    last_events, last_time = parts.writer.stats.events, time.monotonic()
    while True:
        await asyncio.sleep(10)
        events, now = parts.writer.stats.events, time.monotonic()
        log.info(
            "demo progress",
            extra={
                "orders_picked": flow.orders_done,
                "batches_picked": batches.batches_picked,
                "orders_sorted": batches.orders_sorted,
                "events_per_s": round((events - last_events) / (now - last_time), 1),
                "last_seq": parts.writer.last_seq,
                "lit": sum(1 for light in parts.writer.floor.lights.values() if light.lit),
            },
        )
        last_events, last_time = events, now
