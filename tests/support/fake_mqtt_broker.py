"""A scripted fake MQTT broker: plays what a real one will not do on demand (go silent, send garbage,
never answer), and records every packet the client sent."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Self

from floorgate.devices.mqtt.wire import PINGRESP, PacketReader, PacketType

CONNACK_ACCEPTED = b"\x20\x02\x00\x00"


@dataclass
class LoopbackServer:
    """A TCP server on loopback that plays a broker's side: `_serve` (each kind's own) answers a client."""

    port: int = 0
    _server: asyncio.Server | None = None
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        await self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


@dataclass
class FakeBroker(LoopbackServer):
    """A loopback "broker" that reads CONNECT, answers with `connack` (None: never) and `after_connack`,
    answers PINGREQ only when told, and records every packet the client sent."""

    connack: bytes | None = CONNACK_ACCEPTED
    after_connack: bytes = b""
    answer_pings: bool = False
    close_at_connect: bool = False
    grant: list[int] | None = None  # the SUBACK return codes for every SUBSCRIBE; None: never answer
    packets: list[tuple[int, bytes]] = field(default_factory=list)
    client_gone: asyncio.Event = field(default_factory=asyncio.Event)

    def send(self, data: bytes) -> None:
        for writer in self._writers:
            writer.write(data)

    def of(self, kind: PacketType) -> list[bytes]:
        return [body for first, body in self.packets if first >> 4 == kind]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stream = PacketReader()
        try:
            while data := await reader.read(65536):
                for first, body in stream.feed(data):
                    self.packets.append((first, body))
                    self._answer(first >> 4, body, writer)
        except ConnectionError:
            pass  # the client aborted: an RST is one way for it to go
        finally:
            self.client_gone.set()
            writer.close()

    def _answer(self, kind: int, body: bytes, writer: asyncio.StreamWriter) -> None:
        if kind == PacketType.CONNECT:
            if self.close_at_connect:
                writer.close()
            elif self.connack is not None:
                writer.write(self.connack + self.after_connack)
        elif kind == PacketType.PINGREQ and self.answer_pings:
            writer.write(PINGRESP)
        elif kind == PacketType.SUBSCRIBE and self.grant is not None:
            writer.write(bytes((0x90, 2 + len(self.grant))) + body[:2] + bytes(self.grant))
