"""Keyboard-wedge decoding: key tables for every layout, modifiers, keypad, GS, repeat and gaps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from floorgate.devices.scanners.hid_decoder import GS, HidDecoder
from floorgate.devices.scanners.input_event import (
    EV_KEY,
    EV_MSC,
    EV_SYN,
    KEY_PRESS,
    KEY_RELEASE,
    KEY_REPEAT,
    RECORD_SIZE,
    InputEvent,
    KeyEvent,
    at,
    key_events,
    pack,
    unpack,
)
from floorgate.devices.scanners.keyboard_layouts import (
    DE,
    FR,
    LAYOUTS,
    UK,
    US,
    Key,
    KeyboardLayout,
    layout_named,
)
from floorgate.firmware_sim.scanners import keystrokes

pytestmark = pytest.mark.unit

SHIFT, ALTGR, CTRL, ALT = Key.LEFTSHIFT, Key.RIGHTALT, Key.LEFTCTRL, Key.LEFTALT
Stroke = int | tuple[int, ...]


def key_stream(
    *strokes: Stroke, start: float = 100.0, step: float = 0.005, end: int = Key.ENTER
) -> list[KeyEvent]:
    """Key events for taps: an int is one key, a tuple is modifiers held around its last key."""
    events: list[KeyEvent] = []
    clock = start
    for stroke in (*strokes, end):
        codes = stroke if isinstance(stroke, tuple) else (stroke,)
        *modifiers, code = codes
        for c, v in [*((m, KEY_PRESS) for m in modifiers), (code, KEY_PRESS), (code, KEY_RELEASE)] + [
            (m, KEY_RELEASE) for m in reversed(modifiers)
        ]:
            events.append(KeyEvent(c, v, clock))
            clock += step
    return events


def decode(layout: KeyboardLayout, events: list[KeyEvent], **options: float) -> list[str]:
    decoder = HidDecoder(layout, **options)  # type: ignore[arg-type]
    return [text for event in events if (text := decoder.feed(event)) is not None]


# Key codes by US position, to read the tables: row starts 2 (digits), 16 (Q), 30 (A), 44 (Z).
A, Q, W, Z, Y, M, E = 30, 16, 17, 44, 21, 50, 18
N1, N2, N3, N4, N7, N8, N0 = 2, 3, 4, 5, 8, 9, 11
MINUS, SEMICOLON, APOSTROPHE, BACKSLASH, COMMA, DOT, SLASH = 12, 39, 40, 43, 51, 52, 53

LAYOUT_TABLES: list[tuple[KeyboardLayout, tuple[Stroke, ...], str]] = [
    # US
    (US, (A, (SHIFT, A), Z, (SHIFT, Z)), "aAzZ"),
    (US, (N1, N2, N0), "120"),
    (US, (MINUS, (SHIFT, SEMICOLON), SLASH, (SHIFT, N2), DOT, (SHIFT, MINUS)), "-:/@._"),
    # UK: @ and " swap, # has its own key, £ on Shift+3
    (UK, (A, (SHIFT, Q)), "aQ"),
    (UK, ((SHIFT, APOSTROPHE), (SHIFT, N2), BACKSLASH, (SHIFT, N3)), '@"#£'),
    (UK, (N1, N0, MINUS, SLASH), "10-/"),
    # German QWERTZ: Y and Z swap; - is at the US slash; @ is AltGr+Q; / is Shift+7
    (DE, (Y, Z, (SHIFT, Y), (SHIFT, Z)), "zyZY"),
    (DE, (N1, N0), "10"),
    (DE, (SLASH, (SHIFT, DOT), (ALTGR, Q), (SHIFT, N7), (SHIFT, SLASH)), "-:@/_"),
    (DE, ((ALTGR, N8), (ALTGR, N0 - 1), (ALTGR, E)), "[]€"),
    # French AZERTY: A/Q and Z/W swap, M on the A row, digits need Shift
    (FR, (Q, A, W, Z, SEMICOLON, (SHIFT, Q)), "aqzwmA"),
    (FR, ((SHIFT, N1), (SHIFT, N0), N1, N2), "10&é"),
    (FR, (N4 + 2, DOT, (SHIFT, DOT), (ALTGR, N0)), "-:/@"),
]


@pytest.mark.parametrize(("layout", "strokes", "expected"), LAYOUT_TABLES)
def test_each_layout_decodes_its_table(
    layout: KeyboardLayout, strokes: tuple[Stroke, ...], expected: str
) -> None:
    assert decode(layout, key_stream(*strokes)) == [expected]


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_keypad_digits_and_keypad_enter_on_every_layout(layout: KeyboardLayout) -> None:
    keypad = (Key.KP0, Key.KP1, Key.KP2, Key.KP3, Key.KP4, Key.KP5, Key.KP6, Key.KP7, Key.KP8, Key.KP9)
    events = key_stream(*keypad, Key.KPMINUS, Key.KPDOT, end=Key.KPENTER)
    assert decode(layout, events) == ["0123456789-" + layout.keypad_decimal]


def test_the_german_keypad_decimal_key_types_a_comma() -> None:
    assert decode(DE, key_stream(Key.KP1, Key.KPDOT, Key.KP5)) == ["1,5"]


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_ctrl_right_bracket_is_gs_on_every_layout(layout: KeyboardLayout) -> None:
    typed = layout.keystroke("1")
    assert typed is not None
    one = typed[0] if typed[1] == 0 else (SHIFT, typed[0])
    assert decode(layout, key_stream(one, (CTRL, Key.RIGHTBRACE), one)) == [f"1{GS}1"]


def test_ctrl_with_the_french_key_that_types_a_bracket_is_gs() -> None:
    assert decode(FR, key_stream((CTRL, ALTGR, MINUS))) == [GS]


def test_alt_and_keypad_029_is_gs() -> None:
    events = [
        KeyEvent(ALT, KEY_PRESS, 1.0),
        *[KeyEvent(c, v, 1.01) for c in (Key.KP0, Key.KP2, Key.KP9) for v in (KEY_PRESS, KEY_RELEASE)],
        KeyEvent(ALT, KEY_RELEASE, 1.02),
        KeyEvent(Key.ENTER, KEY_PRESS, 1.03),
    ]
    assert decode(US, events) == [GS]


def test_caps_lock_shifts_letters_only_and_shift_undoes_it() -> None:
    assert decode(US, key_stream(Key.CAPSLOCK, A, (SHIFT, A), N1, (SHIFT, N1))) == ["Aa1!"]


def test_auto_repeat_types_the_key_again() -> None:
    events = [
        KeyEvent(A, KEY_PRESS, 1.0),
        KeyEvent(A, KEY_REPEAT, 1.03),
        KeyEvent(A, KEY_REPEAT, 1.06),
        KeyEvent(A, KEY_RELEASE, 1.07),
        KeyEvent(Key.ENTER, KEY_PRESS, 1.08),
    ]
    assert decode(US, events) == ["aaa"]


def test_a_gap_in_the_middle_of_a_scan_drops_the_half_scan() -> None:
    first_half = key_stream(A, Z, start=10.0)[:-2]  # no Enter: the scanner stalled
    second = key_stream(N1, N2, start=11.0)
    decoder = HidDecoder(US, max_gap=0.2)
    out = [t for e in [*first_half, *second] if (t := decoder.feed(e)) is not None]
    assert out == ["12"]
    assert decoder.stats.dropped_after_gap == 1


def test_keys_within_the_gap_make_one_scan() -> None:
    assert decode(US, key_stream(A, Z, step=0.15), max_gap=0.2) == ["az"]


def test_expire_drops_a_half_scan_when_no_more_keys_come() -> None:
    decoder = HidDecoder(US, max_gap=0.2)
    for event in key_stream(A, start=5.0)[:-2]:
        decoder.feed(event)
    assert decoder.pending == "a"
    assert decoder.expire(5.1) is False
    assert decoder.expire(6.0) is True
    assert decoder.pending == ""


def test_enter_alone_is_not_a_scan_and_num_lock_off_ignores_keypad_digits() -> None:
    assert decode(US, [KeyEvent(Key.ENTER, KEY_PRESS, 1.0)]) == []
    assert decode(US, key_stream(Key.NUMLOCK, Key.KP1, A)) == ["a"]


def test_input_event_records_round_trip_and_partial_records_wait() -> None:
    events = [at(1.5, EV_KEY, A, KEY_PRESS), at(1.5, EV_SYN, 0, 0), at(1.6, EV_MSC, 4, 0x70004)]
    data = b"".join(pack(e) for e in events)
    assert len(data) == 3 * RECORD_SIZE
    decoded, used = unpack(data + data[:5])
    assert decoded == events
    assert used == len(data)
    assert list(key_events(decoded)) == [KeyEvent(A, KEY_PRESS, 1.5)]


def test_unknown_layout_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown keyboard layout"):
        layout_named("dvorak")


# -- properties ------------------------------------------------------------------------------------

key_event = st.builds(
    KeyEvent,
    st.integers(min_value=0, max_value=0x2FF),
    st.integers(min_value=-1, max_value=3),
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
)


@given(st.sampled_from(sorted(LAYOUTS)), st.lists(key_event, max_size=200))
def test_any_stream_of_key_events_never_crashes_the_decoder(layout: str, events: list[KeyEvent]) -> None:
    decoder = HidDecoder(LAYOUTS[layout])
    for event in events:
        text = decoder.feed(event)
        assert text is None or isinstance(text, str)


@given(st.binary(max_size=2000))
def test_any_bytes_unpack_into_whole_records_without_crashing(data: bytes) -> None:
    events, used = unpack(data)
    assert used == len(events) * RECORD_SIZE <= len(data)


def typeable(layout: KeyboardLayout) -> st.SearchStrategy[str]:
    chars = sorted({c for levels in layout.keys.values() for c in levels if c} | {GS})
    return st.text(st.sampled_from(chars), min_size=1, max_size=40).filter(lambda t: t.strip(" ") == t)


@settings(max_examples=50)
@given(st.data())
def test_what_the_simulator_types_on_a_layout_decodes_back_on_that_layout(data: st.DataObject) -> None:
    layout = data.draw(st.sampled_from(list(LAYOUTS.values())))
    text = data.draw(typeable(layout))
    events = list(key_events(keystrokes(text, layout, start=50.0)))
    assert decode(layout, events) == [text]


def test_the_same_keys_read_with_the_wrong_layout_give_a_different_code() -> None:
    events = list(key_events(keystrokes("ZY-1", DE, start=1.0)))
    assert decode(US, events) == ["YZ/1"]


def test_raw_records_from_the_simulator_decode_with_keypad_options() -> None:
    raw: list[InputEvent] = keystrokes("0104", US, start=1.0, keypad_digits=True, keypad_enter=True)
    assert decode(US, list(key_events(raw))) == ["0104"]
