"""What a station device builder is given: the site, the writer's queue and the shared MQTT link."""

from __future__ import annotations

from dataclasses import dataclass

from floorgate.devices.mqtt.link import MqttLink
from floorgate.devices.ports import Submit
from floorgate.edge.site import SiteConfig


@dataclass(frozen=True, kw_only=True, slots=True)
class DeviceContext:
    config: SiteConfig
    submit: Submit
    link: MqttLink
