"""MQTT connection settings: where a broker is and how to log in, parsed from an `mqtt://` or `mqtts://` URL.

The edge's own client, the site file, the simulators and the bench all name a broker this way, and build
their TLS context from the same files.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

_SCHEMES = {"mqtt": (1883, False), "tcp": (1883, False), "mqtts": (8883, True), "ssl": (8883, True)}


class InvalidMqttUrl(ValueError):
    """An MQTT URL that cannot be used, with the reason."""


class InvalidTlsFiles(ValueError):
    """A CA, certificate or key file that TLS cannot use, with the file and the reason."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TlsFiles:
    """What a TLS connection trusts and shows: the CA that signed the broker's certificate (None: the system's
    CAs) and the client's own certificate and key (a broker with `require_certificate true` asks for them)."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def context(self) -> ssl.SSLContext:
        """A client context that checks the broker's certificate and host name. Raises `InvalidTlsFiles`."""
        if (self.cert_file is None) != (self.key_file is None):
            raise InvalidTlsFiles("a client certificate needs both cert_file and key_file")
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as err:
            raise InvalidTlsFiles(f"cannot use {self.ca_file} as a CA file: {_reason(err)}") from err
        if self.cert_file is not None:
            try:
                context.load_cert_chain(self.cert_file, self.key_file)
            except (OSError, ssl.SSLError) as err:
                raise InvalidTlsFiles(
                    f"cannot use {self.cert_file} with the key {self.key_file}: {_reason(err)}"
                ) from err
        return context


def _reason(err: OSError | ssl.SSLError) -> str:
    # ssl's messages ("[SSL] PEM lib (_ssl.c:3900)") say little; its reason ("PEM_LIB", "KEY_VALUES_MISMATCH") more.
    reason = getattr(err, "reason", None)
    if isinstance(err, ssl.SSLError) and reason:
        return (
            f"{str(reason).lower().replace('_', ' ')} (not a PEM file, or the key is not the certificate's)"
        )
    return err.strerror or str(err)


@dataclass(frozen=True, kw_only=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in logs or tracebacks
    tls_files: TlsFiles = field(default_factory=TlsFiles)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        tls_files: TlsFiles | None = None,
    ) -> MqttEndpoint:
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
            tls_files=tls_files or TlsFiles(),
        )

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of an `mqtts://` endpoint (None for `mqtt://`). Raises `InvalidTlsFiles`."""
        return self.tls_files.context() if self.tls else None

    @property
    def url(self) -> str:
        """The URL without credentials: safe to log."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"
