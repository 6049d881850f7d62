"""Keyboard-wedge decoding: key events in, scanned text out, for one keyboard layout (pure).

A scanner types a barcode as key presses and ends it with Enter (or keypad Enter). The decoder tracks
Shift, AltGr, Ctrl, Caps Lock and Num Lock, reads GS (0x1D, the GS1 separator) from Ctrl+] and from an
Alt+keypad code (Alt+029), and drops a half scan when keys stop arriving for longer than `max_gap`: a
scanner types a code in a burst, so a long pause means the rest was lost, and half a code must never be
taken for a whole one.
"""

from __future__ import annotations

from dataclasses import dataclass

from floorgate.devices.scanners.input_event import KEY_PRESS, KEY_RELEASE, KEY_REPEAT, KeyEvent
from floorgate.devices.scanners.keyboard_layouts import KEYPAD_DIGITS, Key, KeyboardLayout

GS = "\x1d"
DEFAULT_MAX_GAP = 0.2
DEFAULT_MAX_LENGTH = 4096
# Digits of an Alt + keypad code that can still be a character (Alt+0029); more are not kept.
ALT_CODE_DIGITS = 4

_SHIFTS = frozenset({Key.LEFTSHIFT, Key.RIGHTSHIFT})
_CTRLS = frozenset({Key.LEFTCTRL, Key.RIGHTCTRL})
_ENDS = frozenset({Key.ENTER, Key.KPENTER})


@dataclass(slots=True)
class DecoderStats:
    """Counters: scans decoded, half scans dropped after a gap, over-long input dropped, keys ignored."""

    scans: int = 0
    dropped_after_gap: int = 0
    dropped_too_long: int = 0
    ignored_keys: int = 0


class HidDecoder:
    """Feed it key events in order; `feed` returns a finished scan when Enter ends one."""

    def __init__(
        self,
        layout: KeyboardLayout,
        *,
        max_gap: float = DEFAULT_MAX_GAP,
        max_length: int = DEFAULT_MAX_LENGTH,
        num_lock: bool = True,
    ) -> None:
        if max_gap <= 0:
            raise ValueError(f"max_gap must be positive, got {max_gap}")
        self.layout = layout
        self.max_gap = max_gap
        self.max_length = max_length
        self.stats = DecoderStats()
        self._held: set[int] = set()
        self._caps_lock = False
        # Scanners type keypad digits expecting Num Lock on; the kernel's LED state is not ours to read.
        self._num_lock = num_lock
        self._alt_code = ""
        self._buffer: list[str] = []
        self._last_key: float | None = None

    @property
    def pending(self) -> str:
        """The half-typed scan, if any."""
        return "".join(self._buffer)

    def expire(self, now: float) -> bool:
        """Drop a half scan whose last key is older than `max_gap` at `now`; True if one was dropped."""
        if self._buffer and self._last_key is not None and now - self._last_key > self.max_gap:
            self._drop_gap()
            return True
        return False

    def feed(self, event: KeyEvent) -> str | None:
        if event.value not in (KEY_PRESS, KEY_REPEAT, KEY_RELEASE):
            self.stats.ignored_keys += 1
            return None
        # Any key event (a release too) shows the scanner is still typing.
        self.expire(event.timestamp)
        self._last_key = event.timestamp
        if event.value == KEY_RELEASE:
            self._release(event.code)
            return None
        code = event.code
        if event.value == KEY_PRESS:
            self._held.add(code)
        if code in _SHIFTS or code in _CTRLS or code in (Key.LEFTALT, Key.RIGHTALT):
            return None
        if event.value == KEY_PRESS and code == Key.CAPSLOCK:
            self._caps_lock = not self._caps_lock
            return None
        if event.value == KEY_PRESS and code == Key.NUMLOCK:
            self._num_lock = not self._num_lock
            return None
        if code in _ENDS:
            return self._finish()
        if Key.LEFTALT in self._held and code in KEYPAD_DIGITS:
            # Alt + keypad digits: the code point is typed when Alt goes up (how many scanners send GS).
            if len(self._alt_code) <= ALT_CODE_DIGITS:
                self._alt_code += str(KEYPAD_DIGITS[code])
            return None
        self._type(self._char(code))
        return None

    def _char(self, code: int) -> str | None:
        ctrl = bool(self._held & _CTRLS)
        if ctrl:
            # Ctrl+] is GS on every layout at the US "]" position, and at whichever key types "]".
            typed = self.layout.char(code, shift=False, altgr=Key.RIGHTALT in self._held, caps_lock=False)
            if code == Key.RIGHTBRACE or typed == "]":
                return GS
            return None
        if (code == Key.KPDOT or code in KEYPAD_DIGITS) and not self._num_lock:
            return None
        return self.layout.char(
            code,
            shift=bool(self._held & _SHIFTS),
            altgr=Key.RIGHTALT in self._held,
            caps_lock=self._caps_lock,
        )

    def _type(self, char: str | None) -> None:
        if char is None:
            self.stats.ignored_keys += 1
            return
        self._buffer.append(char)
        if len(self._buffer) > self.max_length:
            # Not a scanner burst (a key stuck down, a person typing a novel): nothing here is a code.
            self._buffer.clear()
            self.stats.dropped_too_long += 1

    def _release(self, code: int) -> None:
        self._held.discard(code)
        if code == Key.LEFTALT and self._alt_code:
            digits, self._alt_code = self._alt_code, ""
            value = int(digits) if len(digits) <= ALT_CODE_DIGITS else 0
            self._type(chr(value) if 0 < value < 256 else None)

    def _finish(self) -> str | None:
        text = "".join(self._buffer)
        self._buffer.clear()
        self._alt_code = ""
        if not text:
            return None
        self.stats.scans += 1
        return text

    def _drop_gap(self) -> None:
        self._buffer.clear()
        self._alt_code = ""
        self.stats.dropped_after_gap += 1
