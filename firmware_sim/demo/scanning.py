"""The demo's zone start stations: a simulated serial scanner per zone, where pickers badge in and scan orders.

Each zone has a station `START-<zone>` whose scanner is a `PtySerialScanner`; the edge opens its pty
through a stable link in the demo's data directory, exactly as it would a /dev/serial/by-id path. The
demo's order feeder starts work the way a picker does: badge in (`OP:<name>`), then scan the order id
or the tote label, and learns the picker's colour from the floor once that scan is committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from floorgate.edge.wiring.scanners import scanner_device_id
from floorgate.edge.writer import Committed, Writer
from floorgate.firmware_sim.scanners import PtySerialScanner

log = logging.getLogger(__name__)

T = TypeVar("T")

SCAN_TIMEOUT_S = 10.0
# The edge opens the pty when its device loops start; codes typed before that would be flushed away.
SCANNER_ONLINE_TIMEOUT_S = 30.0


def start_station_id(zone: str) -> str:
    return f"START-{zone}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Started:
    """A scan started the order: the run's colour and operator as the floor recorded them."""

    color: str
    operator: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ScanRefused:
    """The floor raised an exception for the scan instead of starting the order."""

    kind: str
    message: str


class CommitWatch:
    """Futures resolved by a check on the floor after each commit: the writer wakes us, nobody polls."""

    def __init__(self, writer: Writer) -> None:
        self._waiters: list[Callable[[Committed], None]] = []
        writer.subscribe(self._on_commit)

    def _on_commit(self, committed: Committed) -> None:
        for waiter in list(self._waiters):
            waiter(committed)

    def expect(self, check: Callable[[Committed], T | None]) -> asyncio.Future[T]:
        """Resolved with the first result of `check` that is not None. Call it before the action whose
        commit `check` recognises, so that commit cannot be missed; cancel the future to stop watching."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        def on_commit(committed: Committed) -> None:
            if not future.done() and (result := check(committed)) is not None:
                future.set_result(result)

        self._waiters.append(on_commit)
        future.add_done_callback(lambda _future: self._waiters.remove(on_commit))
        return future


class StartStations:
    """One simulated serial scanner per zone start station; `start` scans an order in for a picker."""

    def __init__(self, zones: Iterable[str], link_dir: Path) -> None:
        self.scanners = {
            zone: PtySerialScanner(link=link_dir / f"scanner-{start_station_id(zone)}") for zone in zones
        }
        # Two pickers share a zone's station: a badge and the scan after it must not interleave.
        self._locks = {zone: asyncio.Lock() for zone in self.scanners}
        self._watch: CommitWatch | None = None
        self._writer: Writer | None = None

    def plug(self) -> None:
        """Create the ptys and their links; before the site file is built, which names the links."""
        for scanner in self.scanners.values():
            scanner.plug()

    def unplug(self) -> None:
        for scanner in self.scanners.values():
            scanner.unplug()

    def site_toml(self) -> str:
        return "\n".join(
            f'[[stations]]\nid = "{start_station_id(zone)}"\nkind = "zone"\nzone = "{zone}"\n'
            f'scanner = {{ transport = "serial", port = "{scanner.path}" }}\n'
            for zone, scanner in self.scanners.items()
        )

    def attach(self, writer: Writer) -> None:
        """Watch the floor this edge's writer commits (once it is built)."""
        self._writer = writer
        self._watch = CommitWatch(writer)

    async def start(self, *, zone: str, picker: str, order_id: str, code: str) -> Started | ScanRefused:
        """Badge `picker` in at the zone's station unless they are its operator, then scan `code`.

        Raises TimeoutError when the scanner does not come online or the scan is not committed in time.
        """
        assert self._writer is not None, "attach() the writer first"
        assert self._watch is not None, "attach() the writer first"
        floor = self._writer.floor
        station = start_station_id(zone)
        device = scanner_device_id(station)
        scanner = self.scanners[zone]

        def online(_committed: Committed | None = None) -> bool | None:
            state = floor.devices.get(device)
            return True if state is not None and state.online else None

        async with self._locks[zone]:
            if not online():
                async with asyncio.timeout(SCANNER_ONLINE_TIMEOUT_S):
                    await self._watch.expect(online)

            def outcome(committed: Committed) -> Started | ScanRefused | None:
                for event in committed.events:
                    if event.type == "order.started" and event.order_id == order_id:
                        run = floor.orders[order_id].runs[zone]
                        return Started(color=run.color, operator=run.operator)
                for exception_id in committed.exceptions:
                    # A repeat of an open exception is counted without a new event, but its message is
                    # rewritten with this scan's code.
                    exception = floor.exceptions[exception_id]
                    if exception.detail.get("station") == station and repr(code) in exception.message:
                        return ScanRefused(kind=exception.kind, message=exception.message)
                return None

            result: asyncio.Future[Started | ScanRefused] = self._watch.expect(outcome)
            try:
                current = floor.stations[station].operator
                if current != picker:
                    # The same serial line carries both codes in order, so the badge lands first.
                    await scanner.scan(f"OP:{picker}")
                await scanner.scan(code)
                async with asyncio.timeout(SCAN_TIMEOUT_S):
                    return await result
            finally:
                result.cancel()
