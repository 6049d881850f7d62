"""A local ERP for the webhook bench: HTTP/1.1 on loopback, every delivery verified with `standardwebhooks`.

    BENCH_WEBHOOK_SECRET=whsec_... python -m bench.webhook_sink serve --port 9000      # until SIGTERM
    BENCH_WEBHOOK_SECRET=whsec_... python -m bench.webhook_sink blast --url http://127.0.0.1:9000/capacity

`serve` answers 204 to every POST whose signature verifies (401 otherwise) and counts, for POST /hooks,
what a receiver would check: deliveries, distinct webhook ids, duplicates, signatures that failed, and
events of an order that arrived after a later event of the same order. GET /stats answers those counts
as JSON. It is a plain asyncio protocol (keep-alive, pipelining) so that verifying stays the only work
per request: the bench must show the receiver is not what limits the drain.

`blast` measures the receiver alone: pre-signed deliveries over several keep-alive connections as fast as
they are answered, posted to /capacity (verified the same way, counted apart from the drain).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"
UNAUTHORIZED = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n"
MAX_HEAD = 64 * 1024
SECRET_ENV = "BENCH_WEBHOOK_SECRET"  # the name of the variable the secret is passed in


@dataclass
class SinkStats:
    accepted: int = 0  # deliveries to /hooks that verified
    distinct: int = 0
    duplicates: int = 0
    unverified: int = 0
    out_of_order: int = 0  # an order's event that arrived after a later event of that order
    first_at: float | None = None  # time.time() of the first verified delivery
    last_at: float | None = None
    capacity_requests: int = 0  # verified requests to /capacity (the receiver's own limit)
    seen: set[str] = field(default_factory=set)
    last_seq_by_order: dict[str, int] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "distinct": self.distinct,
            "duplicates": self.duplicates,
            "unverified": self.unverified,
            "out_of_order": self.out_of_order,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "capacity_requests": self.capacity_requests,
            "orders": len(self.last_seq_by_order),
        }


class SinkProtocol(asyncio.Protocol):
    def __init__(self, verifier: Webhook, stats: SinkStats) -> None:
        self.verifier = verifier
        self.stats = stats
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self._one_request():
            pass

    def _one_request(self) -> bool:
        """Answer the first complete request in the buffer; False when there is none yet."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD and self.transport is not None:
                self.transport.close()
            return False
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if len(self.buffer) < end + 4 + length:
            return False
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        method, path, _ = head[0].split(" ", 2)
        assert self.transport is not None
        self.transport.write(self._answer(method, path, headers, body))
        return True

    def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        if method == "GET" and path == "/stats":
            payload = json.dumps(self.stats.view()).encode()
            return (
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                + str(len(payload)).encode()
                + b"\r\n\r\n"
                + payload
            )
        try:
            delivery = self.verifier.verify(body, headers)
        except WebhookVerificationError:
            self.stats.unverified += 1
            return UNAUTHORIZED
        if path == "/capacity":
            self.stats.capacity_requests += 1
        else:
            self._record(headers["webhook-id"], delivery)
        return NO_CONTENT

    def _record(self, webhook_id: str, delivery: dict[str, Any]) -> None:
        stats = self.stats
        now = time.time()
        stats.accepted += 1
        if stats.first_at is None:
            stats.first_at = now
        stats.last_at = now
        if webhook_id in stats.seen:
            stats.duplicates += 1
            return
        stats.seen.add(webhook_id)
        stats.distinct += 1
        order = delivery.get("data", {}).get("order")
        if order is not None:
            seq = int(delivery["seq"])
            if seq < stats.last_seq_by_order.get(order, 0):
                stats.out_of_order += 1
            stats.last_seq_by_order[order] = max(seq, stats.last_seq_by_order.get(order, 0))


async def serve(port: int, secret: str) -> None:
    stats = SinkStats()
    verifier = Webhook(secret)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SinkProtocol(verifier, stats), "127.0.0.1", port, backlog=512)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def signed_request(host: str, path: str, secret: str, number: int) -> bytes:
    """One delivery as the edge would send it, signed now (the library accepts 5 minutes of skew)."""
    msg_id = f"evt_blast_{number:08d}"
    timestamp = int(time.time())
    body = json.dumps(
        {
            "type": "pick.confirmed",
            "timestamp": "2026-01-01T00:00:00.000Z",
            "data": {"order": f"CAP{number % 50}", "line": str(number), "qty": 1, "picked": 1},
            "seq": number,
        },
        separators=(",", ":"),
    ).encode()
    key = base64.b64decode(secret.removeprefix("whsec_") + "==")
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    signature = "v1," + base64.b64encode(digest).decode()
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"webhook-id: {msg_id}\r\nwebhook-timestamp: {timestamp}\r\nwebhook-signature: {signature}\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def blast(url: str, secret: str, seconds: float, connections: int) -> dict[str, Any]:
    """Requests per second the receiver answers 204, over `connections` keep-alive connections."""
    rest = url.removeprefix("http://")
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    requests = [signed_request(hostport, "/" + path, secret, n) for n in range(1000)]
    answered = 0
    refused = 0
    deadline = time.monotonic() + seconds

    async def one_connection(offset: int) -> None:
        nonlocal answered, refused
        reader, writer = await asyncio.open_connection(host, int(port))
        n = offset
        while time.monotonic() < deadline:
            writer.write(requests[n % len(requests)])
            n += 1
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length:
                await reader.readexactly(length)
            if status.startswith(b"HTTP/1.1 204"):
                answered += 1
            else:
                refused += 1
        writer.close()

    started = time.monotonic()
    await asyncio.gather(*(one_connection(i * 97) for i in range(connections)))
    elapsed = time.monotonic() - started
    return {
        "per_second": round(answered / elapsed, 1),
        "answered": answered,
        "refused": refused,
        "connections": connections,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.webhook_sink", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    serving = sub.add_parser("serve")
    serving.add_argument("--port", type=int, required=True)
    blasting = sub.add_parser("blast")
    blasting.add_argument("--url", required=True)
    blasting.add_argument("--seconds", type=float, default=3)
    blasting.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    secret = os.environ.get(SECRET_ENV)
    if not secret:
        parser.error(f"set {SECRET_ENV} to the endpoint's whsec_ secret")
    if args.mode == "serve":
        asyncio.run(serve(args.port, secret))
    else:
        print(json.dumps(asyncio.run(blast(args.url, secret, args.seconds, args.connections))))


if __name__ == "__main__":
    main()
