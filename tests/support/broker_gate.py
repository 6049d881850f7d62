"""A gate between the edge and its broker: while shut, the edge's link can only keep reconnecting.

With the gate shut and the broker up, modules publish to the broker while the edge is away, which is
what the broker's persistent session is for; opening the gate lets the edge back in.
"""

from __future__ import annotations

import asyncio

from tests.support.tcp_proxy import TcpProxy


class BrokerGate(TcpProxy):
    """A `TcpProxy` that, while shut, cuts every connection through it and refuses new ones.

    A refused connection is accepted and reset at once, the way a broker that is not there yet looks to
    a client whose TCP connect happened to land: the MQTT handshake fails and the client backs off.
    """

    def __init__(self, target_port: int) -> None:
        super().__init__(target_port)
        self.is_open = True
        self.refused = 0

    def shut(self) -> None:
        self.is_open = False
        self.sever()

    def open(self) -> None:
        self.is_open = True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.is_open:
            self.refused += 1
            writer.transport.abort()
            return
        await super()._accept(reader, writer)
