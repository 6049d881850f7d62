"""How large the store's write-ahead log grows during a phase: its file's size, sampled in a thread.

The edge bounds the log (edge/store/checkpoint.py); this is the figure that shows the bound holding
under the bench's own load. The file is cut back to the limit whenever the log starts afresh (and
otherwise reused), so its largest size bounds the log's largest size.
"""

from __future__ import annotations

import threading
from pathlib import Path

SAMPLE_SECONDS = 0.005


class WalWatch:
    """Samples `<database>-wal`'s size every few milliseconds until stopped; remembers the largest."""

    def __init__(self, database: Path) -> None:
        self.path = Path(f"{database}-wal")
        self.largest = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-watch", daemon=True)

    def __enter__(self) -> WalWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            try:
                self.largest = max(self.largest, self.path.stat().st_size)
            except FileNotFoundError:
                continue

    @property
    def largest_mb(self) -> float:
        return round(self.largest / 2**20, 2)
