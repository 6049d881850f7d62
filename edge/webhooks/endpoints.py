"""Webhook endpoints as integrators manage them: from the site file and the API, saved, applied live."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from floorgate.edge.site import SiteConfig
from floorgate.edge.webhooks.deliveries import FAILED, DeliveryStore, parse_delivery_id
from floorgate.edge.webhooks.outbox import Endpoint, EndpointRegistry
from floorgate.edge.webhooks.relay import WebhookRelay
from floorgate.edge.webhooks.signing import BadSecret, new_secret, secret_key


class WebhookProblem(ValueError):
    """A request about webhooks that cannot be done as asked; the message says why."""

    def __init__(self, message: str, *, field: str | None = None, not_found: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.not_found = not_found


def site_endpoint_id(name: str | None, url: str) -> str:
    return name or "site-" + hashlib.sha256(url.encode()).hexdigest()[:10]


def check_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port
    except ValueError as err:  # a bad IPv6 literal or port: urllib says which
        raise WebhookProblem(f"url is not a URL: {err}", field="url") from err
    if parts.scheme not in {"http", "https"} or not host:
        raise WebhookProblem("url must be an http:// or https:// URL with a host", field="url")
    return url


def check_secret(secret: str) -> str:
    if not secret.startswith("whsec_"):
        raise WebhookProblem("secret must start with whsec_", field="secret")
    try:
        secret_key(secret)
    except BadSecret as err:
        raise WebhookProblem(str(err), field="secret") from err
    return secret


class WebhookService:
    def __init__(
        self,
        *,
        registry: EndpointRegistry,
        deliveries: DeliveryStore,
        relay: WebhookRelay,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.deliveries = deliveries
        self.relay = relay
        self._clock = clock

    @staticmethod
    def load(deliveries: DeliveryStore, config: SiteConfig, now: float) -> list[Endpoint]:
        """Saved endpoints, with the site file's endpoints applied over them (the file wins on what it says)."""
        saved = {e.id: e for e in deliveries.endpoints()}
        for spec in config.webhooks:
            endpoint_id = site_endpoint_id(spec.name, spec.url)
            secret = spec.secret.get_secret_value()
            existing = saved.get(endpoint_id)
            if existing is None:
                endpoint = Endpoint(
                    id=endpoint_id,
                    url=spec.url,
                    events=tuple(spec.events),
                    secret=secret,
                    name=spec.name,
                    source="site",
                    created_at=now,
                )
            else:
                endpoint = existing.with_changes(
                    url=spec.url, events=tuple(spec.events), secret=secret, source="site"
                )
            if endpoint != existing:
                deliveries.save_endpoint(endpoint)
            saved[endpoint_id] = endpoint
        return list(saved.values())

    async def _save(self, endpoint: Endpoint) -> Endpoint:
        await asyncio.to_thread(self.deliveries.save_endpoint, endpoint)
        self.registry.put(endpoint)
        self.relay.wake()
        return endpoint

    def _get(self, endpoint_id: str) -> Endpoint:
        endpoint = self.registry.get(endpoint_id)
        if endpoint is None:
            raise WebhookProblem(f"no webhook endpoint {endpoint_id!r}", not_found=True)
        return endpoint

    async def create(
        self, *, url: str, events: list[str], secret: str | None, name: str | None
    ) -> tuple[Endpoint, str]:
        """A new endpoint; the answer carries its secret, which is never shown again."""
        endpoint_id = name or "ep_" + secrets.token_hex(6)
        if self.registry.get(endpoint_id) is not None:
            raise WebhookProblem(f"an endpoint named {endpoint_id!r} exists already", field="name")
        chosen = check_secret(secret) if secret else new_secret()
        endpoint = Endpoint(
            id=endpoint_id,
            url=check_url(url),
            events=tuple(events),
            secret=chosen,
            name=name,
            created_at=self._clock(),
        )
        return await self._save(endpoint), chosen

    async def update(
        self,
        endpoint_id: str,
        *,
        url: str | None = None,
        events: list[str] | None = None,
        enabled: bool | None = None,
    ) -> Endpoint:
        endpoint = self._get(endpoint_id)
        changes: dict[str, Any] = {}
        if url is not None:
            changes["url"] = check_url(url)
        if events is not None:
            changes["events"] = tuple(events)
        if enabled is not None:
            changes["enabled"] = enabled
            if enabled:
                changes["disabled_reason"] = None
            elif not endpoint.disabled_reason:
                changes["disabled_reason"] = "disabled through the API"
        return await self._save(endpoint.with_changes(**changes))

    async def rotate(
        self, endpoint_id: str, *, overlap_seconds: float, secret: str | None
    ) -> tuple[Endpoint, str]:
        """A new secret; the old one keeps signing alongside it until the overlap ends."""
        endpoint = self._get(endpoint_id)
        chosen = check_secret(secret) if secret else new_secret()
        rotated = endpoint.with_changes(
            secret=chosen,
            previous_secret=endpoint.secret,
            previous_secret_until=self._clock() + overlap_seconds,
        )
        return await self._save(rotated), chosen

    async def replay_one(self, delivery: str) -> int:
        key = parse_delivery_id(delivery)
        if key is None:
            raise WebhookProblem(f"{delivery!r} is not a delivery id (endpoint.seq)", not_found=True)
        count = await asyncio.to_thread(self.deliveries.replay, [key], self._clock())
        if not count:
            raise WebhookProblem(f"no delivery {delivery!r}", not_found=True)
        self.relay.wake()
        return count

    async def replay_failed(self, endpoint_id: str | None) -> int:
        keys = await asyncio.to_thread(self.deliveries.keys, status=FAILED, endpoint_id=endpoint_id)
        count = await asyncio.to_thread(self.deliveries.replay, keys, self._clock())
        self.relay.wake()
        return count

    def metrics(self) -> dict[str, float]:
        stats = self.relay.stats
        return {
            "floorgate_webhook_delivered_total": stats.delivered,
            "floorgate_webhook_attempts_failed_total": stats.attempts_failed,
            "floorgate_webhook_failed_total": stats.failed,
            "floorgate_webhook_throttled_total": stats.throttled,
            "floorgate_webhook_endpoints_gone_total": stats.gone,
            "floorgate_webhook_endpoints_enabled": sum(1 for e in self.registry.all() if e.enabled),
        }

    async def backlog(self) -> dict[str, float]:
        stats = await asyncio.to_thread(self.deliveries.stats)
        counts = stats["counts"]
        oldest = stats["oldest_pending_created_at"]
        return {
            "floorgate_webhook_backlog": counts.get("pending", 0),
            "floorgate_webhook_deliveries_failed": counts.get("failed", 0),
            "floorgate_webhook_deliveries_delivered": counts.get("delivered", 0),
            "floorgate_webhook_oldest_pending_age_seconds": round(self._clock() - oldest, 3)
            if oldest
            else 0.0,
        }
