"""MQTT 3.1.1 packets as bytes: pure encoders, decoders and a stream reader (OASIS MQTT 3.1.1, section 2-3).

Only what a client needs: CONNECT/CONNACK, PUBLISH at QoS 0 and 1 with PUBACK, SUBSCRIBE/SUBACK,
UNSUBSCRIBE/UNSUBACK, PINGREQ/PINGRESP and DISCONNECT. No I/O here; `floorgate.devices.mqtt.connection`
drives these over asyncio.
A partial packet is not an error (the reader waits for the rest); a malformed one raises
`MalformedPacket`, which names what was wrong.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from enum import IntEnum

MAX_REMAINING_LENGTH = 268_435_455  # four length bytes of seven bits each
# What a reader accepts by default: device messages are tiny, and a bogus length must not make the reader
# wait for (and buffer) a quarter of a gigabyte.
DEFAULT_MAX_PACKET = 8 * 1024 * 1024


class PacketType(IntEnum):
    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14


# CONNACK return codes (section 3.2.2.3), in words an operator can act on.
CONNACK_REASONS = {
    1: "the broker does not speak MQTT 3.1.1",
    2: "the broker rejected the client id",
    3: "the MQTT service is unavailable",
    4: "bad user name or password",
    5: "not authorised",
}
SUBACK_FAILURE = 0x80

PINGREQ = b"\xc0\x00"
PINGRESP = b"\xd0\x00"
DISCONNECT = b"\xe0\x00"

_U16 = struct.Struct("!H")


class MalformedPacket(ValueError):
    """Bytes that are not a valid MQTT 3.1.1 packet; the message says which rule they broke."""


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class Publish:
    """An inbound PUBLISH. `mid` is 0 at QoS 0."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    mid: int


# -- encoding ------------------------------------------------------------------------------------------


def remaining_length(length: int) -> bytes:
    if not 0 <= length <= MAX_REMAINING_LENGTH:
        raise ValueError(f"an MQTT packet body is 0..{MAX_REMAINING_LENGTH} bytes, not {length}")
    if length < 128:
        return bytes((length,))
    out = bytearray()
    while True:
        digit, length = length & 0x7F, length >> 7
        out.append(digit | 0x80 if length else digit)
        if not length:
            return bytes(out)


def _string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    if len(data) > 0xFFFF:
        raise ValueError(f"an MQTT string is at most 65535 bytes, not {len(data)}")
    return _U16.pack(len(data)) + data


def encode_connect(
    client_id: str,
    *,
    clean_session: bool,
    keepalive: int,
    username: str | None = None,
    password: str | None = None,
    will: Will | None = None,
) -> bytes:
    if not 0 <= keepalive <= 0xFFFF:
        raise ValueError(f"keepalive is 0..65535 seconds, not {keepalive}")
    flags = 0x02 if clean_session else 0
    payload = [_string(client_id)]
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        payload += [_string(will.topic), _string(will.payload)]
    if password is not None and username is None:
        raise ValueError("MQTT 3.1.1 sends a password only with a user name (section 3.1.2.9)")
    if username is not None:
        flags |= 0x80
        payload.append(_string(username))
        if password is not None:
            flags |= 0x40
            payload.append(_string(password))
    body = b"\x00\x04MQTT\x04" + bytes((flags,)) + _U16.pack(keepalive) + b"".join(payload)
    return b"\x10" + remaining_length(len(body)) + body


