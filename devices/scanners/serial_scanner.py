"""Serial scanner transport (pyserial): a port, its baud and framing; reconnects when the port vanishes.

pyserial opens and configures the port (raw mode, baud, exclusive lock); the bytes are read from its
descriptor by the shared stream loop, so the event loop waits on the port instead of a reader thread.
A USB serial scanner unplugged (or a pty whose other end closed) fails its reads with EIO/ENODEV or
reads end of file; the loop reports it offline and reopens the same path, which is why the site file
should name a stable path (/dev/serial/by-id/...).
"""

from __future__ import annotations

import errno
import logging
import termios

import serial

from floorgate.devices.ports import Submit
from floorgate.devices.scanners.serial_framing import Garbage, Scan, SerialFramer, SerialFraming
from floorgate.devices.scanners.stream_device import OpenDevice, StreamScanner

logger = logging.getLogger(__name__)


def _open_error(port: str, err: BaseException) -> str:
    """Why a serial port did not open; a refusal says the user needs the `dialout` group."""
    if getattr(err, "errno", None) in (errno.EACCES, errno.EPERM) or "Permission denied" in str(err):
        return (
            f"permission denied opening {port}: add the user running FloorGate to the `dialout` group "
            "(sudo usermod -aG dialout USER, then log in again)"
        )
    return f"cannot open {port}: {err}"


class SerialScannerAdapter(StreamScanner):
    transport = "serial"

    def __init__(
        self,
        *,
        station: str,
        device_id: str,
        port: str,
        baud: int,
        framing: SerialFraming,
        submit: Submit,
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
        self.port = port
        self.baud = baud
        self.framer = SerialFramer(framing)

    def _open(self) -> OpenDevice:
        try:
            port = serial.Serial(port=self.port, baudrate=self.baud, timeout=0, exclusive=True)
        except serial.SerialException as err:
            raise OSError(err.errno, _open_error(self.port, err)) from err
        fd = port.fileno()
        try:
            # pyserial's timeout=0 sets VMIN=0/VTIME=0, where "no bytes yet" reads as 0 bytes, the same as
            # end of file. VMIN=1 on the non-blocking descriptor makes "no bytes yet" EAGAIN instead, so a
            # 0-byte read means the device really went away.
            attrs = termios.tcgetattr(fd)
            attrs[6][termios.VMIN] = 1
            attrs[6][termios.VTIME] = 0
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        except termios.error as err:
            port.close()
            raise OSError(f"cannot configure {self.port}: {err}") from err
        return OpenDevice(fd=fd, close=port.close)

    def _on_open(self, device: OpenDevice) -> bytes:
        self.framer.reset()
        return b""

    def _decode(self, data: bytes) -> list[str]:
        scans = []
        for frame in self.framer.feed(data):
            if isinstance(frame, Scan):
                scans.append(frame.text)
            elif isinstance(frame, Garbage):
                logger.warning(
                    "serial scanner sent something that is not a code",
                    extra={"device": self.device_id, "reason": frame.reason, "bytes": frame.data[:64].hex()},
                )
        return scans
