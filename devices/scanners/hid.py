"""HID keyboard-wedge scanner transport: an evdev device (grabbed) or a FIFO/file of input_event records.

A real scanner is `/dev/input/by-id/...-event-kbd`, a character device: it is opened with evdev and
grabbed exclusively so the barcode is not also typed into a console. Anything else at the path (a FIFO
the simulator writes, a recorded capture) carries the same binary `struct input_event` records and is
read the same way. Either way the bytes go through `input_event.unpack` and the `HidDecoder`.

evdev is an optional extra (`floorgate[hid]`: Linux only, built from source), imported only when a real
device is opened, so a FIFO or a recording works without it; `missing_evdev` tells start-up early.
"""

from __future__ import annotations

import errno
import math
import os
import stat

from floorgate.devices.ports import Submit
from floorgate.devices.scanners.hid_decoder import DEFAULT_MAX_GAP, HidDecoder
from floorgate.devices.scanners.input_event import key_events, unpack
from floorgate.devices.scanners.keyboard_layouts import layout_named
from floorgate.devices.scanners.stream_device import OpenDevice, StreamScanner, read_available

EVDEV_MISSING = (
    "reading a USB HID scanner needs the evdev library, which is not installed: "
    'pip install "floorgate[hid]" (it builds from source: install gcc and the Linux kernel headers first)'
)


def needs_evdev(path: str) -> bool:
    """Whether this scanner path is (or will be, once plugged in) a real input device rather than a FIFO/file."""
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except FileNotFoundError:
        return path.startswith("/dev/input/")
    except OSError:
        return True


def missing_evdev(paths: list[str]) -> str | None:
    """The message to stop start-up with when a scanner needs evdev and it is not installed; else None."""
    if not any(needs_evdev(path) for path in paths):
        return None
    try:
        import evdev  # noqa: F401 - whether it imports (its C part built) is the question
    except ImportError:
        pass
    else:
        return None
    return f"{EVDEV_MISSING} (HID scanner at {', '.join(sorted(p for p in paths if needs_evdev(p)))})"


def _permission_hint(path: str, err: OSError) -> OSError:
    """The open's error, saying which path and, for a refusal, that the user needs the `input` group."""
    if err.errno in (errno.EACCES, errno.EPERM):
        return OSError(
            err.errno,
            f"permission denied opening {path}: add the user running FloorGate to the `input` group "
            "(sudo usermod -aG input USER, then log in again) or give it a udev rule",
        )
    return OSError(err.errno, f"{err.strerror or err} ({path})")


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
        try:
            return self._open_path()
        except OSError as err:
            raise _permission_hint(self.path, err) from err

    def _open_path(self) -> OpenDevice:
        mode = os.stat(self.path).st_mode
        if stat.S_ISCHR(mode):
            try:
                import evdev  # the optional [hid] extra: only a real device needs it
            except ImportError as err:
                raise OSError(errno.ENOPKG, EVDEV_MISSING) from err
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
