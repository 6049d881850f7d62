"""The machine a run measured on: what it is, and how busy it was while a phase ran."""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any


def machine() -> dict[str, Any]:
    cpu = ""
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mosquitto = subprocess.run(
        ["mosquitto", "-h"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "mosquitto": mosquitto[0] if mosquitto else "?",
    }


class MachineLoad:
    """How busy the whole machine was between `start()` and `stop()`: every process, not only the edge.

    On a shared virtual machine the same work can cost twice the CPU time from one run to the next
    (the host's other guests), and the latency tail moves with it; this puts that beside each figure.
    """

    def __init__(self) -> None:
        self._start: list[int] = []

    @staticmethod
    def _ticks() -> list[int]:
        with open("/proc/stat") as stat:
            return [int(x) for x in stat.readline().split()[1:]]

    def start(self) -> None:
        self._start = self._ticks()

    def stop(self) -> dict[str, float]:
        # user nice system idle iowait irq softirq steal ...
        delta = [b - a for a, b in zip(self._start, self._ticks(), strict=False)]
        total = sum(delta[:8]) or 1
        return {
            "machine_busy_percent": round(100 * (total - delta[3] - delta[4]) / total, 1),
            "machine_steal_percent": round(100 * delta[7] / total, 1),
        }


# Steal is CPU time the hypervisor gave other guests. Past this share of the latency phase, this 2-core
# machine's p99 has run 10-14 ms where a quiet host gives 5-9 ms (docs/benchmarks.md): the table says so.
STEAL_NOTICE_PERCENT = 2.0


def steal_notice(steal_percent: float) -> str:
    if steal_percent < STEAL_NOTICE_PERCENT:
        return ""
    return f"host steal >= {STEAL_NOTICE_PERCENT:g}%: the tail shows the host; compare a quieter run"
