"""HID keyboard-wedge scanner transport: an evdev device (grabbed) or a FIFO/file of input_event records.

A real scanner is `/dev/input/by-id/...-event-kbd`, a character device: it is opened with evdev and
grabbed exclusively so the barcode is not also typed into a console. Anything else at the path (a FIFO
the simulator writes, a recorded capture) carries the same binary `struct input_event` records and is
read the same way. Either way the bytes go through `input_event.unpack` and the `HidDecoder`.
"""

from __future__ import annotations

import math
import os
import stat

import evdev

from floorgate.devices.ports import Submit
from floorgate.devices.scanners.hid_decoder import DEFAULT_MAX_GAP, HidDecoder
from floorgate.devices.scanners.input_event import key_events, unpack
from floorgate.devices.scanners.keyboard_layouts import layout_named
from floorgate.devices.scanners.stream_device import OpenDevice, StreamScanner, read_available


class HidScannerAdapter(StreamScanner):
    transport = "hid"

    def __init__(
        self,
        *,
        station: str,
        device_id: str,
        path: str,
        layout: str,
        submit: Submit,
        max_gap: float = DEFAULT_MAX_GAP,
        reconnect_min: float = 0.2,
        reconnect_max: float = 5.0,
    ) -> None:
        super().__init__(
            station=station,
            device_id=device_id,
            submit=submit,
            reconnect_min=reconnect_min,
            reconnect_max=reconnect_max,
        )
        self.path = path
        self.decoder = HidDecoder(layout_named(layout), max_gap=max_gap)
        self._pending = b""

    def _open(self) -> OpenDevice:
        mode = os.stat(self.path).st_mode
        if stat.S_ISCHR(mode):
            device = evdev.InputDevice(self.path)
            try:
                device.grab()
            except OSError:
                device.close()
                raise

            def release() -> None:
                try:
                    device.ungrab()
                finally:
                    device.close()

            return OpenDevice(fd=device.fd, close=release)
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        return OpenDevice(fd=fd, close=lambda: os.close(fd))

    def _on_open(self, device: OpenDevice) -> bytes:
        self._pending = b""
        # A FIFO with no writer reads as end of file at once: the "scanner" is not plugged in (the
        # simulator holding it open is). Reading now tells the two apart before we say "online".
        return read_available(device.fd) or b""

    def _replay_done(self, device: OpenDevice) -> bool:
        return stat.S_ISREG(os.fstat(device.fd).st_mode)

    def _decode(self, data: bytes) -> list[str]:
        buffer = self._pending + data
        records, used = unpack(buffer)
        self._pending = buffer[used:]
        scans = []
        for key in key_events(records):
            text = self.decoder.feed(key)
            if text is not None:
                scans.append(text)
        return scans

    def _idle_timeout(self) -> float | None:
        return self.decoder.max_gap if self.decoder.pending else None

    def _on_idle(self) -> None:
        # Keys stopped mid-scan for longer than the gap: the rest is not coming.
        self.decoder.expire(math.inf)
