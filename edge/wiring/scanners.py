"""Builds the scanner adapters the site file's stations and put walls name: serial ports, HID devices and
MQTT scanners. A wall's scanner reads for the station of the wall's id."""

from __future__ import annotations

from floorgate.devices.ports import StationDevice
from floorgate.devices.scanners.hid import HidScannerAdapter
from floorgate.devices.scanners.mqtt_scanner import MqttScannerAdapter
from floorgate.devices.scanners.serial_framing import SerialFraming
from floorgate.devices.scanners.serial_scanner import SerialScannerAdapter
from floorgate.edge.site import HidScanner, MqttDevice, SerialScanner, StationSpec, WallSpec
from floorgate.edge.wiring.types import DeviceContext


def scanner_device_id(station: str) -> str:
    """The id a serial or HID scanner has in GET /devices and events (MQTT scanners use their MQTT id)."""
    return f"{station}-scanner"


def scanner_devices(context: DeviceContext) -> list[StationDevice]:
    devices: list[StationDevice] = []
    mqtt_stations: dict[str, str] = {}
    config = context.config
    scanning: tuple[StationSpec | WallSpec, ...] = (*config.owned_stations(), *config.owned_walls())
    for station in scanning:
        spec = station.scanner
        if spec is None:
            continue
        if isinstance(spec, SerialScanner):
            devices.append(
                SerialScannerAdapter(
                    station=station.id,
                    device_id=scanner_device_id(station.id),
                    port=spec.port,
                    baud=spec.baud,
                    framing=SerialFraming(suffix=spec.suffix.encode(), prefix=spec.prefix.encode()),
                    submit=context.submit,
                )
            )
        elif isinstance(spec, HidScanner):
            devices.append(
                HidScannerAdapter(
                    station=station.id,
                    device_id=scanner_device_id(station.id),
                    path=spec.device,
                    layout=spec.layout,
                    max_gap=spec.max_gap_ms / 1000,
                    submit=context.submit,
                )
            )
        elif isinstance(spec, MqttDevice):
            mqtt_stations[spec.id] = station.id
    if mqtt_stations:
        devices.append(
            MqttScannerAdapter(context.link, context.config.site.id, mqtt_stations, context.submit)
        )
    return devices
