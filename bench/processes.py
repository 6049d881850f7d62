"""The processes a phase runs and measures: mosquitto, a `floorgate run` edge, and the loaders."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from bench.floor import SITE, TOKEN
from floorgate.firmware_sim.loadgen import percentiles_ms

# The repository: the edge and the loaders run from here, as `python -m ...`.
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def mosquitto(workdir: Path) -> Iterator[str]:
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n"
        "max_inflight_messages 1000\nmax_queued_messages 1000000\n"
    )
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    process = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Edge:
    config: Path
    http_port: int
    process: subprocess.Popen[bytes] | None = None
    samples: list[tuple[float, int, float]] = field(default_factory=list)  # (t, rss bytes, cpu seconds)

    def start(self, log: Path) -> float:
        started = time.monotonic()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "floorgate.edge.cli",
                "--log-level",
                "WARNING",
                "run",
                "--config",
                str(self.config),
            ],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the edge exited: see {log}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError("the edge did not become healthy within 120 s")

    def sample(self) -> tuple[int, float]:
        assert self.process is not None
        pid = self.process.pid
        with open(f"/proc/{pid}/status") as status:
            rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS"))
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        self.samples.append((time.monotonic(), rss, cpu))
        return rss, cpu

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def metric(self, name: str) -> float:
        text = httpx.get(
            f"http://127.0.0.1:{self.http_port}/metrics",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        ).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0


def run_loaders(
    broker: str,
    module_names: list[str],
    loaders: int,
    duration: float,
    rate: float | None,
    workdir: Path,
    tag: str,
) -> dict[str, Any]:
    chunk = (len(module_names) + loaders - 1) // loaders
    processes = []
    outs = []
    for index in range(loaders):
        part = module_names[index * chunk : (index + 1) * chunk]
        out = workdir / f"{tag}-{index}.json"
        outs.append(out)
        command = [
            sys.executable,
            "-m",
            "floorgate.firmware_sim.loadgen",
            "--broker",
            broker,
            "--site",
            SITE,
            "--modules",
            f"{part[0]}-{part[-1]}",
            "--duration",
            str(duration),
            "--out",
            str(out),
        ]
        if rate:
            command += ["--rate", str(rate / loaders)]
        processes.append(subprocess.Popen(command, cwd=ROOT))
    for process in processes:
        process.wait(timeout=duration + 120)
    results = [json.loads(out.read_text()) for out in outs]
    answered = sum(r["answered"] for r in results)
    return {
        "loaders": loaders,
        "rate_offered": rate,
        "answered": answered,
        "per_second": round(answered / duration, 1),
        "latency_ms_by_loader": [r["latency_ms"] for r in results],
        # Percentiles over every press of every loader together: the light's arrival at the loader's
        # socket (the kernel's receive stamp) ...
        **pooled_percentiles(results, "latencies_us", "latency_ms"),
        # ... and when the loader's Python read it, which adds the loader's own scheduling delays.
        **pooled_percentiles(results, "seen_latencies_us", "seen_latency_ms"),
        "latency_ms_worst_loader_p99": max((r["latency_ms"]["p99"] or 0) for r in results),
    }


def pooled_percentiles(results: list[dict[str, Any]], key: str, prefix: str) -> dict[str, float]:
    """Percentiles over the latencies (in microseconds, under `key`) of every loader together."""
    pooled = sorted(us / 1e6 for r in results for us in r.get(key, ()))
    return {f"{prefix}_{name}": value or 0.0 for name, value in percentiles_ms(pooled).items()}


def wait_for_line(stream: IO[str], expected: str, *, timeout: float) -> bool:
    """Whether `stream` printed the line `expected` within `timeout` s (False at once if it ended)."""
    settled = threading.Event()
    found: list[bool] = []

    def read() -> None:
        for line in stream:
            if line.strip() == expected:
                found.append(True)
                break
        settled.set()

    threading.Thread(target=read, daemon=True, name="wait-for-line").start()
    settled.wait(timeout)
    return bool(found)
