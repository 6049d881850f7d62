"""How busy the machine was during a phase: the bench shares its cores, and a figure must say so.

Linux's pressure stall information (/proc/pressure/cpu) counts the time some runnable task waited for a
CPU; over a phase, that share and the load average tell a quiet run from one that shared the machine.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PRESSURE = Path("/proc/pressure/cpu")


def cpu_pressure() -> tuple[float, float]:
    """(monotonic time, total microseconds some task waited for a CPU); 0 where PSI is not available."""
    total = 0.0
    if PRESSURE.exists():
        for line in PRESSURE.read_text().splitlines():
            if line.startswith("some"):
                total = float(line.rsplit("total=", 1)[1])
    return time.monotonic(), total


def cpu_pressure_since(start: tuple[float, float]) -> dict[str, float]:
    """The share of the time since `start` that runnable tasks waited for a CPU, and the load average."""
    now, total = cpu_pressure()
    elapsed = now - start[0]
    return {
        "cpu_wait_percent": round(100 * (total - start[1]) / 1e6 / elapsed, 1) if elapsed > 0 else 0.0,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
