"""The PTL module wire protocol on MQTT: topics and JSON payloads, as pure functions.

Topics (prefix `floorgate/{site}/`):
  ptl/{module}/cmd     edge → module, QoS 1, retained   {"seq", "color", "blink", "display"}
                                                        | {"seq", "off": true}
  ptl/{module}/event   module → edge, QoS 1             {"id", "button", "display"}
  ptl/{module}/ack     module → edge                    {"seq"}
  ptl/{module}/status  module, retained, its will       online | offline
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from floorgate.core.commands import Button
from floorgate.core.instructions import Blink, ClearBin, Instruction, LightBin
from floorgate.devices.json_payload import UnreadablePayload, is_text, json_object


class PtlTopic(StrEnum):
    CMD = "cmd"
    EVENT = "event"
    ACK = "ack"
    STATUS = "status"


class MalformedPayload(ValueError):
    """A payload that is not what the protocol says; the message names what was wrong."""


def topic_prefix(site: str) -> str:
    return f"floorgate/{site}/"


def ptl_topic(site: str, module: str, kind: PtlTopic) -> str:
    return f"floorgate/{site}/ptl/{module}/{kind.value}"


def ptl_filter(site: str, kind: PtlTopic) -> str:
    """The subscription filter for one kind of PTL topic across every module."""
    return f"floorgate/{site}/ptl/+/{kind.value}"


def parse_ptl_topic(site: str, topic: str) -> tuple[str, PtlTopic] | None:
    """(module, kind) for a PTL topic of this site, or None when the topic is not one."""
    prefix = f"floorgate/{site}/ptl/"
    if not topic.startswith(prefix):
        return None
    rest = topic[len(prefix) :]
    module, sep, kind = rest.rpartition("/")
    if not sep or not module or "/" in module:
        return None
    try:
        return module, PtlTopic(kind)
    except ValueError:
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class ModuleEvent:
    id: str
    button: Button
    display: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ModuleCommand:
    """A decoded `cmd` payload (what a module receives)."""

    seq: int
    off: bool
    color: str | None = None
    blink: Blink = Blink.NONE
    display: str = ""


def _json_object(payload: bytes) -> dict[str, Any]:
    try:
        return json_object(payload)
    except UnreadablePayload as err:
        raise MalformedPayload(str(err)) from err


def _display(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedPayload(f"'display' must be a string or an integer, got {value!r:.80}")
    if isinstance(value, str) and not is_text(value):
        raise MalformedPayload(f"'display' is not valid Unicode text: {value!r:.80}")
    return str(value)


def decode_event(payload: bytes) -> ModuleEvent:
    data = _json_object(payload)
    event_id = data.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise MalformedPayload("'id' is missing or not a non-empty string")
    if not is_text(event_id):
        raise MalformedPayload(f"'id' is not valid Unicode text: {event_id!r:.80}")
    button = data.get("button")
    if not isinstance(button, str):
        raise MalformedPayload("'button' is missing or not a string")
    try:
        parsed = Button(button)
    except ValueError as err:
        allowed = ", ".join(b.value for b in Button)
        raise MalformedPayload(f"unknown button {button!r:.80} (expected one of {allowed})") from err
    return ModuleEvent(id=event_id, button=parsed, display=_display(data.get("display")))


def _seq(data: dict[str, Any]) -> int:
    seq = data.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise MalformedPayload(f"'seq' must be a non-negative integer, got {seq!r}")
    return seq


def decode_ack(payload: bytes) -> int:
    return _seq(_json_object(payload))


def decode_status(payload: bytes) -> bool:
    """True for online, False for offline."""
    text = payload.decode("utf-8", errors="replace").strip().strip('"').lower()
    if text == "online":
        return True
    if text == "offline":
        return False
    raise MalformedPayload(f"status must be 'online' or 'offline', got {text[:40]!r}")


def encode_command(instruction: Instruction) -> bytes:
    body: dict[str, Any]
    match instruction:
        case LightBin(seq=seq, color=color, blink=blink, display=display):
            body = {"seq": seq, "color": color, "blink": blink.value, "display": display}
        case ClearBin(seq=seq):
            body = {"seq": seq, "off": True}
    return json.dumps(body, separators=(",", ":")).encode()


def decode_command(payload: bytes) -> ModuleCommand:
    data = _json_object(payload)
    seq = _seq(data)
    if data.get("off") is True:
        return ModuleCommand(seq=seq, off=True)
    color = data.get("color")
    if not isinstance(color, str) or not color:
        raise MalformedPayload("'color' is missing or not a string")
    try:
        blink = Blink(data.get("blink", "none"))
    except ValueError as err:
        raise MalformedPayload(f"unknown blink {data.get('blink')!r}") from err
    return ModuleCommand(
        seq=seq, off=False, color=color, blink=blink, display=_display(data.get("display")) or ""
    )


def encode_event(event: ModuleEvent) -> bytes:
    body: dict[str, Any] = {"id": event.id, "button": event.button.value}
    if event.display is not None:
        body["display"] = event.display
    return json.dumps(body, separators=(",", ":")).encode()


def encode_ack(seq: int) -> bytes:
    return json.dumps({"seq": seq}, separators=(",", ":")).encode()
