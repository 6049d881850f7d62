"""Serial scanner framing: `[prefix] code suffix` on a byte stream, pure.

`decode(buffer)` returns (frame, consumed): (None, 0) is a partial frame (wait for more bytes), a
`Scan` is a code, a `Garbage` is bytes that cannot be a code (no prefix where one is required, control
characters, too long without a suffix); an empty line is consumed and yields nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_LENGTH = 1024
# Control characters a barcode may carry: GS, RS and EOT separate GS1 and ISO/IEC 15434 fields.
_ALLOWED_CONTROLS = frozenset("\x1d\x1e\x04\t")
_LINE_ENDS = b"\r\n"


@dataclass(frozen=True, slots=True)
class Scan:
    text: str


@dataclass(frozen=True, slots=True)
class Garbage:
    data: bytes
    reason: str


Frame = Scan | Garbage


@dataclass(frozen=True, kw_only=True, slots=True)
class SerialFraming:
    """What a serial scanner sends around each code. The suffix is required; the prefix is optional."""

    suffix: bytes = b"\r"
    prefix: bytes = b""
    max_length: int = DEFAULT_MAX_LENGTH

    def __post_init__(self) -> None:
        if not self.suffix:
            raise ValueError("a serial scanner needs a suffix to tell where a code ends")

    def decode(self, buffer: bytes) -> tuple[Frame | None, int]:
        # A scanner configured for CR LF while we expect CR leaves an LF in front of the next code.
        start = len(buffer) - len(buffer.lstrip(_LINE_ENDS)) if self.suffix.strip(_LINE_ENDS) == b"" else 0
        end = buffer.find(self.suffix, start)
        if end < 0:
            if len(buffer) - start > self.max_length + len(self.prefix) + len(self.suffix):
                return Garbage(buffer[start:], "no suffix within the longest code"), len(buffer)
            return None, start
        consumed = end + len(self.suffix)
        body = buffer[start:end]
        if not body:
            return None, consumed
        if self.prefix:
            if not body.startswith(self.prefix):
                at = body.find(self.prefix)
                if at > 0:
                    # Noise before a real code: drop the noise, keep the code for the next decode.
                    return Garbage(body[:at], "bytes before the prefix"), start + at
                return Garbage(body, "no prefix"), consumed
            body = body[len(self.prefix) :]
        if len(body) > self.max_length:
            return Garbage(body, "longer than the longest code"), consumed
        text = _text(body)
        if text is None:
            return Garbage(body, "control characters in the code"), consumed
        return Scan(text), consumed


def _text(body: bytes) -> str | None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        # Scanners set to a Latin code page send é as one byte; that is still a readable code.
        text = body.decode("latin-1")
    if any((ord(c) < 0x20 or ord(c) == 0x7F) and c not in _ALLOWED_CONTROLS for c in text):
        return None
    return text


class SerialFramer:
    """The framing plus the bytes carried over between reads."""

    def __init__(self, framing: SerialFraming) -> None:
        self.framing = framing
        self._buffer = b""
        self.garbage = 0

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while self._buffer:
            frame, consumed = self.framing.decode(self._buffer)
            if consumed == 0 and frame is None:
                break
            self._buffer = self._buffer[consumed:]
            if frame is not None:
                if isinstance(frame, Garbage):
                    self.garbage += 1
                frames.append(frame)
        return frames

    def reset(self) -> None:
        self._buffer = b""
