"""A fake of the edge's MQTT link for adapters driven in-process: the real `MqttLink`, never connected,
keeping the handler each adapter registers by topic filter so a test can hand it messages directly."""

from __future__ import annotations

from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.mqtt.link import MessageHandler, MqttLink


class RecordingLink(MqttLink):
    """The real link class, never connected: it keeps the handlers the adapters register, by topic filter."""

    def __init__(self, site: str) -> None:
        super().__init__(MqttEndpoint.from_url("mqtt://127.0.0.1:1"), site, "edge-1")
        self.handlers: dict[str, MessageHandler] = {}

    def route(self, topic_filter: str, handler: MessageHandler) -> None:
        self.handlers[topic_filter] = handler
