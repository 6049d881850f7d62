"""Dashboard clients for the bench: many WebSocket stream clients in one process, each reading every message.

    python -m bench.stream_clients --url ws://127.0.0.1:8000/api/v1/stream?token=... --clients 50 \
        --out clients.json

Each client connects as a browser does (permessage-deflate offered), reads and parses every message the
edge sends, and for every event in a delta takes the lag: the time the client received the delta
(`time.time()` as the message is handed over by the socket) minus the event's `timestamp`, which the edge
stamps with its own `time.time()` as the writer applies the command, just before the commit. Both
processes read the same clock: this is one machine. Clients of one process share the parsing of
identical texts (`SharedParser`), so the bench does not measure its own JSON decoding fifty times over.
The clients run until SIGTERM or SIGINT, then write a histogram of the lags (1 ms buckets), what each
client saw, and this process's CPU share to `--out`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import resource
import signal
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import websockets
from websockets.exceptions import ConnectionClosed

BUCKET_MS = 1.0
MAX_LAG_MS = 60_000.0


@dataclass
class LagHistogram:
    """Lags in 1 ms buckets up to a minute (beyond that, the last bucket) plus the exact maximum."""

    counts: dict[int, int] = field(default_factory=dict)
    total: int = 0
    max_ms: float = 0.0

    def add(self, lag_ms: float) -> None:
        bucket = int(min(max(lag_ms, 0.0), MAX_LAG_MS) // BUCKET_MS)
        self.counts[bucket] = self.counts.get(bucket, 0) + 1
        self.total += 1
        self.max_ms = max(self.max_ms, lag_ms)

    def merge(self, other: LagHistogram) -> None:
        for bucket, count in other.counts.items():
            self.counts[bucket] = self.counts.get(bucket, 0) + count
        self.total += other.total
        self.max_ms = max(self.max_ms, other.max_ms)

    def percentile(self, p: float) -> float | None:
        """The upper edge of the bucket holding the p-th lag: never under-states a lag."""
        if not self.total:
            return None
        rank = math.ceil(p * self.total)
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                return min((bucket + 1) * BUCKET_MS, self.max_ms)
        return self.max_ms

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": {str(k): v for k, v in self.counts.items()},
            "total": self.total,
            "max_ms": self.max_ms,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LagHistogram:
        return cls(
            counts={int(k): int(v) for k, v in data["counts"].items()},
            total=int(data["total"]),
            max_ms=float(data["max_ms"]),
        )


@dataclass
class ClientRecord:
    index: int
    messages: int = 0
    snapshots: int = 0  # the first is the connect; every later one is a resync the edge sent
    deltas: int = 0
    events: int = 0
    bytes: int = 0
    seq_gaps: int = 0  # deltas whose events did not follow on from the last seq seen (outside a resync)
    closed: str | None = None  # why the connection ended before we stopped it
    deflate: bool = False  # the edge agreed to permessage-deflate on this connection
    seq: int = 0


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@dataclass(frozen=True, slots=True)
class Parsed:
    kind: str
    seq: int
    events: tuple[tuple[int, float], ...]  # (seq, timestamp as epoch seconds) of each event


class SharedParser:
    """Parses each distinct message text once for every client of this process.

    The edge sends every client that keeps up the same text, so fifty clients would otherwise parse the
    same JSON fifty times, and the bench would measure its own parsing. Each client still reads every
    byte of every message off its own socket; a text is looked up by equality, not trusted by size."""

    def __init__(self, keep: int = 64) -> None:
        self._keep = keep
        self._parsed: OrderedDict[str, Parsed] = OrderedDict()

    def parse(self, raw: str) -> Parsed:
        parsed = self._parsed.get(raw)
        if parsed is None:
            message = json.loads(raw)
            events = tuple((e["seq"], epoch(e["timestamp"])) for e in message.get("events", ()))
            parsed = Parsed(kind=message["type"], seq=message["seq"], events=events)
            self._parsed[raw] = parsed
            if len(self._parsed) > self._keep:
                self._parsed.popitem(last=False)
        return parsed


async def read_stream(
    url: str,
    record: ClientRecord,
    lags: LagHistogram,
    connected: asyncio.Event,
    parser: SharedParser,
    *,
    deflate: bool,
) -> None:
    try:
        async with websockets.connect(
            url, max_size=None, open_timeout=30, compression="deflate" if deflate else None
        ) as ws:
            record.deflate = bool(ws.protocol.extensions)
            async for raw in ws:
                received = time.time()
                record.messages += 1
                record.bytes += len(raw)
                message = parser.parse(raw if isinstance(raw, str) else raw.decode())
                if message.kind == "snapshot":
                    record.snapshots += 1
                    record.seq = message.seq
                    connected.set()
                    continue
                record.deltas += 1
                for seq, timestamp in message.events:
                    record.events += 1
                    if seq != record.seq + 1:
                        record.seq_gaps += 1
                    record.seq = seq
                    lags.add((received - timestamp) * 1000)
    except ConnectionClosed as closed:
        record.closed = f"closed by the edge: {closed}"
    except OSError as err:
        record.closed = f"{type(err).__name__}: {err}"


async def run(url: str, clients: int, out: Path, ready: Path | None, *, deflate: bool) -> None:
    lags = LagHistogram()
    records = [ClientRecord(index=i) for i in range(clients)]
    events = [asyncio.Event() for _ in range(clients)]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parser = SharedParser()
    tasks = []
    for record, connected in zip(records, events, strict=True):
        tasks.append(asyncio.create_task(read_stream(url, record, lags, connected, parser, deflate=deflate)))
        await asyncio.sleep(0.005)  # do not open every handshake in the same instant
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(60):
            await asyncio.gather(*(e.wait() for e in events))
    if ready is not None:
        await asyncio.to_thread(_write_atomically, ready, str(sum(e.is_set() for e in events)))
    cpu_at_ready = _cpu_seconds()
    ready_at = time.monotonic()
    await stop.wait()
    cpu_s = _cpu_seconds() - cpu_at_ready
    wall_s = time.monotonic() - ready_at
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.to_thread(
        out.write_text,
        json.dumps(
            {
                "clients": clients,
                "connected": sum(e.is_set() for e in events),
                "lags": lags.to_json(),
                "records": [vars(r) for r in records],
                "cpu_percent": round(100 * cpu_s / wall_s, 1) if wall_s > 0 else None,
            }
        ),
    )


def _write_atomically(path: Path, text: str) -> None:
    """The bench polls for this file: it must never see it half written."""
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    partial.replace(path)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.stream_clients", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--ready", type=Path, help="written with the number connected once all have a snapshot"
    )
    parser.add_argument(
        "--no-deflate", action="store_true", help="do not offer permessage-deflate (browsers always do)"
    )
    args = parser.parse_args()
    asyncio.run(run(args.url, args.clients, args.out, args.ready, deflate=not args.no_deflate))


if __name__ == "__main__":
    main()
