"""The site file's `[[webhooks]]` endpoints and `[webhook_delivery]`: where facts go, which, and how retried."""

from __future__ import annotations

import difflib
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, ValidationInfo, field_validator, model_validator

from floorgate.core.events import Event
from floorgate.edge.site.fields import (
    Array,
    EnvName,
    Name,
    check_secret,
    check_secret_env,
    secret_from_env,
    webhook_secret_problem,
)
from floorgate.edge.site.quoting import redact_url, shorten
from floorgate.edge.site.section import Section

# The event types of the external contract; those defined in core/events.py are added to them.
_CONTRACT_EVENT_TYPES = frozenset(
    {
        "order.received",
        "order.started",
        "pick.confirmed",
        "pick.short",
        "pick.rejected",
        "order.picked",
        "pack.verified",
        "pack.rejected",
        "pack.overridden",
        "inventory.adjusted",
        "device.offline",
        "device.online",
        "exception.raised",
    }
)


def _known_event_types() -> frozenset[str]:
    found = set(_CONTRACT_EVENT_TYPES)
    pending: list[type[Event]] = list(Event.__subclasses__())
    while pending:
        event_class = pending.pop()
        pending.extend(event_class.__subclasses__())
        if event_class.TYPE:
            found.add(event_class.TYPE)
    return frozenset(found)


def _check_event_pattern(value: str) -> str:
    if value == "*":
        return value
    known = _known_event_types()
    if value.endswith(".*"):
        groups = sorted({event_type.partition(".")[0] for event_type in known})
        if value[:-2] in groups:
            return value
        listed = ", ".join(f"{group}.*" for group in groups)
        raise ValueError(f"unknown event group {shorten(value)!r}; known groups: {listed}")
    if value in known:
        return value
    close = difflib.get_close_matches(value, sorted(known), n=1)
    hint = (
        f"; did you mean {close[0]!r}?"
        if close
        else "; use '*', a group such as 'pick.*', or an event type such as 'pack.verified'"
    )
    raise ValueError(f"unknown event type {shorten(value)!r}{hint}")


def _check_http_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        usable = parts.scheme in {"http", "https"} and bool(parts.hostname)
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError:
        usable = False
    if not usable:
        shown = shorten(redact_url(value))
        raise ValueError(f"must be an http:// or https:// URL (got {shown!r})")
    return value


class WebhookSpec(Section):
    url: Annotated[str, AfterValidator(_check_http_url)]
    secret: SecretStr
    secret_env: EnvName | None = None
    events: Array[Annotated[str, AfterValidator(_check_event_pattern)]] = ("*",)
    """Patterns: "*", a group such as "pick.*", or an event type such as "pack.verified"."""
    name: Name | None = None

    @model_validator(mode="before")
    @classmethod
    def _secret_from_env(cls, data: object, info: ValidationInfo) -> object:
        return secret_from_env(data, info, field="secret", problem_of=webhook_secret_problem)

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr) -> SecretStr:
        return check_secret(value, webhook_secret_problem)

    @field_validator("secret_env")
    @classmethod
    def _check_secret_env(cls, value: str, info: ValidationInfo) -> str:
        return check_secret_env(value, info, webhook_secret_problem)

    @field_validator("events")
    @classmethod
    def _check_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError('must list at least one pattern, e.g. ["*"]')
        return value

    def wants(self, event_type: str) -> bool:
        """Whether an event of this type is delivered to this endpoint."""
        return any(
            pattern == "*"
            or pattern == event_type
            or (pattern.endswith(".*") and event_type.startswith(pattern[:-1]))
            for pattern in self.events
        )


class WebhookDeliverySettings(Section):
    """How the relay retries a delivery its receiver did not take; the same for every endpoint."""

    max_attempts: int = Field(default=16, ge=1, le=10_000)
    """Attempts before a delivery is `failed` (listed by the API and replayable). The defaults make
    16 attempts over about five hours."""
    retry_base_s: float = Field(default=1.0, gt=0, le=3600, allow_inf_nan=False)
    """The wait after the first failed attempt; each later wait is twice the one before, with jitter."""
    retry_max_s: float = Field(default=3600.0, gt=0, le=86_400, allow_inf_nan=False)
    """The longest wait between two attempts."""
    timeout_s: float = Field(default=10.0, gt=0, le=300, allow_inf_nan=False)
    """A receiver that has not answered within this long has failed the attempt."""

    @model_validator(mode="after")
    def _max_not_below_base(self) -> WebhookDeliverySettings:
        if self.retry_max_s < self.retry_base_s:
            raise ValueError(
                f"retry_max_s ({self.retry_max_s:g}) must not be below retry_base_s ({self.retry_base_s:g})"
            )
        return self
