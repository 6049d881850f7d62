"""Builds the scale adapters of the site file's pack stations (serial ports and MQTT scales).

`stations.station_devices` lists `scale_devices` among the builders the edge runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

from floorgate.devices.ports import StationDevice
from floorgate.devices.scales.mqtt_scale import MqttScaleAdapter
from floorgate.devices.scales.serial_scale import SerialScaleAdapter
from floorgate.devices.scales.stability import StabilityMode, StabilityPolicy
from floorgate.edge.site import MqttScale, SerialScale, StationSpec
from floorgate.edge.wiring.types import DeviceContext

# How each protocol's motion flag is trusted by default. All three report motion honestly on the scales
# we know; a station whose scale lies gets `flag+time` or `time` (see devices/scales/stability.py).
STABILITY_BY_PROTOCOL: Mapping[str, StabilityPolicy] = MappingProxyType(
    {
        "mt-sics": StabilityPolicy(mode=StabilityMode.FLAG),
        "toledo-continuous": StabilityPolicy(mode=StabilityMode.FLAG),
        "nci": StabilityPolicy(mode=StabilityMode.FLAG),
    }
)
MQTT_STABILITY = StabilityPolicy(mode=StabilityMode.FLAG)
# The site file's `checksum` for Toledo continuous output → the adapter's: None learns it from the stream.
TOLEDO_CHECKSUM: Mapping[str, bool | None] = MappingProxyType({"on": True, "off": False, "auto": None})
# How often a polled scale is asked for a weight when the site file does not say.
DEFAULT_POLL_INTERVAL_S = 0.2


def stability_policy(scale: SerialScale | MqttScale, default: StabilityPolicy) -> StabilityPolicy:
    """The station's stability policy: what its site file sets, the protocol's default for the rest."""
    return dataclasses.replace(
        default,
        mode=StabilityMode(scale.stability) if scale.stability is not None else default.mode,
        settle_s=scale.settle_s if scale.settle_s is not None else default.settle_s,
    )


def serial_scale_id(station: StationSpec) -> str:
    """The device id of a station's serial scale, as /devices and exceptions show it."""
    return f"{station.id}-scale"


def scale_devices(context: DeviceContext) -> list[StationDevice]:
    config = context.config
    devices: list[StationDevice] = []
    mqtt_scales: dict[str, str] = {}
    mqtt_policies: dict[str, StabilityPolicy] = {}
    for station in config.owned_stations():
        scale = station.scale
        if scale is None:
            continue
        if isinstance(scale, SerialScale):
            devices.append(
                SerialScaleAdapter(
                    station=station.id,
                    device=serial_scale_id(station),
                    port=scale.port,
                    baud=scale.baud,
                    protocol=scale.protocol,
                    submit=context.submit,
                    poll_interval=scale.poll_interval_s or DEFAULT_POLL_INTERVAL_S,
                    stability=stability_policy(scale, STABILITY_BY_PROTOCOL[scale.protocol]),
                    checksum=TOLEDO_CHECKSUM[scale.checksum],
                )
            )
        elif isinstance(scale, MqttScale):
            mqtt_scales[scale.id] = station.id
            mqtt_policies[scale.id] = stability_policy(scale, MQTT_STABILITY)
    if mqtt_scales:
        devices.append(
            MqttScaleAdapter(
                context.link,
                config.site.id,
                context.submit,
                mqtt_scales,
                stability=mqtt_policies,
            )
        )
    return devices
