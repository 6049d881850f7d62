"""MQTT scale adapter: `floorgate/{site}/scale/{id}/weight` messages in as `RecordWeight` commands.

Payload (contract): `{"id": "…", "grams": 1234.5, "stable": true}`; an optional `"condition"` of
`ok | overload | underload | error` is accepted as an extension (`grams` may then be null). The message
is acknowledged to the broker only after its command is committed (`delivery.take()`), and its `id` makes
a QoS 1 redelivery harmless. A payload that cannot be understood becomes a `RecordDeviceFault`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from floorgate.core.commands import RecordDeviceFault, RecordWeight, ScaleCondition
from floorgate.devices.json_payload import UnreadablePayload, is_text, json_object
from floorgate.devices.mqtt.link import InboundMessage, MqttLink
from floorgate.devices.ports import Submit
from floorgate.devices.scales.stability import StabilityDetector, StabilityPolicy

logger = logging.getLogger(__name__)

DEVICE_KIND = "scale"
MAX_ID_CHARS = 128
PAYLOAD_EXCERPT_CHARS = 200


class MalformedWeight(ValueError):
    """A scale payload that is not the contract's shape."""


@dataclass(frozen=True, kw_only=True, slots=True)
class WeightMessage:
    id: str
    grams: Decimal | None
    stable: bool
    condition: ScaleCondition


def weight_topic(site: str, scale: str) -> str:
    return f"floorgate/{site}/scale/{scale}/weight"


def weight_filter(site: str) -> str:
    return f"floorgate/{site}/scale/+/weight"


def decode_weight(payload: bytes) -> WeightMessage:
    try:
        data = json_object(payload)
    except UnreadablePayload as err:
        raise MalformedWeight(str(err)) from err
    message_id = data.get("id")
    if not isinstance(message_id, str) or not 0 < len(message_id) <= MAX_ID_CHARS:
        raise MalformedWeight("`id` must be a non-empty string")
    if not is_text(message_id):
        raise MalformedWeight(f"`id` is not valid Unicode text: {message_id!r:.80}")
    try:
        condition = ScaleCondition(data.get("condition", "ok"))
    except ValueError as err:
        raise MalformedWeight(f"unknown condition {data.get('condition')!r:.80}") from err
    stable = data.get("stable", False)
    if not isinstance(stable, bool):
        raise MalformedWeight("`stable` must be true or false")
    raw = data.get("grams")
    if raw is None and condition is not ScaleCondition.OK:
        return WeightMessage(id=message_id, grams=None, stable=False, condition=condition)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise MalformedWeight("`grams` must be a number")
    grams = Decimal(str(raw))
    if not grams.is_finite() or abs(grams) > Decimal(10) ** 9:
        raise MalformedWeight("`grams` is out of range")
    return WeightMessage(id=message_id, grams=grams, stable=stable, condition=condition)


def encode_weight(
    message_id: str, grams: float | None, *, stable: bool, condition: ScaleCondition = ScaleCondition.OK
) -> bytes:
    body: dict[str, object] = {"id": message_id, "grams": grams, "stable": stable}
    if condition is not ScaleCondition.OK:
        body["condition"] = condition.value
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(slots=True)
class MqttScaleStats:
    received: int = 0
    malformed: int = 0
    unknown: int = 0


class MqttScaleAdapter:
    """Every MQTT scale of an edge, by scale id → station. Build before the link runs; run `run()`."""

    def __init__(
        self,
        link: MqttLink,
        site: str,
        submit: Submit,
        stations: Mapping[str, str],
        *,
        stability: Mapping[str, StabilityPolicy] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = "scales-mqtt"
        self._site = site
        self._submit = submit
        self._stations = dict(stations)
        policies = stability or {}
        self._detectors = {scale: StabilityDetector(policies.get(scale)) for scale in self._stations}
        self._clock = clock
        self._stats = MqttScaleStats()
        self._prefix = f"floorgate/{site}/scale/"
        link.route(weight_filter(site), self._on_weight)

    @property
    def stats(self) -> MqttScaleStats:
        return replace(self._stats)

    async def run(self) -> None:
        # Messages arrive through the link's routes; there is nothing to poll. Living as a task keeps the
        # adapter's lifetime the same as every other station device's.
        await asyncio.Event().wait()

    async def _on_weight(self, message: InboundMessage) -> None:
        self._stats.received += 1
        scale = message.topic.removeprefix(self._prefix).removesuffix("/weight")
        station = self._stations.get(scale)
        if station is None:
            # Anyone on the broker can invent scale ids: counted (`stats.unknown`), said once, dropped.
            self._stats.unknown += 1
            if self._stats.unknown == 1:
                logger.warning(
                    "weight from a scale no station has; such weights are counted and dropped (said once)",
                    extra={"device": scale[:64]},
                )
            return
        try:
            weight = decode_weight(message.payload)
        except MalformedWeight as err:
            self._stats.malformed += 1
            logger.warning("malformed scale message", extra={"device": scale, "reason": str(err)})
            excerpt = message.payload[: PAYLOAD_EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
            await self._submit(
                RecordDeviceFault(
                    device=scale,
                    kind=DEVICE_KIND,
                    reason=str(err),
                    detail={"topic": message.topic, "payload": excerpt[:PAYLOAD_EXCERPT_CHARS]},
                ),
                on_commit=message.delivery.take(),
            )
            return
        stable = self._detectors[scale].observe(weight.grams, weight.stable, self._clock())
        await self._submit(
            RecordWeight(
                message_id=f"scale:{scale}:{weight.id}",
                station=station,
                grams=float(weight.grams) if weight.grams is not None else 0.0,
                stable=stable,
                condition=weight.condition,
                scale=scale,
            ),
            on_commit=message.delivery.take(),
        )
