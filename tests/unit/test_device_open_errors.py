"""What a scanner or scale that cannot be opened says: the path, and for a refusal the group to join."""

from __future__ import annotations

import errno

import pytest

from floorgate.devices.scales import serial_scale
from floorgate.devices.scanners import hid, serial_scanner

pytestmark = pytest.mark.unit


def test_a_hid_device_refused_names_the_path_and_the_input_group() -> None:
    said = hid._permission_hint("/dev/input/event7", PermissionError(errno.EACCES, "Permission denied"))
    assert "/dev/input/event7" in str(said.strerror)
    assert "`input` group" in str(said.strerror)


def test_a_missing_hid_device_names_the_path_without_the_group_hint() -> None:
    said = hid._permission_hint("/dev/input/event7", FileNotFoundError(errno.ENOENT, "No such file"))
    assert "/dev/input/event7" in str(said.strerror)
    assert "group" not in str(said.strerror)


@pytest.mark.parametrize("describe", [serial_scanner._open_error, serial_scale._open_error])
def test_a_serial_port_refused_names_the_port_and_the_dialout_group(describe: object) -> None:
    assert callable(describe)
    refused = describe("/dev/ttyUSB0", OSError(errno.EACCES, "Permission denied"))
    assert "/dev/ttyUSB0" in refused
    assert "`dialout` group" in refused
    absent = describe("/dev/ttyUSB0", OSError(errno.ENOENT, "No such file or directory"))
    assert absent == "cannot open /dev/ttyUSB0: [Errno 2] No such file or directory"
