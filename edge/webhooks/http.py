"""HTTP/1.1 POSTs for the webhook relay: keep-alive connections per origin, h11 over asyncio streams.

httpx spends about a millisecond of CPU on each request on a small edge (its models, its pool and
anyio around h11), which made the HTTP client, not the network or the ERP, the limit when a backlog
drains. The relay's requests are narrow: a POST of a small signed body, answered with a status, a few
headers and a short body. So the relay sends them itself: h11 keeps the protocol right (chunked or
sized bodies, keep-alive, a connection the receiver closes), asyncio does the sockets and TLS, with the
same certificate trust as httpx. What this does not do (a proxy from the environment, credentials in
the URL) goes through httpx as before: `needs_httpx` says which.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import urllib.request
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import h11

if TYPE_CHECKING:
    import httpx

MAX_BODY_KEPT = 4096  # only the start of an answer's body is kept, for the delivery's error message
READ_CHUNK = 65536


class HttpFailure(Exception):
    """No answer: the connection was refused, reset or closed early, TLS failed, or the answer was not HTTP."""


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]  # names in lower case
    text: str  # the start of the body


@dataclass(frozen=True, slots=True)
class _Target:
    origin: tuple[str, str, int]  # scheme, host, port
    path: str  # path and query, as sent in the request line
    host_header: str


@functools.cache
def _target(url: str) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"} or not parts.hostname:
        raise HttpFailure(f"not an http:// or https:// URL: {url!r}")
    port = parts.port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(origin=(scheme, parts.hostname, port), path=path, host_header=parts.netloc)


@functools.cache
def needs_httpx(url: str) -> bool:
    """Whether this URL needs what only httpx does here: credentials in the URL, or an environment proxy."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        return True
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme.lower()) or proxies.get("all")
    return bool(proxy) and not urllib.request.proxy_bypass(parts.hostname or "")


@dataclass(eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    protocol: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))

    def usable(self) -> bool:
        """Idle and still open: a receiver that closed an idle connection has sent its EOF by now."""
        return not self.reader.at_eof() and not self.writer.is_closing()

    async def exchange(self, request: h11.Request, body: bytes) -> tuple[HttpAnswer, bool]:
        """Send one request, read its answer; also whether the connection may carry another."""
        send = self.protocol.send
        parts = (send(request), send(h11.Data(data=body)), send(h11.EndOfMessage()))
        self.writer.write(b"".join(part for part in parts if part))
        await self.writer.drain()
        status = 0
        headers: dict[str, str] = {}
        kept = bytearray()
        while True:
            event = self.protocol.next_event()
            if event is h11.NEED_DATA:
                data = await self.reader.read(READ_CHUNK)
                if not data and not status:
                    raise HttpFailure("the receiver closed the connection without an answer")
                self.protocol.receive_data(data)  # b"": the end of a body that runs to the close
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in event.headers}
            elif isinstance(event, h11.Data):
                if len(kept) < MAX_BODY_KEPT:
                    kept += event.data[: MAX_BODY_KEPT - len(kept)]
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise HttpFailure("the receiver closed the connection without an answer")
            # an InformationalResponse (1xx) is followed by the real answer: read on
        reusable = self.protocol.our_state is h11.DONE and self.protocol.their_state is h11.DONE
        if reusable:
            self.protocol.start_next_cycle()
        return HttpAnswer(status=status, headers=headers, text=kept.decode("utf-8", "replace")), reusable

    def close(self) -> None:
        self.writer.close()


class KeepAliveClient:
    """POSTs over kept-alive connections; one request per connection at a time, as many connections as
    requests in flight (the relay bounds those), at most `max_idle` kept per origin between requests."""

    def __init__(self, *, user_agent: str = "FloorGate", max_idle: int = 32) -> None:
        self._user_agent = user_agent.encode()
        self._max_idle = max_idle
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}
        self._tls: ssl.SSLContext | None = None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpAnswer:
        """POST `body`; raises HttpFailure when the request could not be made or answered. The caller
        bounds the time (asyncio.timeout): a request cut short closes its connection."""
        target = _target(url)
        request = h11.Request(
            method="POST",
            target=target.path,
            headers=[
                (b"host", target.host_header.encode()),
                (b"user-agent", self._user_agent),
                (b"content-length", str(len(body)).encode()),
                *((name.encode(), value.encode()) for name, value in headers.items()),
            ],
        )
        connection = self._take_idle(target.origin)
        answer: HttpAnswer | None = None
        reusable = False
        try:
            if connection is None:
                connection = await self._connect(target.origin)
            answer, reusable = await connection.exchange(request, body)
        except h11.ProtocolError as err:
            raise HttpFailure(f"the receiver's answer was not HTTP/1.1 or was cut short: {err}") from err
        except (OSError, EOFError) as err:
            raise HttpFailure(f"{type(err).__name__}: {err}") from err
        finally:
            if connection is not None:
                if reusable:
                    self._put_idle(target.origin, connection)
                else:
                    connection.close()
        assert answer is not None
        return answer

    def idle_connections(self, url: str) -> int:
        """Kept-alive connections to the URL's origin that are still open (for /metrics and tests)."""
        return sum(1 for c in self._idle.get(_target(url).origin, ()) if c.usable())

    async def aclose(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.popleft().close()

    def _take_idle(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.usable():
                return connection
            connection.close()
        return None

    def _put_idle(self, origin: tuple[str, str, int], connection: _Connection) -> None:
        idle = self._idle.setdefault(origin, deque())
        if len(idle) >= self._max_idle:
            connection.close()
        else:
            idle.append(connection)

    async def _connect(self, origin: tuple[str, str, int]) -> _Connection:
        scheme, host, port = origin
        tls = None
        if scheme == "https":
            tls = self._tls_context()
        reader, writer = await asyncio.open_connection(
            host, port, ssl=tls, server_hostname=host if tls else None, limit=READ_CHUNK
        )
        return _Connection(reader=reader, writer=writer)

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            import httpx  # imported when first needed: it takes a tenth of a second at start-up

            # The trust httpx had (certifi, or SSL_CERT_FILE / SSL_CERT_DIR from the environment).
            self._tls = httpx.create_ssl_context()
            self._tls.set_alpn_protocols(["http/1.1"])
        return self._tls


async def post_with_httpx(
    client: httpx.AsyncClient, url: str, body: bytes, headers: Mapping[str, str]
) -> HttpAnswer:
    """The same request through httpx, for what KeepAliveClient leaves to it; the same errors. The
    caller bounds the time, as for KeepAliveClient."""
    import httpx

    try:
        response = await client.post(url, content=body, headers=dict(headers), timeout=None)
    except httpx.HTTPError as err:
        raise HttpFailure(f"{type(err).__name__}: {err}") from err
    return HttpAnswer(
        status=response.status_code, headers=response.headers, text=response.text[:MAX_BODY_KEPT]
    )
