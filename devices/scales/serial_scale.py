"""Serial scale adapter: polls or listens to a scale on a serial port and submits `RecordWeight` commands.

Polled protocols (MT-SICS, NCI) are asked for a weight every `poll_interval`; Toledo continuous output is
read as it streams. Bytes are framed by the protocol's pure codec; garbage is counted, logged (rate
limited) and skipped, never fatal. The port is opened with pyserial and read through the event loop (no
thread per port). When the port vanishes (USB unplugged, pty closed) the adapter reports the scale offline
once, reopens it with jittered backoff, and reports it online once when frames flow again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import MappingProxyType

import serial

from floorgate.core.commands import RecordWeight, ReportDeviceStatus
from floorgate.devices.backoff import Backoff
from floorgate.devices.ports import Submit
from floorgate.devices.scales import mt_sics, nci, toledo_continuous
from floorgate.devices.scales.frames import Frame, Garbage, Reading, Reply
from floorgate.devices.scales.stability import StabilityDetector, StabilityPolicy

logger = logging.getLogger(__name__)

DEVICE_KIND = "scale"
TRANSPORT = "serial"
# More buffered bytes than this without a frame means the codec is being fed noise: drop the oldest.
MAX_BUFFER = 4096
GARBAGE_LOG_INTERVAL_S = 30.0

Decoder = Callable[[bytes | bytearray], tuple[Frame | None, int]]


def _open_error(port: str, err: BaseException) -> str:
    """Why a serial port did not open; a refusal says the user needs the `dialout` group."""
    if getattr(err, "errno", None) in (errno.EACCES, errno.EPERM) or "Permission denied" in str(err):
        return (
            f"permission denied opening {port}: add the user running FloorGate to the `dialout` group "
            "(sudo usermod -aG dialout USER, then log in again)"
        )
    return f"cannot open {port}: {err}"


class ToledoStream:
    """Toledo decoding that learns whether this scale sends a checksum, then sticks to it."""

    def __init__(self, with_checksum: bool | None = None) -> None:
        self.with_checksum = with_checksum

    def __call__(self, buffer: bytes | bytearray) -> tuple[Frame | None, int]:
        frame, consumed = toledo_continuous.decode(buffer, with_checksum=self.with_checksum)
        if self.with_checksum is None and isinstance(frame, Reading | Reply):
            if consumed == toledo_continuous.CHECKSUM_LEN and buffer[toledo_continuous.FRAME_LEN] != 0x02:
                self.with_checksum = True  # the byte after CR was not an STX: it is a checksum
            elif consumed == toledo_continuous.FRAME_LEN:
                self.with_checksum = False
        return frame, consumed


@dataclass(frozen=True, kw_only=True, slots=True)
class ProtocolSpec:
    name: str
    poll: bytes | None  # None: the scale streams by itself
    make_decoder: Callable[[], Decoder]


PROTOCOLS: MappingProxyType[str, ProtocolSpec] = MappingProxyType(
    {
        "mt-sics": ProtocolSpec(
            name="mt-sics",
            poll=mt_sics.encode(mt_sics.MtSicsCommand.WEIGHT_NOW),
            make_decoder=lambda: mt_sics.decode,
        ),
        "nci": ProtocolSpec(
            name="nci", poll=nci.encode(nci.NciCommand.WEIGHT), make_decoder=lambda: nci.decode
        ),
        "toledo-continuous": ProtocolSpec(name="toledo-continuous", poll=None, make_decoder=ToledoStream),
    }
)


class FrameReader:
    """Bytes in, frames out: the protocol codec applied until the buffer holds only a partial frame."""

    def __init__(self, decoder: Decoder, *, max_buffer: int = MAX_BUFFER) -> None:
        self._decode = decoder
        self._buffer = bytearray()
        self._max = max_buffer
        self.dropped = 0
        self.ready: deque[Frame] = deque()

    def feed(self, data: bytes) -> list[Frame]:
        """Decode what `data` completes; the frames are returned and also queued on `ready`."""
        self._buffer += data
        frames: list[Frame] = []
        while self._buffer:
            frame, consumed = self._decode(self._buffer)
            if frame is None:
                break
            if consumed <= 0:
                # A codec bug must not spin the loop: count the byte as garbage and move on.
                frame, consumed = Garbage(raw=bytes(self._buffer[:1]), reason="decoder consumed nothing"), 1
            del self._buffer[:consumed]
            frames.append(frame)
        if len(self._buffer) > self._max:
            excess = len(self._buffer) - self._max
            frames.append(Garbage(raw=bytes(self._buffer[:excess]), reason="buffer overflow"))
            del self._buffer[:excess]
            self.dropped += excess
        self.ready.extend(frames)
        return frames

    def clear(self) -> None:
        self._buffer.clear()
        self.ready.clear()


@dataclass(slots=True)
class ScaleStats:
    frames: int = 0
    readings: int = 0
    garbage: int = 0
    replies_missed: int = 0
    submitted: int = 0
    connects: int = 0


class PortLost(Exception):
    """The serial port stopped working (unplugged, closed by the other end)."""


class SerialScaleAdapter:
    """One scale on one serial port, feeding one station. Run `run()` as a task; cancel it to stop."""

    def __init__(
        self,
        *,
        station: str,
        device: str,
        port: str,
        protocol: str,
        submit: Submit,
        baud: int = 9600,
        poll_interval: float = 0.2,
        reply_timeout: float = 1.0,
        missed_replies: int = 3,
        silence_timeout: float = 3.0,
        stability: StabilityPolicy | None = None,
        checksum: bool | None = None,
        repeat_s: float = 1.0,
        min_interval_s: float = 0.25,
        backoff_min: float = 0.2,
        backoff_max: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        spec = PROTOCOLS.get(protocol)
        if spec is None:
            raise ValueError(f"unknown scale protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
        if poll_interval <= 0 or reply_timeout <= 0 or silence_timeout <= 0:
            raise ValueError("poll_interval, reply_timeout and silence_timeout must be positive")
        if checksum is not None and spec.make_decoder is not ToledoStream:
            raise ValueError(f"checksum is a toledo-continuous setting; {protocol} has none")
        self.name = f"scale-{device}"
        self.station = station
        self.device = device
        self.port = port
        self.baud = baud
        self.spec = spec
        self._submit = submit
        # Toledo: a scale set up to send (or not send) a checksum is decoded so from the first frame, rather
        # than learnt, so a damaged first frame cannot teach the wrong framing.
        self._make_decoder: Callable[[], Decoder] = (
            spec.make_decoder if checksum is None else functools.partial(ToledoStream, checksum)
        )
        self._poll_interval = poll_interval
        self._reply_timeout = reply_timeout
        self._missed_replies = max(1, missed_replies)
        self._silence_timeout = silence_timeout
        self._stability = StabilityDetector(stability)
        self._repeat_s = repeat_s
        self._min_interval_s = min_interval_s
        self._backoff = Backoff(backoff_min, backoff_max)
        self._clock = clock
        self._stats = ScaleStats()
        self._online: bool | None = None
        self._boot = secrets.token_hex(4)
        self._seq = 0
        self._last_sent: tuple[float | None, bool, str] | None = None
        self._last_sent_at = -1e18
        self._garbage_logged_at = -1e18
        self._garbage_since_log = 0

    @property
    def stats(self) -> ScaleStats:
        return replace(self._stats)

    @property
    def online(self) -> bool | None:
        return self._online

    # -- the reconnect loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            try:
                handle = serial.Serial(port=self.port, baudrate=self.baud, timeout=0, exclusive=True)
            except (serial.SerialException, OSError, ValueError) as err:
                await self._set_online(False, _open_error(self.port, err))
                await asyncio.sleep(self._backoff.next_delay())
                continue
            self._stats.connects += 1
            try:
                # Bytes queued while nobody listened are old weights: never judge a carton by them.
                handle.reset_input_buffer()
                await self._serve(handle)
            except PortLost as err:
                await self._set_online(False, str(err))
            finally:
                with contextlib.suppress(OSError, serial.SerialException):
                    handle.close()
            await asyncio.sleep(self._backoff.next_delay())

    async def _serve(self, handle: serial.Serial) -> None:
        fd = handle.fileno()
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[bytes | PortLost] = asyncio.Queue()

        def readable() -> None:
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                return
            except OSError as err:
                loop.remove_reader(fd)
                chunks.put_nowait(PortLost(f"{self.port}: {err.strerror or err}"))
                return
            if not data:
                loop.remove_reader(fd)
                chunks.put_nowait(PortLost(f"{self.port}: closed by the other end"))
                return
            chunks.put_nowait(data)

        reader = FrameReader(self._make_decoder())
        loop.add_reader(fd, readable)
        try:
            if self.spec.poll is None:
                await self._listen(reader, chunks)
            else:
                await self._poll(fd, self.spec.poll, reader, chunks)
        finally:
            loop.remove_reader(fd)

    async def _poll(
        self, fd: int, command: bytes, reader: FrameReader, chunks: asyncio.Queue[bytes | PortLost]
    ) -> None:
        missed = 0
        while True:
            started = self._clock()
            try:
                os.write(fd, command)
            except BlockingIOError:
                pass  # the output buffer is full; the missing reply is counted below
            except OSError as err:
                raise PortLost(f"{self.port}: {err.strerror or err}") from err
            try:
                async with asyncio.timeout(self._reply_timeout):
                    frame = await self._next_frame(reader, chunks)
            except TimeoutError:
                missed += 1
                self._stats.replies_missed += 1
                if missed >= self._missed_replies:
                    await self._set_online(False, f"no reply to {missed} polls")
                continue
            missed = 0
            await self._handle(frame)
            rest = self._poll_interval - (self._clock() - started)
            if rest > 0:
                await asyncio.sleep(rest)

    async def _listen(self, reader: FrameReader, chunks: asyncio.Queue[bytes | PortLost]) -> None:
        while True:
            try:
                async with asyncio.timeout(self._silence_timeout):
                    frame = await self._next_frame(reader, chunks)
            except TimeoutError:
                await self._set_online(False, f"silent for {self._silence_timeout:g} s")
                continue
            await self._handle(frame)

    async def _next_frame(self, reader: FrameReader, chunks: asyncio.Queue[bytes | PortLost]) -> Frame:
        while True:
            while reader.ready:
                frame = reader.ready.popleft()
                if isinstance(frame, Garbage):
                    self._garbage(frame)
                    continue
                return frame
            chunk = await chunks.get()
            if isinstance(chunk, PortLost):
                raise chunk
            reader.feed(chunk)

    # -- frames to commands ------------------------------------------------------------------------------

    async def _handle(self, frame: Frame) -> None:
        self._stats.frames += 1
        await self._set_online(True, None)
        self._backoff.reset()
        if isinstance(frame, Reply):
            if frame.is_error:
                logger.debug("scale refused a command", extra={"device": self.device, "reply": frame.text})
            return
        if isinstance(frame, Reading):
            await self._reading(frame)

    async def _reading(self, reading: Reading) -> None:
        self._stats.readings += 1
        now = self._clock()
        stable = self._stability.observe(reading.grams, reading.stable, now, division_g=reading.division_g)
        grams = float(reading.grams) if reading.grams is not None else None
        key = (grams, stable, reading.condition.value)
        since = now - self._last_sent_at
        changed = key != self._last_sent
        important = self._last_sent is None or key[1:] != self._last_sent[1:] or stable
        # Send what a station needs without a commit per frame: any change of stability or condition and
        # a changed stable weight at once, a moving weight at most every `min_interval_s`, and the same
        # reading again every `repeat_s` so a carton already on the scale is seen after a scan.
        if not ((changed and (important or since >= self._min_interval_s)) or since >= self._repeat_s):
            return
        self._last_sent = key
        self._last_sent_at = now
        self._seq += 1
        logger.debug("scale reading", extra={"device": self.device, "grams": grams, "stable": stable})
        await self._submit(
            RecordWeight(
                message_id=f"scale:{self.device}:{self._boot}:{self._seq}",
                station=self.station,
                grams=grams if grams is not None else 0.0,
                stable=stable,
                condition=reading.condition,
                scale=self.device,
            )
        )
        self._stats.submitted += 1

    def _garbage(self, frame: Garbage) -> None:
        self._stats.garbage += 1
        self._garbage_since_log += 1
        now = self._clock()
        if now - self._garbage_logged_at >= GARBAGE_LOG_INTERVAL_S:
            logger.warning(
                "scale sent bytes that are no frame; skipped",
                extra={
                    "device": self.device,
                    "protocol": self.spec.name,
                    "reason": frame.reason,
                    "excerpt": frame.raw[:40].hex(),
                    "since_last_log": self._garbage_since_log,
                },
            )
            self._garbage_logged_at = now
            self._garbage_since_log = 0

    async def _set_online(self, online: bool, reason: str | None) -> None:
        if self._online is online:
            return
        self._online = online
        if online:
            logger.info("scale online", extra={"device": self.device, "port": self.port})
        else:
            logger.warning(
                "scale offline", extra={"device": self.device, "port": self.port, "reason": reason}
            )
            self._stability.reset()
            self._last_sent = None
        await self._submit(
            ReportDeviceStatus(
                device=self.device, kind=DEVICE_KIND, online=online, transport=TRANSPORT, reason=reason
            )
        )
