"""The Linux `struct input_event` record (timeval, type, code, value): pack and unpack, pure.

The kernel writes these to /dev/input/event*; the simulator writes the same bytes to a FIFO. The layout
is the native one of this machine (a 64-bit `struct timeval` here), as evdev devices use.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# long tv_sec, long tv_usec, __u16 type, __u16 code, __s32 value
_RECORD = struct.Struct("llHHi")
RECORD_SIZE = _RECORD.size

EV_SYN = 0x00
EV_KEY = 0x01
EV_MSC = 0x04
SYN_REPORT = 0

KEY_RELEASE = 0
KEY_PRESS = 1
KEY_REPEAT = 2


@dataclass(frozen=True, kw_only=True, slots=True)
class InputEvent:
    """One record as the kernel sends it."""

    sec: int
    usec: int
    type: int
    code: int
    value: int

    @property
    def timestamp(self) -> float:
        return self.sec + self.usec / 1_000_000


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """A key going down (1), up (0) or auto-repeating (2) at `timestamp` (seconds): the decoder's input."""

    code: int
    value: int
    timestamp: float


def pack(event: InputEvent) -> bytes:
    return _RECORD.pack(event.sec, event.usec, event.type, event.code, event.value)


def at(timestamp: float, type_: int, code: int, value: int) -> InputEvent:
    """An InputEvent for a float timestamp (the simulator's way to make them)."""
    sec = int(timestamp)
    usec = round((timestamp - sec) * 1_000_000)
    if usec >= 1_000_000:
        sec, usec = sec + 1, usec - 1_000_000
    return InputEvent(sec=sec, usec=usec, type=type_, code=code, value=value)


def unpack(buffer: bytes) -> tuple[list[InputEvent], int]:
    """The whole records at the start of `buffer` and the bytes they used; a partial record waits."""
    count = len(buffer) // RECORD_SIZE
    events = [
        InputEvent(sec=sec, usec=usec, type=type_, code=code, value=value)
        for sec, usec, type_, code, value in _RECORD.iter_unpack(buffer[: count * RECORD_SIZE])
    ]
    return events, count * RECORD_SIZE


def key_events(events: Iterable[InputEvent]) -> Iterator[KeyEvent]:
    """Only the EV_KEY records, as our own key events (EV_SYN/EV_MSC scan codes carry nothing we need)."""
    for event in events:
        if event.type == EV_KEY:
            yield KeyEvent(event.code, event.value, event.timestamp)
