"""The reconnect loop shared by scanners on a byte stream (serial port, evdev device, FIFO of records).

It opens the device, reads what arrives without polling (the event loop watches the descriptor), hands
the bytes to the scanner's codec and submits each finished scan as a `RecordScan`. When the device
goes away (unplugged, `ENODEV`, a pty whose other end closed: `EIO`, end of file) it reports the scanner
offline once, retries with jittered exponential backoff, and reports it online once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from floorgate.core.commands import RecordScan, ReportDeviceStatus
from floorgate.devices.backoff import Backoff
from floorgate.devices.ports import Submit

logger = logging.getLogger(__name__)

DEVICE_KIND = "scanner"
READ_CHUNK = 4096


class DeviceGone(Exception):
    """The device stopped being there: end of file, or a read error that means it was unplugged."""


@dataclass(frozen=True, slots=True)
class OpenDevice:
    """An open descriptor and how to let it go (ungrab, close)."""

    fd: int
    close: Callable[[], None]


async def wait_readable(fd: int) -> None:
    """Wait until `fd` has something to read (or an error/EOF to report), without polling."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def _wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, _wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


def read_available(fd: int) -> bytes | None:
    """Bytes waiting on a non-blocking fd; None when there are none yet. Raises DeviceGone at EOF/EIO/ENODEV."""
    try:
        data = os.read(fd, READ_CHUNK)
    except BlockingIOError:
        return None
    except OSError as err:
        raise DeviceGone(errno.errorcode.get(err.errno or 0, str(err))) from err
    if not data:
        raise DeviceGone("end of file")
    return data


class StreamScanner(ABC):
    """A scanner on a byte stream. Subclasses open the device and decode its bytes into scans."""

    transport: str = ""

    def __init__(
        self,
        *,
        station: str,
        device_id: str,
        submit: Submit,
        reconnect_min: float = 0.2,
        reconnect_max: float = 5.0,
    ) -> None:
        self.station = station
        self.device_id = device_id
        self.name = f"scanner-{station}"
        self._submit = submit
        self._backoff = Backoff(reconnect_min, reconnect_max)
        self._online: bool | None = None
        # Ids are device + run + sequence: unique across restarts, so the store's memory of recent ids
        # never mistakes today's scan 1 for yesterday's.
        self._run = secrets.token_hex(4)
        self._sequence = 0
        self.scans = 0

    @property
    def online(self) -> bool | None:
        return self._online

    # -- what a transport provides ------------------------------------------------------------------

    @abstractmethod
    def _open(self) -> OpenDevice:
        """Open the device, non-blocking. Raises OSError when it is not there."""

    @abstractmethod
    def _decode(self, data: bytes) -> list[str]:
        """Feed bytes to the codec; return the scans they finished."""

    def _idle_timeout(self) -> float | None:
        """How long to wait for more bytes before `_on_idle` (None: forever)."""
        return None

    def _on_idle(self) -> None:  # noqa: B027 (optional hook: most transports have nothing to expire)
        """No bytes for `_idle_timeout()` seconds."""

    def _on_open(self, device: OpenDevice) -> bytes:
        """Just opened: check it is really there (raise DeviceGone if not), reset the codec, and
        return any bytes read while checking."""
        return b""

    def _replay_done(self, device: OpenDevice) -> bool:
        """True when end of file means "the recording is over", not "the device is gone"."""
        return False

    # -- the loop -----------------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            try:
                device = self._open()
            except OSError as err:
                await self._report(online=False, reason=f"cannot open: {err.strerror or err}")
                await asyncio.sleep(self._backoff.next_delay())
                continue
            reason = "closed"
            try:
                first = self._on_open(device)
                await self._report(online=True)
                self._backoff.reset()
                for text in self._decode(first):
                    await self._scanned(text)
                await self._serve(device)
            except DeviceGone as gone:
                reason = str(gone)
            finally:
                with contextlib.suppress(OSError):
                    device.close()
            await self._report(online=False, reason=reason)
            await asyncio.sleep(self._backoff.next_delay())

    async def _serve(self, device: OpenDevice) -> None:
        while True:
            try:
                data = read_available(device.fd)
            except DeviceGone:
                if not self._replay_done(device):
                    raise
                logger.info("scanner recording read to the end", extra={"device": self.device_id})
                await asyncio.Event().wait()  # a replayed file never comes back; wait to be cancelled
                raise
            if data is None:
                timeout = self._idle_timeout()
                try:
                    async with asyncio.timeout(timeout):
                        await wait_readable(device.fd)
                except TimeoutError:
                    self._on_idle()
                continue
            for text in self._decode(data):
                await self._scanned(text)

    async def _scanned(self, text: str) -> None:
        self._sequence += 1
        self.scans += 1
        await self._submit(
            RecordScan(
                message_id=f"scanner:{self.device_id}:{self._run}:{self._sequence}",
                station=self.station,
                data=text,
                scanner=self.device_id,
            )
        )

    async def _report(self, *, online: bool, reason: str | None = None) -> None:
        if self._online is online:
            return
        self._online = online
        if online:
            logger.info("scanner online", extra={"device": self.device_id, "transport": self.transport})
        else:
            logger.warning(
                "scanner offline",
                extra={"device": self.device_id, "transport": self.transport, "reason": reason},
            )
        await self._submit(
            ReportDeviceStatus(
                device=self.device_id,
                kind=DEVICE_KIND,
                online=online,
                transport=self.transport,
                reason=reason,
            )
        )
