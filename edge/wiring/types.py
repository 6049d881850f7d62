"""What a station device adapter is to the edge, and what its builder is given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from floorgate.devices.mqtt.link import MqttLink
from floorgate.devices.ptl.adapter import Submit
from floorgate.edge.site import SiteConfig


class StationDevice(Protocol):
    """A running device adapter: `run()` owns its transport and reconnects by itself until cancelled."""

    name: str

    async def run(self) -> None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class DeviceContext:
    config: SiteConfig
    submit: Submit
    link: MqttLink
