"""Simulated barcode scanners: a serial scanner on a pseudo-terminal, and a HID keyboard-wedge scanner
that writes the binary `struct input_event` stream a kernel would, into a FIFO.

The serial scanner holds the pty's master side and types `prefix + code + suffix`, optionally at a
typing speed; the edge opens the slave side, best through a stable symlink (`link`), which the
simulator removes when it is "unplugged" and points at a new pty when it is plugged in again, the way
udev manages /dev/serial/by-id. The HID scanner turns text into key presses for a keyboard layout,
with Shift, AltGr and Ctrl+] for GS, and ends each code with Enter (or keypad Enter).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import tty
from pathlib import Path

from floorgate.devices.scanners.hid_decoder import GS
from floorgate.devices.scanners.input_event import (
    EV_KEY,
    EV_SYN,
    KEY_PRESS,
    KEY_RELEASE,
    SYN_REPORT,
    InputEvent,
    at,
    pack,
)
from floorgate.devices.scanners.keyboard_layouts import KEYPAD, Key, KeyboardLayout, Level, layout_named


class ScannerUnplugged(RuntimeError):
    """Typing into a simulated scanner that is not plugged in."""


class PtySerialScanner:
    """A serial barcode scanner at the far end of a pseudo-terminal."""

    def __init__(
        self,
        *,
        link: Path | None = None,
        prefix: bytes = b"",
        suffix: bytes = b"\r",
        chars_per_second: float | None = None,
    ) -> None:
        self.link = link
        self.prefix = prefix
        self.suffix = suffix
        self.chars_per_second = chars_per_second
        self.slave_path: str | None = None
        self._master: int | None = None
        self._slave: int | None = None

    @property
    def path(self) -> str:
        """What the edge should open: the stable link if there is one, else the pty itself."""
        if self.link is not None:
            return str(self.link)
        if self.slave_path is None:
            raise ScannerUnplugged("the scanner has not been plugged in")
        return self.slave_path

    def plug(self) -> str:
        """Make a new pty (and point the link at it); returns the slave path."""
        if self._master is not None:
            return self.path
        master, slave = os.openpty()
        # Raw from the start: the default line discipline would echo the code back and turn CR into LF
        # before the edge has opened (and set raw mode on) its side.
        tty.setraw(slave)
        self._master, self._slave = master, slave
        self.slave_path = os.ttyname(slave)
        if self.link is not None:
            staging = self.link.with_name(f".{self.link.name}.{os.getpid()}")
            with contextlib.suppress(FileNotFoundError):
                staging.unlink()
            staging.symlink_to(self.slave_path)
            staging.replace(self.link)
        return self.slave_path

    def unplug(self) -> None:
        """Close the pty, as pulling the USB cable does; the edge's reads fail and the link goes away."""
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

    async def scan(self, code: str) -> None:
        """Send one code with the configured prefix and suffix."""
        await self.send(self.prefix + code.encode() + self.suffix)

    async def send(self, data: bytes) -> None:
        """Raw bytes on the line (for noise and broken frames)."""
        if self._master is None:
            raise ScannerUnplugged("the scanner is unplugged")
        if not self.chars_per_second:
            os.write(self._master, data)
            return
        for index in range(len(data)):
            os.write(self._master, data[index : index + 1])
            await asyncio.sleep(1 / self.chars_per_second)

    async def __aenter__(self) -> PtySerialScanner:
        self.plug()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.unplug()


def keystrokes(
    text: str,
    layout: KeyboardLayout,
    *,
    start: float,
    key_interval: float = 0.001,
    keypad_digits: bool = False,
    keypad_enter: bool = False,
) -> list[InputEvent]:
    """The input_event records a wedge scanner sends to type `text` and Enter on `layout`."""
    events: list[InputEvent] = []
    clock = start

    def key(code: int, value: int) -> None:
        nonlocal clock
        events.append(at(clock, EV_KEY, code, value))
        events.append(at(clock, EV_SYN, SYN_REPORT, 0))
        clock += key_interval

    def tap(code: int, *modifiers: int) -> None:
        for modifier in modifiers:
            key(modifier, KEY_PRESS)
        key(code, KEY_PRESS)
        key(code, KEY_RELEASE)
        for modifier in reversed(modifiers):
            key(modifier, KEY_RELEASE)

    keypad = {char: code for code, char in KEYPAD.items()}
    for char in text:
        if char == GS:
            tap(Key.RIGHTBRACE, Key.LEFTCTRL)
            continue
        if keypad_digits and char.isdigit():
            tap(keypad[char])
            continue
        stroke = layout.keystroke(char)
        if stroke is None:
            raise ValueError(f"{char!r} cannot be typed on the {layout.name} layout")
        code, level = stroke
        if level is Level.SHIFT:
            tap(code, Key.LEFTSHIFT)
        elif level is Level.ALTGR:
            tap(code, Key.RIGHTALT)
        else:
            tap(code)
    tap(Key.KPENTER if keypad_enter else Key.ENTER)
    return events


class FifoHidScanner:
    """A keyboard-wedge scanner whose kernel events go into a FIFO the edge reads as its device."""

    def __init__(self, path: Path, *, layout: str = "us", key_interval: float = 0.001) -> None:
        self.path = path
        self.layout = layout_named(layout)
        self.key_interval = key_interval
        self._fd: int | None = None

    def plug(self) -> None:
        if self._fd is not None:
            return
        if not self.path.exists():
            os.mkfifo(self.path)
        # Read-write so the open never waits for the edge; the edge sees a writer, i.e. a device.
        self._fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)

    def unplug(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def scan(self, text: str, **options: bool) -> None:
        """Type `text` then Enter; `keypad_digits`/`keypad_enter` choose keypad keys."""
        self.write(
            keystrokes(text, self.layout, start=time.time(), key_interval=self.key_interval, **options)
        )

    def write(self, events: list[InputEvent]) -> None:
        if self._fd is None:
            raise ScannerUnplugged("the scanner is unplugged")
        os.write(self._fd, b"".join(pack(e) for e in events))

    def __enter__(self) -> FifoHidScanner:
        self.plug()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.unplug()
