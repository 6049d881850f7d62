"""What the web layer needs from the running edge, handed to the app factory (nothing global)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from floorgate.edge.store import Store
from floorgate.edge.webhooks.endpoints import WebhookService
from floorgate.edge.writer import Writer
from floorgate.web.roles import Role
from floorgate.web.stream import StreamHub


@dataclass(kw_only=True)
class WebContext:
    site_id: str
    edge_id: str
    writer: Writer
    store: Store
    tokens: Mapping[str, Role]
    hub: StreamHub
    # module -> {"seq", "attempts", "age_s"}: light commands still waiting for an ack
    pending_commands: Callable[[], Mapping[str, Mapping[str, Any]]] = dict
    # extra gauges/counters (MQTT, relays) for /metrics, name -> value
    extra_metrics: Callable[[], Mapping[str, float]] = dict
    started_at: float = 0.0
    mqtt_connected: Callable[[], bool] = lambda: True
    webhooks: WebhookService | None = None
    extra: dict[str, Any] = field(default_factory=dict)
