"""Stable-weight detection: the scale's own motion flag, or readings that stay within a division for a while.

Some scales' flags lie: a cheap indicator calls a swinging carton stable, another never says stable at all.
Per station the edge can trust the flag (`flag`), ignore it and judge by time (`time`), or require both
(`flag+time`). Pure: the caller passes `now`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class StabilityMode(StrEnum):
    FLAG = "flag"
    TIME = "time"
    FLAG_AND_TIME = "flag+time"


@dataclass(frozen=True, kw_only=True, slots=True)
class StabilityPolicy:
    mode: StabilityMode = StabilityMode.FLAG
    settle_s: float = 1.0
    """How long readings must stay within one division to count as stable by time."""
    division_g: Decimal | None = None
    """The band in grams; None uses the division the scale reports, or `fallback_division_g`."""
    fallback_division_g: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        if self.settle_s < 0:
            raise ValueError(f"settle_s must not be negative, got {self.settle_s}")


class StabilityDetector:
    """Feed it every reading in order; it says whether the latest one is stable under the policy."""

    def __init__(self, policy: StabilityPolicy | None = None) -> None:
        self.policy = policy or StabilityPolicy()
        self._low: Decimal | None = None
        self._high: Decimal | None = None
        self._since: float | None = None

    def reset(self) -> None:
        self._low = self._high = None
        self._since = None

    def observe(
        self, grams: Decimal | None, scale_stable: bool, now: float, *, division_g: Decimal | None = None
    ) -> bool:
        if grams is None:
            # Overload, error: no number to settle on; start again with the next one.
            self.reset()
            return False
        steady = self._steady_for(grams, now, division_g)
        mode = self.policy.mode
        if mode is StabilityMode.FLAG:
            return scale_stable
        by_time = steady >= self.policy.settle_s
        if mode is StabilityMode.TIME:
            return by_time
        return scale_stable and by_time

    def _steady_for(self, grams: Decimal, now: float, division_g: Decimal | None) -> float:
        band = self.policy.division_g or division_g or self.policy.fallback_division_g
        if self._low is None or self._high is None or self._since is None:
            self._low = self._high = grams
            self._since = now
            return 0.0
        low = min(self._low, grams)
        high = max(self._high, grams)
        if high - low > band:
            self._low = self._high = grams
            self._since = now
            return 0.0
        self._low, self._high = low, high
        return now - self._since
