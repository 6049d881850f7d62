"""Simulated scales and packers: MT-SICS, Toledo continuous and NCI over pseudo-terminals, and MQTT scales.

`Platform` is the physics: a carton placed settles towards its weight (exponentially, with noise, shown in
whole divisions), overload above capacity, and optionally a lying motion flag that says "stable" while the
carton still swings. `PtyScale` speaks one wire protocol about a platform on the master side of a pty
(the adapter opens the slave, through a stable symlink like /dev/serial/by-id/...), answering polls or
streaming frames; `vanish()` and `appear()` unplug and plug it back. `MqttScale` publishes the contract's
`scale/{id}/weight` messages. `SimulatedPacker` scans picked orders and puts cartons on a platform,
sometimes one item short, and fixes a rejected carton.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
import random
import secrets
import tty
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from types import TracebackType
from typing import Self

import aiomqtt

from floorgate.core.commands import ScaleCondition
from floorgate.devices.cancellation import raise_if_cancelling
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.scales import mt_sics, nci, toledo_continuous
from floorgate.devices.scales.frames import GRAMS_PER_UNIT
from floorgate.devices.scales.mqtt_scale import encode_weight, weight_topic
from floorgate.firmware_sim.mqtt_client import make_client

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class PlatformReading:
    grams: Decimal | None  # in whole divisions of the display unit, converted to grams
    value: Decimal | None  # the same in the display unit, as the scale prints it
    motion: bool
    condition: ScaleCondition


class Platform:
    """A weighing platform: what is on it, how it settles, how it reads."""

    def __init__(
        self,
        *,
        unit: str = "kg",
        division: Decimal = Decimal("0.001"),
        capacity_g: float = 30_000.0,
        settle_s: float = 0.6,
        noise_g: float = 0.15,
        lying_flag: bool = False,
        rng: random.Random | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.unit = unit
        self.division = division
        self.capacity_g = capacity_g
        self.settle_s = settle_s
        self.noise_g = noise_g
        self.lying_flag = lying_flag
        self._rng = rng or random.Random()
        self._clock = clock or asyncio.get_running_loop().time
        self._target = 0.0
        self._start = 0.0
        self._since = self._clock()
        self.fault: ScaleCondition | None = None

    def place(self, grams: float) -> None:
        """Put a load on the platform (replacing what was there): it settles from the current reading."""
        self._start = self._true_weight()
        self._target = grams
        self._since = self._clock()

    def remove(self) -> None:
        self.place(0.0)

    @property
    def load_g(self) -> float:
        return self._target

    def _true_weight(self) -> float:
        elapsed = self._clock() - self._since
        if elapsed >= self.settle_s:
            return self._target  # settled: a real platform stops moving, it does not creep forever
        # Four time constants in `settle_s`: close to the load well before it is declared settled.
        tau = max(self.settle_s / 4, 1e-6)
        return self._target + (self._start - self._target) * math.exp(-elapsed / tau)

    def read(self) -> PlatformReading:
        if self.fault is not None:
            return PlatformReading(grams=None, value=None, motion=True, condition=self.fault)
        weight = self._true_weight()
        moving = abs(weight - self._target) > 0.5 * float(self.division * GRAMS_PER_UNIT[self.unit])
        if weight > self.capacity_g:
            return PlatformReading(grams=None, value=None, motion=moving, condition=ScaleCondition.OVERLOAD)
        noisy = weight + self._rng.gauss(0.0, self.noise_g) if self.noise_g else weight
        factor = GRAMS_PER_UNIT[self.unit]
        value = (Decimal(repr(noisy)) / factor / self.division).to_integral_value(
            ROUND_HALF_EVEN
        ) * self.division
        return PlatformReading(
            grams=value * factor,
            value=value,
            motion=moving and not self.lying_flag,
            condition=ScaleCondition.OK,
        )


_EXPONENT_TO_DECIMAL_CODE = {exp: code for code, exp in toledo_continuous.DECIMAL_EXPONENT.items()}


def _format(value: Decimal, division: Decimal) -> str:
    return f"{value:.{max(0, -division.as_tuple().exponent)}f}"  # type: ignore[operator]


class PtyScale:
    """One simulated scale on the master side of a pseudo-terminal. Use as an async context manager."""

    def __init__(
        self,
        protocol: str,
        platform: Platform,
        *,
        link: Path | None = None,
        stream_interval: float = 0.1,
        with_checksum: bool = True,
    ) -> None:
        if protocol not in {"mt-sics", "nci", "toledo-continuous"}:
            raise ValueError(f"unknown protocol {protocol!r}")
        self.protocol = protocol
        self.platform = platform
        self.link = link
        self.stream_interval = stream_interval
        self.with_checksum = with_checksum
        self.commands_seen: list[bytes] = []
        self._master: int | None = None
        self._slave: int | None = None
        self._slave_name = ""
        self._task: asyncio.Task[None] | None = None
        self._inbox = bytearray()

    @property
    def path(self) -> str:
        """What the adapter opens: the symlink when there is one, else the pty's slave name."""
        return str(self.link) if self.link is not None else self._slave_name

    @property
    def present(self) -> bool:
        return self._master is not None

    async def __aenter__(self) -> Self:
        self.appear()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.vanish()

    def appear(self) -> None:
        """Plug the scale in: a new pty (as after a USB re-enumeration), the symlink pointing at it."""
        if self._master is not None:
            return
        master, slave = os.openpty()
        # Raw on the slave side until the adapter configures it, so nothing is echoed or translated.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._slave_name = os.ttyname(slave)
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
            self.link.symlink_to(self._slave_name)
        self._task = asyncio.get_running_loop().create_task(self._serve(), name=f"pty-scale-{self.protocol}")

    async def vanish(self) -> None:
        """Unplug the scale: the pty goes away (the adapter's reads fail) and so does the symlink."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        self._inbox.clear()

    def inject(self, raw: bytes) -> None:
        """Send bytes that are no frame (line noise), exactly as given."""
        self._write(raw)

    def _write(self, data: bytes) -> None:
        if self._master is None:
            return
        try:
            os.write(self._master, data)
        except BlockingIOError:
            # Nobody reads the port and its buffer is full: a real scale's bytes would be lost too.
            pass
        except OSError as err:
            log.debug("simulated scale could not write: %s", err)

    async def _serve(self) -> None:
        if self.protocol == "toledo-continuous":
            while True:
                self._write(self.toledo_frame())
                await asyncio.sleep(self.stream_interval)
        loop = asyncio.get_running_loop()
        master = self._master
        assert master is not None
        arrived = asyncio.Event()

        def readable() -> None:
            try:
                self._inbox.extend(os.read(master, 1024))
            except BlockingIOError:
                return
            except OSError:
                # The slave side was closed by the adapter; a reopen brings it back (EIO until then).
                loop.remove_reader(master)
                loop.call_later(0.05, lambda: self._master == master and loop.add_reader(master, readable))
                return
            arrived.set()

        loop.add_reader(master, readable)
        try:
            while True:
                await arrived.wait()
                arrived.clear()
                for command in self._take_commands():
                    self.commands_seen.append(command)
                    self._write(self.reply_to(command))
        finally:
            loop.remove_reader(master)

    def _take_commands(self) -> list[bytes]:
        commands: list[bytes] = []
        while True:
            end = self._inbox.find(b"\r")
            if end < 0:
                return commands
            command = bytes(self._inbox[:end]).strip(b"\n")
            # MT-SICS commands end in CR LF, NCI in CR: drop the LF of a CR LF pair with the command.
            del self._inbox[: end + 1]
            if self._inbox.startswith(b"\n"):
                del self._inbox[:1]
            commands.append(command)

    # -- the three protocols ---------------------------------------------------------------------------

    def reply_to(self, command: bytes) -> bytes:
        if self.protocol == "mt-sics":
            return self._mt_sics(command.decode("ascii", errors="replace").strip())
        return self._nci(command.decode("ascii", errors="replace").strip())

    def _mt_sics(self, command: str) -> bytes:
        reading = self.platform.read()
        if command in {"S", "SI", "SIR"}:
            if reading.condition is ScaleCondition.OVERLOAD:
                return mt_sics.encode_reply("S", "+")
            if reading.condition is ScaleCondition.UNDERLOAD:
                return mt_sics.encode_reply("S", "-")
            if reading.value is None:
                return mt_sics.encode_reply("S", "I")
            if command == "S" and reading.motion:
                return mt_sics.encode_reply("S", "I")  # a stable weight was asked for: not yet
            text = _format(reading.value, self.platform.division)
            return mt_sics.encode_weight(text, self.platform.unit, stable=not reading.motion)
        if command in {"Z", "T"}:
            return mt_sics.encode_reply(command, "A" if command == "Z" else "S")
        if command == "@":
            return b'I4 A "SIM0001"\r\n'
        return mt_sics.encode_reply("ES")

    def _nci(self, command: str) -> bytes:
        reading = self.platform.read()
        flags: set[str] = set()
        if reading.motion:
            flags.add("motion")
        if reading.condition is ScaleCondition.OVERLOAD:
            flags.add("over_capacity")
        elif reading.condition is ScaleCondition.UNDERLOAD:
            flags.add("under_capacity")
        elif reading.condition is ScaleCondition.ERROR:
            flags.add("eeprom_error")
        if reading.value is not None and reading.value == 0:
            flags.add("at_zero")
        if command == "W":
            if reading.value is None:
                return nci.encode_weight_reply("^^^^^^", self.platform.unit, flags)
            return nci.encode_weight_reply(
                f"{_format(reading.value, self.platform.division):>8}", self.platform.unit, flags
            )
        if command in {"S", "Z", "T"}:
            return nci.encode_status_reply(flags)
        return nci.UNRECOGNISED

    def toledo_frame(self) -> bytes:
        reading = self.platform.read()
        exponent = int(self.platform.division.as_tuple().exponent)
        step = self.platform.division.scaleb(-exponent)
        code = _EXPONENT_TO_DECIMAL_CODE[exponent]
        if reading.value is None:
            return toledo_continuous.encode_frame(
                999_999,
                decimal_code=code,
                increment=int(step),
                unit=self.platform.unit,
                out_of_range=True,
                motion=True,
                with_checksum=self.with_checksum,
            )
        counts = int(reading.value.scaleb(-exponent))
        return toledo_continuous.encode_frame(
            counts,
            decimal_code=code,
            increment=int(step),
            unit=self.platform.unit,
            motion=reading.motion,
            with_checksum=self.with_checksum,
        )


class MqttScale:
    """A scale that publishes `floorgate/{site}/scale/{id}/weight` every `interval` seconds."""

    def __init__(
        self, endpoint: MqttEndpoint, site: str, scale_id: str, platform: Platform, *, interval: float = 0.25
    ) -> None:
        self.endpoint = endpoint
        self.topic = weight_topic(site, scale_id)
        self.scale_id = scale_id
        self.platform = platform
        self.interval = interval
        self._ids = itertools.count(1)
        self._boot = secrets.token_hex(3)

    async def run(self) -> None:
        """Publish until cancelled, reconnecting after a broker outage."""
        while True:
            try:
                client = make_client(self.endpoint, identifier=f"sim-scale-{self.scale_id}-{self._boot}")
                async with client:
                    while True:
                        reading = self.platform.read()
                        payload = encode_weight(
                            f"{self._boot}-{next(self._ids)}",
                            float(reading.grams) if reading.grams is not None else None,
                            stable=not reading.motion,
                            condition=reading.condition,
                        )
                        await client.publish(self.topic, payload, qos=1)
                        raise_if_cancelling()
                        await asyncio.sleep(self.interval)
            except aiomqtt.MqttError as err:
                raise_if_cancelling()
                log.debug("simulated MQTT scale lost the broker: %s", err)
                await asyncio.sleep(1.0)


@dataclass(frozen=True, kw_only=True, slots=True)
class PackJob:
    """What a packer needs to know of an order: the code to scan and what its carton weighs."""

    code: str
    carton_g: float
    lightest_item_g: float


class SimulatedPacker:
    """Scans an order, puts its carton on the scale, waits for the verdict, takes the carton off.

    With probability `mistake_rate` an item is left out; after the rejection the packer adds it and
    weighs again. The edge is reached only through the callables, so the same packer works in-process
    (the demo) or over the API.
    """

    def __init__(
        self,
        name: str,
        platform: Platform,
        *,
        next_job: Callable[[], Awaitable[PackJob]],
        scan: Callable[[str], Awaitable[None]],
        verdict: Callable[[str], Awaitable[str]],
        seconds_per_carton: float = 2.0,
        mistake_rate: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.platform = platform
        self._next_job = next_job
        self._scan = scan
        self._verdict = verdict
        self.seconds_per_carton = seconds_per_carton
        self.mistake_rate = mistake_rate
        self._rng = rng or random.Random()
        self.packed = 0
        self.rejected = 0

    async def run(self) -> None:
        while True:
            job = await self._next_job()
            await self._scan(job.code)
            short = self._rng.random() < self.mistake_rate
            self.platform.place(job.carton_g - (job.lightest_item_g if short else 0.0))
            verdict = await self._verdict(job.code)
            if verdict == "rejected":
                self.rejected += 1
                await self._take_off()
                self.platform.place(job.carton_g)  # the missing item added
                verdict = await self._verdict(job.code)
            if verdict in {"verified", "overridden"}:
                self.packed += 1
            await asyncio.sleep(self.seconds_per_carton / 2)
            await self._take_off()

    async def _take_off(self) -> None:
        # The station counts the next carton only after it saw the scale empty, so the packer waits for the
        # display to show zero (settling plus a couple of readings) like a person would.
        self.platform.remove()
        await asyncio.sleep(max(self.seconds_per_carton / 2, self.platform.settle_s + 0.75))
