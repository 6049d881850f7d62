"""Reading a device's JSON payload: a JSON object of text the store can hold, or a reason it is not (pure).

`json.loads` fails on device bytes in more ways than JSONDecodeError: ValueError for an integer of more than
4300 digits, RecursionError for deep nesting. And it accepts "\\ud800", a lone surrogate, which no UTF-8
store can hold: an id carrying one would make every commit of its batch fail. The MQTT codecs read through
here and turn `UnreadablePayload` into their own documented error.
"""

from __future__ import annotations

import json
from typing import Any


class UnreadablePayload(ValueError):
    """A payload that is not a JSON object; the message says why."""


def json_object(payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise UnreadablePayload(f"not JSON: {str(err)[:200]}") from err
    if not isinstance(value, dict):
        raise UnreadablePayload(f"expected a JSON object, got {type(value).__name__}")
    return value


def is_text(value: str) -> bool:
    """Whether `value` is Unicode text UTF-8 can encode (no lone surrogate from a "\\ud800" escape)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
