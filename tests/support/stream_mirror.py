"""A stream client for tests: keeps the floor as the dashboard does, from a snapshot and its deltas."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from tests.support.waiting import wait_until

# The entity lists of a message and the key of an entity in each (web/stream.py ENTITY_KEYS).
ENTITY_KEYS = {
    "locations": "code",
    "orders": "order_id",
    "exceptions": "id",
    "devices": "id",
    "stations": "id",
    "putaways": "task_id",
    "counts": "count_id",
    "walls": "id",
}


@dataclass
class StreamMirror:
    """Applies every message it reads; unlike the dashboard it keeps finished orders and all events."""

    url: str
    seq: int = 0
    snapshots: int = 0
    messages: int = 0
    entities: dict[str, dict[Any, dict[str, Any]]] = field(
        default_factory=lambda: {part: {} for part in ENTITY_KEYS}
    )
    events: list[dict[str, Any]] = field(default_factory=list)
    kpis: dict[str, Any] = field(default_factory=dict)
    awaiting_ack: dict[str, Any] = field(default_factory=dict)
    _ws: ClientConnection | None = None
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StreamMirror:
        self._ws = await websockets.connect(self.url, max_size=None)
        self._task = asyncio.create_task(self._read(), name="stream-mirror")
        await wait_until(lambda: self.snapshots, what="the first snapshot")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        assert self._ws is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._ws.close()

    async def _read(self) -> None:
        assert self._ws is not None
        async for raw in self._ws:
            self.apply(json.loads(raw))

    def apply(self, message: dict[str, Any]) -> None:
        self.messages += 1
        if message["type"] == "snapshot":
            self.snapshots += 1
            for index in self.entities.values():
                index.clear()
            self.events = list(message.get("recent_events", []))
        else:
            assert message["seq"] >= self.seq, "seqs never go back"
            self.events.extend(message["events"])
        for part, key in ENTITY_KEYS.items():
            for entry in message.get(part, ()):
                self.entities[part][entry[key]] = entry
        self.kpis = message.get("kpis", self.kpis)
        self.awaiting_ack = message.get("awaiting_ack", self.awaiting_ack)
        self.seq = message["seq"]


class SilentClient:
    """A raw WebSocket client that completes the handshake and then never reads a byte.

    Its receive buffer and segment size are made tiny so the edge's socket fills after a few messages,
    as with a browser tab on a stalled Wi-Fi link.
    """

    def __init__(self, host: str, port: int, path: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        # A small MSS keeps the edge's kernel from buffering megabytes for us on loopback (its send
        # buffer grows with the segment size), so its socket really fills, as on a slow network.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
        self.sock.settimeout(5)
        self.sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:  # the handshake answer only; what follows is never read
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("the edge closed the connection during the handshake")
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head

    def close(self) -> None:
        self.sock.close()
