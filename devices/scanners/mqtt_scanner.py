"""MQTT scanners: `floorgate/{site}/scanner/{id}/scan` with `{"id": "...", "data": "..."}` → RecordScan.

The message id makes a QoS 1 redelivery harmless (`scanner:{id}:{msgid}`), and the broker's ack is
handed to the writer so it is given only after the scan is committed. A payload that cannot be read
becomes a device fault; a scanner id no station names becomes an exception via an unknown station. Such a
scanner is never reported online (it is no device of the floor), and the floor folds what it sends into
one exception per kind: anyone on the broker can invent scanner ids. The log says so once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping

from floorgate.core.commands import RecordDeviceFault, RecordScan, ReportDeviceStatus
from floorgate.devices.json_payload import UnreadablePayload, is_text, json_object
from floorgate.devices.mqtt.link import InboundMessage, MqttLink
from floorgate.devices.ports import Submit

logger = logging.getLogger(__name__)

DEVICE_KIND = "scanner"
PAYLOAD_EXCERPT_CHARS = 200


class MalformedScan(ValueError):
    """A scanner payload that is not `{"id": str, "data": str}`."""


def scanner_filter(site: str) -> str:
    return f"floorgate/{site}/scanner/+/scan"


def scanner_topic(site: str, scanner: str) -> str:
    return f"floorgate/{site}/scanner/{scanner}/scan"


def parse_scanner_topic(site: str, topic: str) -> str | None:
    prefix, suffix = f"floorgate/{site}/scanner/", "/scan"
    if not topic.startswith(prefix) or not topic.endswith(suffix):
        return None
    scanner = topic[len(prefix) : -len(suffix)]
    return scanner if scanner and "/" not in scanner else None


def decode_scan(payload: bytes) -> tuple[str, str]:
    """(message id, data) of a scan payload. Raises MalformedScan."""
    try:
        body = json_object(payload)
    except UnreadablePayload as err:
        raise MalformedScan(str(err)) from err
    message_id, data = body.get("id"), body.get("data")
    if not isinstance(message_id, str) or not message_id:
        raise MalformedScan('"id" must be a non-empty string')
    if not isinstance(data, str):
        raise MalformedScan('"data" must be a string')
    for name, text in (("id", message_id), ("data", data)):
        if not is_text(text):
            raise MalformedScan(f'"{name}" is not valid Unicode text: {text!r:.80}')
    return message_id, data


def encode_scan(message_id: str, data: str) -> bytes:
    return json.dumps({"id": message_id, "data": data}).encode()


class MqttScannerAdapter:
    """Every MQTT scanner of the site on one route; `stations` maps each scanner's MQTT id to its station."""

    def __init__(self, link: MqttLink, site: str, stations: Mapping[str, str], submit: Submit) -> None:
        self.name = "scanners-mqtt"
        self._site = site
        self._stations = dict(stations)
        self._submit = submit
        self._seen: set[str] = set()  # of the configured scanners only: bounded by the site file
        self._unknown_logged = False
        self.malformed = 0
        self.unknown = 0
        link.route(scanner_filter(site), self._on_scan)

    async def run(self) -> None:
        # Everything happens in the link's route; this only keeps the adapter's place among the tasks.
        await asyncio.Event().wait()

    async def _on_scan(self, message: InboundMessage) -> None:
        scanner = parse_scanner_topic(self._site, message.topic)
        if scanner is None:
            return
        known = scanner in self._stations
        if not known:
            self.unknown += 1
            if not self._unknown_logged:
                self._unknown_logged = True
                logger.warning(
                    "message from a scanner no station names; such messages fold into one exception "
                    "per kind (said once)",
                    extra={"device": scanner[:64]},
                )
        try:
            message_id, data = decode_scan(message.payload)
        except MalformedScan as err:
            self.malformed += 1
            logger.warning("malformed scanner message", extra={"device": scanner, "reason": str(err)})
            excerpt = message.payload[: PAYLOAD_EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
            await self._submit(
                RecordDeviceFault(
                    device=scanner,
                    kind=DEVICE_KIND,
                    reason=str(err),
                    detail={"topic": message.topic, "payload": excerpt[:PAYLOAD_EXCERPT_CHARS]},
                    unknown=not known,
                ),
                on_commit=message.delivery.take(),
            )
            return
        if known and scanner not in self._seen:
            # MQTT scanners have no status topic: the first scan of a run says the scanner is there.
            self._seen.add(scanner)
            await self._submit(
                ReportDeviceStatus(device=scanner, kind=DEVICE_KIND, online=True, transport="mqtt")
            )
        await self._submit(
            RecordScan(
                message_id=f"scanner:{scanner}:{message_id}",
                station=self._stations.get(scanner, scanner),
                data=data,
                scanner=scanner,
            ),
            on_commit=message.delivery.take(),
        )
