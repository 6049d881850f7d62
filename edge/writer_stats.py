"""The writer's figures for /metrics: counters, device messages by class, and latency histograms.

A histogram counts observations into fixed buckets (seconds), as Prometheus does: one bisect and three
additions, cheap enough for every press on the hot path. Nothing is locked: every figure is changed on
the event loop's thread.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate, pairwise

from floorgate.core.commands import Command, PressButton, RecordDeviceFault, RecordScan, RecordWeight
from floorgate.web.ports import HistogramFigures

# Press -> light: a working floor answers in milliseconds (docs/benchmarks.md); the upper buckets catch a
# deep backlog or a store that stalls.
PRESS_TO_LIGHT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# One batch's commit: well under a millisecond on a quiet SQLite store, longer for an import or on
# PostgreSQL; a commit held by a failing store (retried until it succeeds) lands at the top.
COMMIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)

# The device class each device message is counted under; a fault (input the adapter could not
# understand) is counted under its own `kind`, and as malformed too.
DEVICE_CLASSES: dict[type[Command], str] = {PressButton: "ptl", RecordScan: "scanner", RecordWeight: "scale"}
# Always published, at 0 before the first message, so a dashboard has every class's series.
KNOWN_CLASSES = ("ptl", "scanner", "scale")


class Histogram:
    """Observations counted into buckets by upper bound (`le`), with their sum and count."""

    __slots__ = ("_bounds", "_counts", "_sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        if not bounds or any(later <= earlier for earlier, later in pairwise(bounds)):
            raise ValueError(f"bucket bounds must be increasing and not empty, got {list(bounds)}")
        self._bounds = tuple(float(b) for b in bounds)
        # One count per bound, and the last for what is above every bound (+Inf).
        self._counts = [0] * (len(self._bounds) + 1)
        self._sum = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bound's bucket (`le`, less or equal).
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value

    def figures(self) -> HistogramFigures:
        cumulative = tuple(accumulate(self._counts))
        return HistogramFigures(
            bounds=self._bounds, cumulative=cumulative[:-1], total=self._sum, count=cumulative[-1]
        )


def _by_class() -> dict[str, int]:
    return dict.fromkeys(KNOWN_CLASSES, 0)


@dataclass(kw_only=True, slots=True)
class WriterStats:
    batches: int = 0
    commands: int = 0
    events: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0
    unstorable: int = 0  # commands set aside as exceptions: the store refused what they made
    commit_failures: int = 0
    last_batch_size: int = 0
    last_commit_seconds: float = 0.0
    wal_pages: int = 0  # the write-ahead log's size at the last checkpoint
    press_to_light: Histogram = field(default_factory=lambda: Histogram(PRESS_TO_LIGHT_BUCKETS))
    commit_seconds: Histogram = field(default_factory=lambda: Histogram(COMMIT_BUCKETS))
    device_messages: dict[str, int] = field(default_factory=_by_class)
    device_malformed: dict[str, int] = field(default_factory=_by_class)

    def count_device_message(self, command: Command) -> None:
        """Count a command a device adapter handed in, under its device class."""
        if isinstance(command, RecordDeviceFault):
            device_class = command.kind
            self.device_malformed[device_class] = self.device_malformed.get(device_class, 0) + 1
        else:
            found = DEVICE_CLASSES.get(type(command))
            if found is None:
                return  # a status report, or the PTL adapter's own upkeep: not a device's reading
            device_class = found
        self.device_messages[device_class] = self.device_messages.get(device_class, 0) + 1
