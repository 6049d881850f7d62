"""Where each key of a site file is written: key paths, their dotted spelling, and a TOML line scanner.

tomllib keeps no positions, so `KeyLines` scans the text once to find the line of each key.
"""

from __future__ import annotations

import bisect
import json
import re

# A key's path as the file spells it: ("stations", 1, "scale", "port") for stations[1].scale.port.
Loc = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def format_key(loc: Loc) -> str:
    """`("stations", 1, "tolerance_g")` → `stations[1].tolerance_g`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            text = f"{text}.{name}" if text else name
    return text


class KeyLines:
    """The line on which each key of a (valid) TOML document is written.

    Understands tables, arrays of tables (`[[stations]]` counted into `stations[i]`), dotted keys,
    inline tables and arrays. A key that is not written (a default, a missing key) falls back to
    the nearest enclosing key that is, usually the table header.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._line_starts: list[int] = []
        self._lines: dict[Loc, int] = {}
        self._array_counts: dict[Loc, int] = {}
        self._scanned = False

    def line_of(self, loc: Loc) -> int | None:
        if not self._scanned:
            # Scanned on first use: a valid file never needs it, and a large one takes a while.
            self._line_starts = [0, *(match.end() for match in re.finditer("\n", self._text))]
            self._scan()
            self._scanned = True
        for end in range(len(loc), 0, -1):
            line = self._lines.get(loc[:end])
            if line is not None:
                return line
        return None

    # -- scanning; each step moves forward, so a malformed text ends the scan instead of looping

    def _char(self) -> str:
        return self._text[self._pos] if self._pos < len(self._text) else ""

    def _record(self, loc: Loc, pos: int) -> None:
        self._lines.setdefault(loc, bisect.bisect_right(self._line_starts, pos))

    def _scan(self) -> None:
        table: Loc = ()
        while self._pos < len(self._text):
            self._skip_blank(newlines=True)
            if self._pos >= len(self._text):
                break
            if self._char() == "[":
                table = self._header()
            else:
                self._key_value(table)
            self._skip_to_next_line()

    def _skip_blank(self, *, newlines: bool) -> None:
        while self._pos < len(self._text):
            char = self._text[self._pos]
            if char in " \t" or (newlines and char in "\r\n"):
                self._pos += 1
            elif char == "#":
                end = self._text.find("\n", self._pos)
                self._pos = len(self._text) if end < 0 else end
                if not newlines:
                    return
            else:
                return

    def _skip_to_next_line(self) -> None:
        end = self._text.find("\n", self._pos)
        self._pos = len(self._text) if end < 0 else end + 1

    def _header(self) -> Loc:
        start = self._pos
        is_array = self._text.startswith("[[", self._pos)
        self._pos += 2 if is_array else 1
        parts = self._key()
        path: Loc = ()
        for i, part in enumerate(parts):
            path = (*path, part)
            if is_array and i == len(parts) - 1:
                index = self._array_counts.get(path, -1) + 1
                self._array_counts[path] = index
                self._record(path, start)
                path = (*path, index)
            elif path in self._array_counts:
                # `[stations.scale]` after `[[stations]]` belongs to the latest station.
                path = (*path, self._array_counts[path])
            self._record(path, start)
        return path

    def _key_value(self, table: Loc) -> None:
        start = self._pos
        parts = self._key()
        if not parts:
            return
        for end in range(1, len(parts) + 1):
            self._record((*table, *parts[:end]), start)
        self._skip_blank(newlines=False)
        if self._char() == "=":
            self._pos += 1
            self._value((*table, *parts))

    def _key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self._skip_blank(newlines=False)
            char = self._char()
            if char in ('"', "'"):
                parts.append(self._quoted_key(char))
            else:
                match = _BARE_KEY.match(self._text, self._pos)
                if match is None:
                    return parts
                parts.append(match.group())
                self._pos = match.end()
            self._skip_blank(newlines=False)
            if self._char() != ".":
                return parts
            self._pos += 1

    def _quoted_key(self, quote: str) -> str:
        start = self._pos + 1
        self._skip_string()
        raw = self._text[start : self._pos - 1]
        if quote == "'":
            return raw
        try:
            return str(json.loads(f'"{raw}"'))
        except ValueError:
            return raw  # an escape JSON lacks (\U........): close enough to find a line

    def _value(self, loc: Loc) -> None:
        self._skip_blank(newlines=False)
        char = self._char()
        if char == "{":
            self._inline_table(loc)
        elif char == "[":
            self._array(loc)
        elif char in ('"', "'"):
            self._skip_string()
        else:
            while self._pos < len(self._text) and self._text[self._pos] not in ",]}\n#":
                self._pos += 1

    def _inline_table(self, loc: Loc) -> None:
        self._pos += 1
        while self._pos < len(self._text):
            self._skip_blank(newlines=True)
            char = self._char()
            if char == "}":
                self._pos += 1
                return
            if char == ",":
                self._pos += 1
                continue
            start = self._pos
            parts = self._key()
            if not parts:
                self._pos += 1
                continue
            for end in range(1, len(parts) + 1):
                self._record((*loc, *parts[:end]), start)
            self._skip_blank(newlines=False)
            if self._char() == "=":
                self._pos += 1
                self._value((*loc, *parts))

    def _array(self, loc: Loc) -> None:
        self._pos += 1
        index = 0
        while self._pos < len(self._text):
            self._skip_blank(newlines=True)
            char = self._char()
            if char == "]":
                self._pos += 1
                return
            if char == ",":
                self._pos += 1
                index += 1
                continue
            before = self._pos
            self._record((*loc, index), before)
            self._value((*loc, index))
            if self._pos == before:
                self._pos += 1

    def _skip_string(self) -> None:
        text, pos = self._text, self._pos
        for delimiter in ('"""', "'''"):
            if text.startswith(delimiter, pos):
                pos += 3
                while pos < len(text) and not text.startswith(delimiter, pos):
                    pos += 2 if delimiter == '"""' and text[pos] == "\\" else 1
                pos += 3
                # Up to two quotes right before the closing delimiter belong to the string.
                for _ in range(2):
                    if pos < len(text) and text[pos] == delimiter[0]:
                        pos += 1
                self._pos = min(pos, len(text))
                return
        quote = text[pos]
        pos += 1
        while pos < len(text) and text[pos] not in (quote, "\n"):
            pos += 2 if quote == '"' and text[pos] == "\\" else 1
        self._pos = min(pos + 1, len(text))
