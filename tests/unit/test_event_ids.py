"""Event ids: ULIDs in Crockford's base32, time-ordered, unique, monotonic within a millisecond."""

from __future__ import annotations

import pytest

from floorgate.edge.store.ids import encode_ulid, new_event_id

pytestmark = pytest.mark.unit

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def reference_encoding(value: int) -> str:
    """The ULID spec's encoding, five bits at a time from the least significant end."""
    chars = []
    for _ in range(26):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


@pytest.mark.parametrize(
    "value", [0, 1, 31, 32, (1 << 128) - 1, 0x0123456789ABCDEF0123456789ABCDEF, 1 << 127]
)
def test_an_id_is_encoded_as_the_ulid_spec_encodes_it(value: int) -> None:
    assert encode_ulid(value) == reference_encoding(value)


def test_an_id_carries_its_millisecond_in_its_first_ten_characters() -> None:
    event_id = new_event_id(1_780_000_000.123)
    assert event_id.startswith("evt_")
    assert len(event_id) == 30
    assert set(event_id[4:]) <= set(ALPHABET)
    millis = 0
    for char in event_id[4:14]:
        millis = millis * 32 + ALPHABET.index(char)
    assert millis == 1_780_000_000_123


def test_ids_made_in_one_millisecond_are_unique_and_sort_in_the_order_they_were_made() -> None:
    ids = [new_event_id(1_780_000_000.5) for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert ids == sorted(ids)


def test_ids_of_later_milliseconds_sort_after_earlier_ones() -> None:
    ids = [new_event_id(1_780_000_000 + n / 1000) for n in range(200)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 200
