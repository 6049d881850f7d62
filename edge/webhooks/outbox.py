"""The outbox: which endpoints want which events, and the delivery rows written with each event."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from typing import Any

from floorgate.edge.store import EventRecord


@dataclass(frozen=True, kw_only=True, slots=True)
class Endpoint:
    id: str
    url: str
    events: tuple[str, ...] = ("*",)
    secret: str = field(repr=False)
    previous_secret: str | None = field(default=None, repr=False)
    previous_secret_until: float | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    name: str | None = None
    source: str = "api"
    created_at: float = 0.0

    def wants(self, event_type: str) -> bool:
        return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in self.events)

    def secrets_in_use(self, now: float) -> list[str]:
        """The current secret, and the previous one while its overlap lasts (receivers may have either)."""
        keep_previous = self.previous_secret is not None and (
            self.previous_secret_until is None or now < self.previous_secret_until
        )
        return (
            [self.secret, self.previous_secret] if keep_previous and self.previous_secret else [self.secret]
        )

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "name": self.name,
            "events": list(self.events),
            "secret": self.secret,
            "previous_secret": self.previous_secret,
            "previous_secret_until": self.previous_secret_until,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "source": self.source,
            "created_at": self.created_at,
        }

    def public(self) -> dict[str, Any]:
        """What the API shows: never the secrets themselves."""
        return {
            "id": self.id,
            "url": self.url,
            "name": self.name,
            "events": list(self.events),
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "source": self.source,
            "rotating_until": self.previous_secret_until if self.previous_secret else None,
        }

    def with_changes(self, **changes: Any) -> Endpoint:
        return replace(self, **changes)


class EndpointRegistry:
    """The endpoints the writer fans events out to. Changed only on the event loop, between batches."""

    def __init__(self, endpoints: list[Endpoint] | None = None) -> None:
        self._by_id: dict[str, Endpoint] = {e.id: e for e in endpoints or []}

    def all(self) -> list[Endpoint]:
        return list(self._by_id.values())

    def get(self, endpoint_id: str) -> Endpoint | None:
        return self._by_id.get(endpoint_id)

    def put(self, endpoint: Endpoint) -> None:
        self._by_id[endpoint.id] = endpoint

    def delivery_rows(self, records: list[EventRecord], now: float) -> list[dict[str, Any]]:
        """One pending delivery per (endpoint whose filter matches, event): written with the events.

        A disabled endpoint still gets its rows, so nothing is lost while it is off: re-enabling it
        delivers what it missed.
        """
        rows = []
        for endpoint in self._by_id.values():
            for record in records:
                if endpoint.wants(record.type):
                    rows.append(
                        {
                            "endpoint_id": endpoint.id,
                            "event_seq": record.seq,
                            "event_id": record.id,
                            "event_type": record.type,
                            "order_id": record.order_id,
                            "status": "pending",
                            "attempts": 0,
                            "next_attempt_at": now,
                            "last_status_code": None,
                            "last_error": None,
                            "created_at": now,
                            "delivered_at": None,
                        }
                    )
        return rows
