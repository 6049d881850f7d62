"""Keyboard layouts as declarative tables: which character each key gives, plain, shifted and with AltGr.

A keyboard-wedge scanner "types" the barcode as key presses for the layout it was configured with; the
edge must read them with the same layout, or a German scanner's Z comes out as Y. Key codes are the
Linux input-event codes (linux/input-event-codes.h). Each row is the physical row of a 105-key board
from its first key code, so a table reads like the keyboard it describes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType


class Key(IntEnum):
    """The non-character keys the decoder and the simulator need by name."""

    ESC = 1
    BACKSPACE = 14
    TAB = 15
    RIGHTBRACE = 27  # the US "]" position: Ctrl + this key is GS (0x1D) whatever the layout
    ENTER = 28
    LEFTCTRL = 29
    LEFTSHIFT = 42
    RIGHTSHIFT = 54
    KPASTERISK = 55
    LEFTALT = 56
    SPACE = 57
    CAPSLOCK = 58
    NUMLOCK = 69
    KP7 = 71
    KP8 = 72
    KP9 = 73
    KPMINUS = 74
    KP4 = 75
    KP5 = 76
    KP6 = 77
    KPPLUS = 78
    KP1 = 79
    KP2 = 80
    KP3 = 81
    KP0 = 82
    KPDOT = 83
    KPENTER = 96
    RIGHTCTRL = 97
    KPSLASH = 98
    RIGHTALT = 100  # AltGr


# Keypad keys with NumLock on, the same on every layout but the decimal key.
KEYPAD: Mapping[int, str] = MappingProxyType(
    {
        Key.KP0: "0",
        Key.KP1: "1",
        Key.KP2: "2",
        Key.KP3: "3",
        Key.KP4: "4",
        Key.KP5: "5",
        Key.KP6: "6",
        Key.KP7: "7",
        Key.KP8: "8",
        Key.KP9: "9",
        Key.KPSLASH: "/",
        Key.KPASTERISK: "*",
        Key.KPMINUS: "-",
        Key.KPPLUS: "+",
    }
)
KEYPAD_DIGITS: Mapping[int, int] = MappingProxyType(
    {code: int(char) for code, char in KEYPAD.items() if char.isdigit()}
)

# First key code of each character row: digits, Q row, A row, Z row.
_DIGIT_ROW, _Q_ROW, _A_ROW, _Z_ROW = 2, 16, 30, 44
_GRAVE, _BACKSLASH, _102ND = 41, 43, 86


class Level(IntEnum):
    PLAIN = 0
    SHIFT = 1
    ALTGR = 2


@dataclass(frozen=True, kw_only=True, slots=True)
class KeyboardLayout:
    """One layout: key code -> (plain, shifted, AltGr) characters ("" where the key gives none)."""

    name: str
    keys: Mapping[int, tuple[str, str, str]]
    keypad_decimal: str = "."

    def char(self, code: int, *, shift: bool, altgr: bool, caps_lock: bool) -> str | None:
        if code in KEYPAD:
            return KEYPAD[code]
        if code == Key.KPDOT:
            return self.keypad_decimal
        levels = self.keys.get(code)
        if levels is None:
            return None
        plain, shifted, with_altgr = levels
        if altgr:
            return with_altgr or None
        # Caps Lock shifts letters only; Shift with Caps Lock gives the lower case back.
        if caps_lock and plain.isalpha() and shifted == plain.upper():
            shift = not shift
        return (shifted if shift else plain) or None

    def keystroke(self, char: str) -> tuple[int, Level] | None:
        """The key and level that type `char` (the simulator's direction); plain before shift before AltGr."""
        for level in Level:
            for code, levels in self.keys.items():
                if levels[level] == char:
                    return code, level
        return None


def _rows(
    *rows: tuple[int, str, str, str | None], singles: Mapping[int, tuple[str, str, str]]
) -> Mapping[int, tuple[str, str, str]]:
    table: dict[int, tuple[str, str, str]] = {}
    for first, plain, shifted, altgr in rows:
        if len(plain) != len(shifted) or (altgr is not None and len(altgr) != len(plain)):
            raise ValueError(f"row at key {first} has levels of different lengths")
        for offset, (p, s) in enumerate(zip(plain, shifted, strict=True)):
            a = altgr[offset] if altgr is not None else " "
            table[first + offset] = (p, s, "" if a == " " else a)
    table.update(singles)
    table[Key.SPACE] = (" ", " ", "")
    return MappingProxyType(table)


# In the rows a space stands for "no character on this level"; "¤" etc. are what the key really gives.
US = KeyboardLayout(
    name="us",
    keys=_rows(
        (_DIGIT_ROW, "1234567890-=", "!@#$%^&*()_+", None),
        (_Q_ROW, "qwertyuiop[]", "QWERTYUIOP{}", None),
        (_A_ROW, "asdfghjkl;'", 'ASDFGHJKL:"', None),
        (_Z_ROW, "zxcvbnm,./", "ZXCVBNM<>?", None),
        singles={_GRAVE: ("`", "~", ""), _BACKSLASH: ("\\", "|", ""), _102ND: ("\\", "|", "")},
    ),
)

UK = KeyboardLayout(
    name="uk",
    keys=_rows(
        (_DIGIT_ROW, "1234567890-=", '!"£$%^&*()_+', None),
        (_Q_ROW, "qwertyuiop[]", "QWERTYUIOP{}", None),
        (_A_ROW, "asdfghjkl;'", "ASDFGHJKL:@", None),
        (_Z_ROW, "zxcvbnm,./", "ZXCVBNM<>?", None),
        singles={_GRAVE: ("`", "¬", "¦"), _BACKSLASH: ("#", "~", ""), _102ND: ("\\", "|", "")},
    ),
)

# German QWERTZ: Y and Z swap places, symbols move to Shift and AltGr (@ is AltGr+Q, brackets AltGr+7..0).
DE = KeyboardLayout(
    name="de",
    keys=_rows(
        (_DIGIT_ROW, "1234567890ß´", '!"§$%&/()=?`', " ²³   {[]}\\ "),  # noqa: RUF001 (the acute accent key)
        (_Q_ROW, "qwertzuiopü+", "QWERTZUIOPÜ*", "@ €        ~"),
        (_A_ROW, "asdfghjklöä", "ASDFGHJKLÖÄ", None),
        (_Z_ROW, "yxcvbnm,.-", "YXCVBNM;:_", "      µ   "),
        singles={_GRAVE: ("^", "°", ""), _BACKSLASH: ("#", "'", ""), _102ND: ("<", ">", "|")},
    ),
    keypad_decimal=",",
)

# French AZERTY: A/Q and Z/W swap, M sits on the A row, and the digits need Shift.
FR = KeyboardLayout(
    name="fr",
    keys=_rows(
        (_DIGIT_ROW, "&é\"'(-è_çà)=", "1234567890°+", " ~#{[|`\\^@]}"),
        (_Q_ROW, "azertyuiop^$", "AZERTYUIOP¨£", "  €        ¤"),
        (_A_ROW, "qsdfghjklmù", "QSDFGHJKLM%", None),
        (_Z_ROW, "wxcvbn,;:!", "WXCVBN?./§", None),
        singles={_GRAVE: ("²", "", ""), _BACKSLASH: ("*", "µ", ""), _102ND: ("<", ">", "")},
    ),
)

LAYOUTS: Mapping[str, KeyboardLayout] = MappingProxyType({layout.name: layout for layout in (US, UK, DE, FR)})


def layout_named(name: str) -> KeyboardLayout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(f"unknown keyboard layout {name!r}; known: {', '.join(sorted(LAYOUTS))}") from None
