"""The scanners and scales of the site file's stations, built as device adapters the edge runs.

Each device kind adds its builder to `BUILDERS`; a builder returns the adapters for the stations it
serves (serial ports, evdev devices, MQTT topics), already wired to submit commands to the writer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from devices.mqtt_link import MqttLink
from devices.ptl.adapter import Submit
from edge.config import SiteConfig


class StationDevice(Protocol):
    """A running device adapter: `run()` owns its transport and reconnects by itself until cancelled."""

    name: str

    async def run(self) -> None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class DeviceContext:
    config: SiteConfig
    submit: Submit
    link: MqttLink


Builder = Callable[[DeviceContext], list[StationDevice]]

BUILDERS: list[Builder] = []


def station_devices(context: DeviceContext) -> list[StationDevice]:
    devices: list[StationDevice] = []
    for builder in BUILDERS:
        devices.extend(builder(context))
    return devices
