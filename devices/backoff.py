"""Reconnect backoff shared by every transport that reconnects by itself: the MQTT link, serial ports, evdev."""

from __future__ import annotations

import random


class Backoff:
    """Exponential backoff with full jitter above a floor.

    The n-th wait (from 0) is uniform in [minimum, min(maximum, minimum * 2**n)]: spread out so that
    many edges do not reconnect in lock-step after a broker restart, never below the floor.
    """

    def __init__(self, minimum: float, maximum: float, *, rng: random.Random | None = None) -> None:
        if minimum <= 0 or maximum < minimum:
            raise ValueError(f"backoff needs 0 < minimum <= maximum, got {minimum}, {maximum}")
        self.minimum = minimum
        self.maximum = maximum
        self.attempts = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        cap = min(self.maximum, self.minimum * 2 ** min(self.attempts, 30))
        self.attempts += 1
        return self._rng.uniform(self.minimum, cap)

    def reset(self) -> None:
        self.attempts = 0
