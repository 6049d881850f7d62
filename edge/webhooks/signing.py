"""Standard Webhooks signing: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<b64 HMAC-SHA256>`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret


class BadSecret(ValueError):
    """A webhook secret that is not `whsec_` followed by base64."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_key(secret: str) -> bytes:
    body = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(body + "==", validate=False)
    except (binascii.Error, ValueError) as err:
        raise BadSecret("a webhook secret must be whsec_ followed by base64") from err
    if not key:
        raise BadSecret("a webhook secret must not be empty")
    return key


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    to_sign = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets_in_use: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Headers for one delivery; during a secret rotation every secret in use signs it (space-separated)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, msg_id, timestamp, body) for s in secrets_in_use),
        "content-type": "application/json",
    }
