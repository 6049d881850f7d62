"""Shift and rolling-window KPIs computed from committed events: pure, with `now` passed in.

The stream hub feeds every committed event to `KpiTracker.record` and asks `view(now)` when it sends a
message. Definitions (what a supervisor reads on the dashboard):

- a *line* is a finished order line: `pick.confirmed` or `pick.short`, credited to the event's operator;
- *lines per hour* is lines divided by the time the window covers (the window's length, or less when the
  shift is younger; never less than `MIN_SPAN_S`, so the first minute does not show absurd rates);
- *pick accuracy* is finished lines over pick attempts, an attempt being a finished line or a
  `pick.rejected` (an over-pick or a confirm the rules refused): a short is a stock problem, not a
  picker's mistake, so it counts as accurate and is reported on its own;
- *weight-check failures* are `pack.rejected`; checks are `pack.verified` + `pack.rejected`;
- *events per second* counts every committed event;
- *inventory accuracy* reads `count.recorded`: every bin counted (a recount counts the bin again), those
  whose count differed from the record (a bin without a record has no variance), the net adjustment (the
  sum of those differences: what the counts changed the records by) and the share counted as recorded;
  `putaways` counts `putaway.confirmed`.

The rolling window keeps one bucket per second and running totals, so recording is O(1) and a view costs
O(pickers), whatever the event rate.

A *shift* is `SHIFT_S` long and starts on the clock (00:00, 08:00, 16:00 UTC), not when the edge did: a
restart mid-shift finds the same start, and the edge counts that shift's events from its log again
before it serves (edge/runtime.py), so the dashboard's figures survive the restart.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict, Field

from floorgate.web.contract import Answer

WINDOW_S = 15 * 60.0
MIN_SPAN_S = 60.0
SHIFT_S = 8 * 3600.0
UNKNOWN_PICKER = "(no operator)"

_LINE_TYPES = frozenset({"pick.confirmed", "pick.short"})
# The only events whose data a count reads (the picker); every other event is counted by its type alone.
DATA_TYPES = _LINE_TYPES | {"pick.rejected", "count.recorded"}


@dataclass(slots=True)
class Counts:
    """Additive totals over some span of events; buckets and windows are both Counts."""

    events: int = 0
    lines: int = 0
    shorts: int = 0
    rejected_picks: int = 0
    weight_checks: int = 0
    weight_failures: int = 0
    overrides: int = 0
    bins_counted: int = 0
    bins_with_variance: int = 0
    net_adjustment: int = 0
    putaways: int = 0
    lines_by_picker: Counter[str] = field(default_factory=Counter)
    shorts_by_picker: Counter[str] = field(default_factory=Counter)
    rejected_by_picker: Counter[str] = field(default_factory=Counter)

    def add_event(self, event_type: str, data: Mapping[str, Any]) -> None:
        self.events += 1
        picker = _picker(data)
        if event_type in _LINE_TYPES:
            self.lines += 1
            self.lines_by_picker[picker] += 1
            if event_type == "pick.short":
                self.shorts += 1
                self.shorts_by_picker[picker] += 1
        elif event_type == "pick.rejected":
            self.rejected_picks += 1
            self.rejected_by_picker[picker] += 1
        elif event_type == "pack.verified":
            self.weight_checks += 1
        elif event_type == "pack.rejected":
            self.weight_checks += 1
            self.weight_failures += 1
        elif event_type == "pack.overridden":
            self.overrides += 1
        elif event_type == "count.recorded":
            self.bins_counted += 1
            variance = data.get("variance")
            if isinstance(variance, int) and variance:
                self.bins_with_variance += 1
                self.net_adjustment += variance
        elif event_type == "putaway.confirmed":
            self.putaways += 1

    def merge(self, other: Counts, sign: int = 1) -> None:
        self.events += sign * other.events
        self.lines += sign * other.lines
        self.shorts += sign * other.shorts
        self.rejected_picks += sign * other.rejected_picks
        self.weight_checks += sign * other.weight_checks
        self.weight_failures += sign * other.weight_failures
        self.overrides += sign * other.overrides
        self.bins_counted += sign * other.bins_counted
        self.bins_with_variance += sign * other.bins_with_variance
        self.net_adjustment += sign * other.net_adjustment
        self.putaways += sign * other.putaways
        for mine, theirs in (
            (self.lines_by_picker, other.lines_by_picker),
            (self.shorts_by_picker, other.shorts_by_picker),
            (self.rejected_by_picker, other.rejected_by_picker),
        ):
            for picker, count in theirs.items():
                mine[picker] += sign * count
                if mine[picker] == 0:
                    del mine[picker]  # a picker who left the window leaves the table


def _picker(data: Mapping[str, Any]) -> str:
    operator = data.get("operator")
    return operator if isinstance(operator, str) and operator else UNKNOWN_PICKER


@dataclass(slots=True)
class _Bucket:
    second: int
    counts: Counts = field(default_factory=Counts)


def shift_start(at: float, shift_s: float = SHIFT_S) -> float:
    """When the shift that `at` falls in started: shifts are `shift_s` long, counted from the epoch (so
    from midnight UTC when they divide a day)."""
    return math.floor(at / shift_s) * shift_s


class KpiTracker:
    """Counts for the shift (since `shift_started_at`) and for the last `window_s` seconds.

    With `shift_s`, a new shift starts (from zero) at each of its boundaries; without, the shift never ends.
    """

    def __init__(
        self, *, shift_started_at: float, window_s: float = WINDOW_S, shift_s: float | None = None
    ) -> None:
        self.shift_started_at = shift_started_at
        self.window_s = window_s
        self.shift_s = shift_s
        self.shift = Counts()
        self.window = Counts()
        self._buckets: deque[_Bucket] = deque()

    @classmethod
    def current_shift(cls, now: float, shift_s: float = SHIFT_S) -> KpiTracker:
        """A tracker for the shift under way at `now`, which ends at the next shift boundary."""
        return cls(shift_started_at=shift_start(now, shift_s), shift_s=shift_s)

    def _roll_over(self, at: float) -> None:
        if self.shift_s is not None and at >= self.shift_started_at + self.shift_s:
            self.start_shift(shift_start(at, self.shift_s))

    def record(self, event_type: str, data: Mapping[str, Any], at: float) -> None:
        self._roll_over(at)
        if at < self.shift_started_at:
            return  # before this shift: neither the shift nor its window counts it
        self.shift.add_event(event_type, data)
        second = math.floor(at)
        if self._buckets and second < self._buckets[-1].second:
            # A clock step back (NTP) must not reorder the buckets: count it in the newest one.
            second = self._buckets[-1].second
        if not self._buckets or self._buckets[-1].second != second:
            self._buckets.append(_Bucket(second))
        self._buckets[-1].counts.add_event(event_type, data)
        self.window.add_event(event_type, data)

    def record_all(self, events: Iterable[tuple[str, Mapping[str, Any], float]]) -> None:
        for event_type, data, at in events:
            self.record(event_type, data, at)

    def start_shift(self, at: float) -> None:
        self.shift_started_at = at
        self.shift = Counts()
        self.window = Counts()
        self._buckets.clear()

    def _expire(self, now: float) -> None:
        cutoff = now - self.window_s
        while self._buckets and self._buckets[0].second + 1 <= cutoff:
            self.window.merge(self._buckets.popleft().counts, sign=-1)

    def view(self, now: float) -> dict[str, Any]:
        self._roll_over(now)
        self._expire(now)
        shift_span = max(now - self.shift_started_at, 0.0)
        return {
            "shift": _window_view(self.shift, shift_span),
            "last_15m": _window_view(self.window, min(shift_span, self.window_s)),
            "shift_started_at": self.shift_started_at,
        }


class PickerFigures(Answer):
    picker: str = Field(
        description=f"the operator; {UNKNOWN_PICKER!r} for lines no operator was signed in for"
    )
    lines: int
    lines_per_hour: float
    shorts: int
    rejected_picks: int
    pick_accuracy: float | None


class WindowFigures(Answer):
    seconds: float = Field(description="how long the window covers")
    events: int
    events_per_s: float
    lines: int
    lines_per_hour: float
    shorts: int
    rejected_picks: int
    pick_accuracy: float | None = Field(description="finished lines over pick attempts; null before any")
    weight_checks: int
    weight_failures: int
    overrides: int
    bins_counted: int = Field(description="count.recorded: bins counted, a recount counting its bin again")
    bins_with_variance: int = Field(description="of those, the counts that differed from a record")
    net_adjustment: int = Field(
        description="the sum of those differences: what the counts changed records by"
    )
    inventory_accuracy: float | None = Field(
        description="the share of bins counted as recorded; null before any"
    )
    putaways: int = Field(description="putaway.confirmed")
    pickers: list[PickerFigures] = Field(description="by lines, most first")


_WINDOW_EXAMPLE: dict[str, Any] = {
    "seconds": 900.0,
    "events": 412,
    "events_per_s": 0.46,
    "lines": 120,
    "lines_per_hour": 480.0,
    "shorts": 2,
    "rejected_picks": 1,
    "pick_accuracy": 0.9917,
    "weight_checks": 30,
    "weight_failures": 1,
    "overrides": 0,
    "bins_counted": 16,
    "bins_with_variance": 2,
    "net_adjustment": -3,
    "inventory_accuracy": 0.875,
    "putaways": 9,
    "pickers": [
        {
            "picker": "sue",
            "lines": 120,
            "lines_per_hour": 480.0,
            "shorts": 2,
            "rejected_picks": 1,
            "pick_accuracy": 0.9917,
        }
    ],
}


class KpiView(Answer):
    """`KpiTracker.view`: the shift's figures and the last 15 minutes'."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "shift": {**_WINDOW_EXAMPLE, "seconds": 7200.0},
                    "last_15m": _WINDOW_EXAMPLE,
                    "shift_started_at": 1772438400.0,
                }
            ]
        }
    )

    shift: WindowFigures
    last_15m: WindowFigures
    shift_started_at: float = Field(
        description="Unix seconds: shifts start on the clock (00:00, 08:00, 16:00 UTC)"
    )


