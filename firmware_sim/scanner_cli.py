"""`floorgate sim` scanners: a simulated device for each serial or HID scanner the site file names, typing
the codes given on standard input as `STATION CODE` lines (e.g. `ZS-A O-1001`).

Serial scanners become ptys linked at the configured port path (which must not be a real device); HID
scanners become FIFOs of input_event records at the configured device path.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from floorgate.edge.site import HidScanner, SerialScanner, SiteConfig
from floorgate.firmware_sim.scanners import FifoHidScanner, PtySerialScanner

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class SimulatedScanner:
    """One scanner to simulate: `transport` "serial" (path = port) or "hid" (path = device)."""

    station: str
    transport: str
    path: Path
    layout: str = "us"
    prefix: bytes = b""
    suffix: bytes = b"\r"


def _free_or_ours(path: Path) -> bool:
    """Only a missing path, a symlink or a FIFO may be replaced: never a real device node."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return True
    return stat.S_ISLNK(mode) or stat.S_ISFIFO(mode)


async def run_scanner_sims(specs: list[SimulatedScanner]) -> None:
    serial: dict[str, PtySerialScanner] = {}
    hid: dict[str, FifoHidScanner] = {}
    with ExitStack() as plugged:
        for spec in specs:
            if not _free_or_ours(spec.path):
                log.warning("not simulating over an existing device", extra={"path": str(spec.path)})
            elif spec.transport == "serial":
                scanner = PtySerialScanner(link=spec.path, prefix=spec.prefix, suffix=spec.suffix)
                scanner.plug()
                plugged.callback(scanner.unplug)
                serial[spec.station] = scanner
            elif spec.transport == "hid":
                fifo = FifoHidScanner(spec.path, layout=spec.layout)
                fifo.plug()
                plugged.callback(fifo.unplug)
                hid[spec.station] = fifo
        if not serial and not hid:
            return
        log.info("simulating scanners", extra={"serial": sorted(serial), "hid": sorted(hid)})
        if not stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode) and not sys.stdin.isatty():
            await asyncio.Event().wait()  # nothing to read codes from; keep the devices plugged in
        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := (await reader.readline()).decode(errors="replace"):
            station_id, _, code = line.strip().partition(" ")
            if station_id in serial:
                await serial[station_id].scan(code)
            elif station_id in hid:
                hid[station_id].scan(code)
            elif station_id:
                log.warning("no simulated scanner at that station", extra={"station": station_id})
        await asyncio.Event().wait()


def scanner_simulations(config: SiteConfig) -> list[SimulatedScanner]:
    """What `floorgate sim` plays: a device for each serial and HID scanner of the site file."""
    specs = []
    for station in config.stations:
        spec = station.scanner
        if isinstance(spec, SerialScanner):
            specs.append(
                SimulatedScanner(
                    station=station.id,
                    transport="serial",
                    path=Path(spec.port),
                    prefix=spec.prefix.encode(),
                    suffix=spec.suffix.encode(),
                )
            )
        elif isinstance(spec, HidScanner):
            specs.append(
                SimulatedScanner(
                    station=station.id, transport="hid", path=Path(spec.device), layout=spec.layout
                )
            )
    return specs
