"""A fake clock for code that takes `clock: Callable[[], float]`: the test sets the time it reads."""

from __future__ import annotations


class SetClock:
    """Call it for the time; set `now` to move it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