def encode_publish(
    topic: bytes, payload: bytes, *, qos: int = 0, retain: bool = False, mid: int = 0, dup: bool = False
) -> bytes:
    """`topic` already UTF-8 encoded (callers publishing to the same topics often keep it)."""
    first = 0x30 | (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    head = _U16.pack(len(topic)) + topic
    if qos:
        head += _U16.pack(mid)
    return bytes((first,)) + remaining_length(len(head) + len(payload)) + head + payload


def encode_puback(mid: int) -> bytes:
    return b"\x40\x02" + _U16.pack(mid)


def encode_subscribe(mid: int, filters: list[tuple[str, int]]) -> bytes:
    if not filters:
        raise ValueError("SUBSCRIBE needs at least one topic filter")
    body = _U16.pack(mid) + b"".join(_string(f) + bytes((qos,)) for f, qos in filters)
    return b"\x82" + remaining_length(len(body)) + body


def encode_unsubscribe(mid: int, filters: list[str]) -> bytes:
    """UNSUBSCRIBE (section 3.10): the packet id, then each topic filter; fixed header flags 0b0010."""
    if not filters:
        raise ValueError("UNSUBSCRIBE needs at least one topic filter")
    body = _U16.pack(mid) + b"".join(_string(f) for f in filters)
    return b"\xa2" + remaining_length(len(body)) + body


# -- decoding ------------------------------------------------------------------------------------------


class PacketReader:
    """Cuts a byte stream into packets: `feed` returns every whole (first byte, body) it now holds."""

    __slots__ = ("_buffer", "_max_packet")

    def __init__(self, max_packet: int = DEFAULT_MAX_PACKET) -> None:
        self._buffer = b""
        self._max_packet = max_packet

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buffer = self._buffer + data if self._buffer else data
        packets: list[tuple[int, bytes]] = []
        size = len(buffer)
        at = 0
        while size - at >= 2:
            length = buffer[at + 1]
            start = at + 2
            if length & 0x80:
                length, start = _long_length(buffer, at + 1)
                if start < 0:
                    break  # the length itself is not all here yet
                if length > self._max_packet:
                    raise MalformedPacket(
                        f"a packet of {length:,} bytes is over the {self._max_packet:,} this client accepts"
                    )
            end = start + length
            if end > size:
                break
            packets.append((buffer[at], buffer[start:end]))
            at = end
        self._buffer = buffer[at:]
        return packets

    @property
    def buffered(self) -> int:
        return len(self._buffer)


def _long_length(buffer: bytes, at: int) -> tuple[int, int]:
    """Decode a remaining length of more than one byte; (value, body start), start -1 when incomplete."""
    value = 0
    for index in range(4):
        if at + index >= len(buffer):
            return 0, -1
        byte = buffer[at + index]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, at + index + 1
    raise MalformedPacket("remaining length runs past 4 bytes")


def decode_publish(first: int, body: bytes) -> Publish:
    qos = (first >> 1) & 0x03
    if qos == 3:
        raise MalformedPacket("PUBLISH with QoS 3")
    if len(body) < 2:
        raise MalformedPacket(f"PUBLISH body of {len(body)} bytes has no topic length")
    topic_end = 2 + _U16.unpack_from(body)[0]
    header_end = topic_end + (2 if qos else 0)
    if header_end > len(body):
        raise MalformedPacket(f"PUBLISH topic/packet id run past its {len(body)}-byte body")
    try:
        topic = body[2:topic_end].decode()
    except UnicodeDecodeError as err:
        raise MalformedPacket(f"PUBLISH topic is not UTF-8: {err}") from err
    mid = _U16.unpack_from(body, topic_end)[0] if qos else 0
    return Publish(topic, body[header_end:], qos, bool(first & 0x01), bool(first & 0x08), mid)


def decode_connack(body: bytes) -> tuple[bool, int]:
    """(session present, return code)."""
    if len(body) != 2:
        raise MalformedPacket(f"CONNACK body is 2 bytes, not {len(body)}")
    return bool(body[0] & 0x01), body[1]


def decode_mid(kind: str, body: bytes) -> int:
    if len(body) != 2:
        raise MalformedPacket(f"{kind} body is 2 bytes, not {len(body)}")
    mid: int = _U16.unpack(body)[0]
    return mid


def decode_unsuback(body: bytes) -> int:
    """The packet id an UNSUBACK (section 3.11) answers; its body is that id and nothing else."""
    return decode_mid("UNSUBACK", body)


def decode_suback(body: bytes) -> tuple[int, list[int]]:
    if len(body) < 3:
        raise MalformedPacket(f"SUBACK body of {len(body)} bytes has no return code")
    return _U16.unpack_from(body)[0], list(body[2:])


# -- topic filters -------------------------------------------------------------------------------------


def filter_pattern(topic_filter: str) -> re.Pattern[str]:
    """A compiled matcher for an MQTT topic filter (`+` one level, `#` this level and everything below)."""
    if not topic_filter:
        raise ValueError(f"topic filter {topic_filter!r}: a filter is at least one character long")
    if "\x00" in topic_filter:
        raise ValueError(f"topic filter {topic_filter!r}: a filter must not contain the null character")
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise ValueError(f"topic filter {topic_filter!r}: '#' must be a whole last level")
        if "+" in level and level != "+":
            raise ValueError(f"topic filter {topic_filter!r}: '+' must be a whole level")
    parts = ["[^/]*" if level == "+" else re.escape(level) for level in levels]
    if len(levels) == 1 and levels[0] == "#":
        pattern = ".*"
    elif levels[-1] == "#":
        # "a/#" also matches "a" itself (section 4.7.1.2). "/#" has an empty first level: it matches
        # "/" and "/x" but not "x", so only a bare "#" matches everything.
        pattern = "/".join(parts[:-1]) + "(?:/.*)?"
    else:
        pattern = "/".join(parts)
    # Topics starting with "$" are not matched by a leading wildcard (section 4.7.2).
    if levels[0] in ("+", "#"):
        pattern = f"(?!\\$){pattern}"
    return re.compile(pattern, re.DOTALL)
