"""MQTT connection settings: where a broker is and how to log in, parsed from an `mqtt://` or `mqtts://` URL.

The edge's own client, the site file, the simulators and the bench all name a broker this way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

_SCHEMES = {"mqtt": (1883, False), "tcp": (1883, False), "mqtts": (8883, True), "ssl": (8883, True)}


class InvalidMqttUrl(ValueError):
    """An MQTT URL that cannot be used, with the reason."""


@dataclass(frozen=True, kw_only=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in logs or tracebacks

    @classmethod
    def from_url(cls, url: str, *, username: str | None = None, password: str | None = None) -> MqttEndpoint:
        """Parse `mqtt://host:port` or `mqtts://host:port` (TLS); explicit credentials win over the URL's."""
        parts = urlsplit(url)
        if parts.scheme not in _SCHEMES:
            raise InvalidMqttUrl(
                f"MQTT URL {url!r} must start with mqtt:// or mqtts://, not {parts.scheme or 'nothing'}"
            )
        if not parts.hostname:
            raise InvalidMqttUrl(f"MQTT URL {url!r} has no host")
        default_port, tls = _SCHEMES[parts.scheme]
        user = username or (unquote(parts.username) if parts.username else None)
        secret = password or (unquote(parts.password) if parts.password else None)
        if secret is not None and not user:
            raise InvalidMqttUrl(f"MQTT URL {parts.hostname!r}: a password needs a user name (MQTT 3.1.1)")
        try:
            port = parts.port or default_port
        except ValueError as err:
            raise InvalidMqttUrl(f"MQTT URL {url!r} has a bad port") from err
        return cls(
            host=parts.hostname,
            port=port,
            tls=tls,
            username=user,
            password=secret,
        )

    @property
    def url(self) -> str:
        """The URL without credentials: safe to log."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"