def _rate_per_hour(count: int, span_s: float) -> float:
    return round(count * 3600.0 / span_s, 1)


def _accuracy(lines: int, rejected: int) -> float | None:
    attempts = lines + rejected
    return round(lines / attempts, 4) if attempts else None


def _window_view(counts: Counts, span_s: float) -> dict[str, Any]:
    rate_span = max(span_s, MIN_SPAN_S)
    pickers = sorted(
        set(counts.lines_by_picker) | set(counts.rejected_by_picker),
        key=lambda p: (-counts.lines_by_picker[p], p),
    )
    return {
        "seconds": round(span_s, 1),
        "events": counts.events,
        "events_per_s": round(counts.events / rate_span, 2),
        "lines": counts.lines,
        "lines_per_hour": _rate_per_hour(counts.lines, rate_span),
        "shorts": counts.shorts,
        "rejected_picks": counts.rejected_picks,
        "pick_accuracy": _accuracy(counts.lines, counts.rejected_picks),
        "weight_checks": counts.weight_checks,
        "weight_failures": counts.weight_failures,
        "overrides": counts.overrides,
        "bins_counted": counts.bins_counted,
        "bins_with_variance": counts.bins_with_variance,
        "net_adjustment": counts.net_adjustment,
        "inventory_accuracy": _accuracy(
            counts.bins_counted - counts.bins_with_variance, counts.bins_with_variance
        ),
        "putaways": counts.putaways,
        "pickers": [
            {
                "picker": picker,
                "lines": counts.lines_by_picker[picker],
                "lines_per_hour": _rate_per_hour(counts.lines_by_picker[picker], rate_span),
                "shorts": counts.shorts_by_picker[picker],
                "rejected_picks": counts.rejected_by_picker[picker],
                "pick_accuracy": _accuracy(counts.lines_by_picker[picker], counts.rejected_by_picker[picker]),
            }
            for picker in pickers
        ],
    }
