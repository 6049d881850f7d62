"""An ERP webhook receiver for tests: real HTTP on loopback, every request verified with `standardwebhooks`.

Its behaviour is scripted per request (accept, refuse with a status, hang, or drop the connection), so
tests can play an ERP that is down, throttling, gone or flaky.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Reply:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # never answer: the sender must time out
    drop: bool = False  # close the connection without answering
    delay: float = 0.0  # answer after this many seconds (lets tests see requests overlap)


@dataclass(frozen=True)
class Received:
    id: str
    type: str
    seq: int
    order: str | None
    signatures: str
    verified_with: tuple[int, ...]  # indexes of the secrets that verify it
    at: float


Script = Callable[["Request"], Reply]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    number: int


@dataclass
class WebhookReceiver:
    secrets: list[str]
    script: Script = lambda request: Reply()
    host: str = "127.0.0.1"
    port: int = 0
    accepted: list[Received] = field(default_factory=list)  # answered 2xx, in arrival order
    requests: list[Request] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0  # the most requests that were open at once
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks/floorgate"

    def accepted_ids(self) -> list[str]:
        return [r.id for r in self.accepted]

    async def __aenter__(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    def verify(self, body: bytes, headers: dict[str, str]) -> tuple[int, ...]:
        good = []
        for index, secret in enumerate(self.secrets):
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            good.append(index)
        return tuple(good)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await self._read(reader)
                if request is None:
                    return
                self.requests.append(request)
                reply = self.script(request)
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    if reply.delay:
                        await asyncio.sleep(reply.delay)
                finally:
                    self.in_flight -= 1
                if reply.drop:
                    writer.transport.abort()
                    return
                if reply.hang:
                    await asyncio.sleep(3600)
                    return
                if 200 <= reply.status < 300:
                    self._record(request)
                head = f"HTTP/1.1 {reply.status} X\r\ncontent-length: 0\r\n"
                head += "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
                writer.write((head + "\r\n").encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> Request | None:
        line = await reader.readline()
        if not line:
            return None
        method, path, _ = line.decode().split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Request(method, path, headers, body, len(self.requests) + 1)

    def _record(self, request: Request) -> None:
        verified = self.verify(request.body, request.headers)
        if not verified:
            self.unverified.append(request.headers.get("webhook-id", "?"))
            return
        payload: dict[str, Any] = json.loads(request.body)
        self.accepted.append(
            Received(
                id=request.headers["webhook-id"],
                type=payload["type"],
                seq=payload["seq"],
                order=payload["data"].get("order"),
                signatures=request.headers["webhook-signature"],
                verified_with=verified,
                at=asyncio.get_running_loop().time(),
            )
        )


def refuse_first(count: int, status: int = 503, headers: dict[str, str] | None = None) -> Script:
    """Refuse the first `count` requests with `status`, then accept everything."""

    def script(request: Request) -> Reply:
        return Reply(status, headers or {}) if request.number <= count else Reply(204)

    return script
