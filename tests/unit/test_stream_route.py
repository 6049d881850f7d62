"""The stream's route over a stand-in socket: what a client too far behind is told when it is closed."""

from __future__ import annotations

import asyncio
import json
import time
from types import SimpleNamespace
from typing import Any

import pytest

from floorgate.core.floor import Floor
from floorgate.edge.web_ports import LiveFloor
from floorgate.web.kpis import KpiTracker
from floorgate.web.roles import Role
from floorgate.web.routes.stream import TRY_AGAIN_LATER, stream
from floorgate.web.stream import StreamHub

pytestmark = pytest.mark.unit

NOW = 1_700_000_000.0


class Socket:
    """What the route uses of a Starlette WebSocket; the client on the other side never sends anything."""

    def __init__(self, context: Any) -> None:
        self.app = SimpleNamespace(state=SimpleNamespace(context=context))
        self.headers: dict[str, str] = {}
        self.sent: list[dict[str, Any]] = []
        self.closed: list[tuple[int, str]] = []
        self.gone = asyncio.Event()

    async def accept(self) -> None:
        pass

    async def send_json(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def receive_text(self) -> str:
        await self.gone.wait()
        raise RuntimeError("not reached in these tests")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed.append((code, reason))


async def test_a_client_that_falls_too_far_behind_again_is_closed_with_1013_and_a_reason() -> None:
    hub = StreamHub(
        floor=LiveFloor(floor=Floor),
        last_seq=lambda: 0,
        clock=lambda: NOW,
        kpis=KpiTracker(shift_started_at=NOW),
    )
    context = SimpleNamespace(hub=hub, site_id="dc1", tokens={"t": Role.VIEWER}, token_names={})
    socket = Socket(context)
    route = asyncio.create_task(stream(socket, token="t"))  # type: ignore[arg-type]
    deadline = time.monotonic() + 5
    while not hub.clients:
        assert time.monotonic() < deadline, "the route never connected its client"
        await asyncio.sleep(0.01)
    (client,) = hub.clients
    client.resynced_at = time.monotonic()  # it was sent a snapshot a moment ago
    client.resync = True  # and has overflowed again
    client.wake.set()

    await asyncio.wait_for(route, timeout=5)

    assert socket.sent[0]["type"] == "snapshot"  # the first message, as for any client
    assert socket.closed[0] == (TRY_AGAIN_LATER, "too far behind: reconnect to resume")
    assert not hub.clients
