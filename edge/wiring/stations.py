"""The scanners and scales of the site file's stations, built as device adapters the edge runs."""

from __future__ import annotations

from collections.abc import Callable

from floorgate.devices.ports import StationDevice
from floorgate.edge.wiring.scales import scale_devices
from floorgate.edge.wiring.scanners import scanner_devices
from floorgate.edge.wiring.types import DeviceContext

Builder = Callable[[DeviceContext], list[StationDevice]]

# One builder per device kind: each returns the adapters for the stations it serves.
BUILDERS: tuple[Builder, ...] = (scanner_devices, scale_devices)


def station_devices(context: DeviceContext) -> list[StationDevice]:
    devices: list[StationDevice] = []
    for builder in BUILDERS:
        devices.extend(builder(context))
    return devices
