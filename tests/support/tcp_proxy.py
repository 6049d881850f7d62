"""A loopback TCP forwarder that tests put between a client and a broker to cut the line abruptly."""

from __future__ import annotations

import asyncio
import contextlib

from tests.support.brokers import free_port


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


class TcpProxy:
    """Forwards `127.0.0.1:{port}` to `127.0.0.1:{target_port}`.

    `sever()` aborts every open connection (an RST both ways, no MQTT DISCONNECT): to the broker it
    looks like the edge's host or network died, so the broker publishes the edge's will. New
    connections keep being forwarded, so the edge can reconnect.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections = 0

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.close()
        self.sever()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def sever(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            except OSError:
                writer.transport.abort()
                return
            self.connections += 1
            self._writers.update((writer, up_writer))
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            self._writers.difference_update((writer, up_writer))
        finally:
            self._tasks.discard(task)
