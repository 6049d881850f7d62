"""What the web layer needs from the running edge, handed to the app factory (nothing global)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from floorgate.web.ports import Commands, FloorReads, Health, Records, Webhooks
from floorgate.web.roles import Role
from floorgate.web.stream import StreamHub


@dataclass(frozen=True, kw_only=True)
class WebContext:
    site_id: str
    edge_id: str
    tokens: Mapping[str, Role]
    hub: StreamHub
    floor: FloorReads
    records: Records
    commands: Commands
    health: Health
    # None on an edge that runs no webhook relay: its routes answer 503.
    webhooks: Webhooks | None = None
    # module -> {"seq", "attempts", "age_s"}: light commands still waiting for an ack
    pending_commands: Callable[[], Mapping[str, Mapping[str, Any]]] = dict
    started_at: float = 0.0
    # token -> its name in the site file (`[[tokens]] name`), for the tokens that have one
    token_names: Mapping[str, str] = field(default_factory=dict)
