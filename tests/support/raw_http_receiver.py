"""A fake webhook receiver at the byte level: scripted raw HTTP/1.1 answers, counted connections.

Unlike tests/support/webhook_receiver.py (a verifying ERP), it lets a test answer with any bytes at all:
chunked bodies, a head that never ends, a connection closed mid-exchange.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"


@dataclass
class RawReceiver:
    """Answers each request with the bytes `answer(n)` gives for the n-th request (1-based); None closes
    the connection without a word. Counts connections and keeps each request's body."""

    answer: Callable[[int], bytes | None] = lambda n: NO_CONTENT
    close_after_each: bool = False  # close the connection once the answer is written (an idle timeout)
    connections: int = 0
    bodies: list[bytes] = field(default_factory=list)
    closed: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> RawReceiver:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        return self

    def close(self) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/hooks?source=edge"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection; a test that needs its own server (TLS) passes this to start_server."""
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                self.bodies.append(await reader.readexactly(length))
                reply = self.answer(len(self.bodies))
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
                if self.close_after_each:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.closed += 1
