"""Event ids: ULIDs (time-ordered, unique across edges), the stable `webhook-id` of every delivery.

Monotonic as the ULID spec describes: within one millisecond the random part of the previous id is
incremented rather than drawn again, so ids made in one millisecond sort in the order they were made, and
a busy writer draws randomness once a millisecond instead of once an event (the event log's hot path).
Only the writer makes ids, on the event loop's thread.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32, the ULID alphabet
# Every ten bits as their two characters: 13 lookups an id instead of 26.
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)
_RANDOM_BITS = 80
_RANDOM_MAX = (1 << _RANDOM_BITS) - 1

_last_millis = -1
_last_random = 0


def encode_ulid(value: int) -> str:
    """A 128-bit value as its 26 ULID characters (130 bits, the top two zero)."""
    pairs = []
    for _ in range(13):
        pairs.append(_PAIRS[value & 1023])
        value >>= 10
    pairs.reverse()
    return "".join(pairs)


def new_event_id(now: float | None = None) -> str:
    global _last_millis, _last_random  # the generator's state: one writer, one thread
    millis = int((time.time() if now is None else now) * 1000)
    if millis == _last_millis and _last_random < _RANDOM_MAX:
        _last_random += 1
    else:
        _last_millis = millis
        _last_random = int.from_bytes(os.urandom(_RANDOM_BITS // 8), "big")
    return "evt_" + encode_ulid((millis << _RANDOM_BITS) | _last_random)
