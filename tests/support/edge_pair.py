"""An active/standby pair of real `floorgate run` processes on one PostgreSQL store, and the front a load
balancer puts before them (it follows `/healthz/ready`, as docs/ha.md's haproxy does)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from pathlib import Path

import httpx

from tests.support.edge_process import EdgeProcess
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_until


def pair_edges(
    workdir: Path,
    *,
    site: str,
    mqtt_url: str,
    store_url: str,
    extra_site: str = "",
    lease_timeout_s: float = 5.0,
    names: Sequence[str] = ("edge-a", "edge-b"),
) -> list[EdgeProcess]:
    """Two edges whose site files differ only in `[edge] id` (and their HTTP port, both on this host).

    The lease's timeout is longer than the default 2 s: an active edge steps down when it could not
    confirm its lease for that long, and a test machine loaded with other work starves a process for
    seconds. A dead edge's lease is free at once whatever the timeout.
    """
    edges = []
    for name in names:
        folder = workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        edges.append(
            EdgeProcess(
                workdir=folder,
                site=site,
                mqtt_url=mqtt_url,
                edge_id=name,
                edge_settings=f"standby = true\nlease_timeout_s = {lease_timeout_s}",
                extra_site=f'[store]\nurl = "{store_url}"\n\n{extra_site}',
                healthy_path="/healthz/live",  # a standby is live, never ready
            )
        )
    return edges


async def readiness(edge: EdgeProcess, client: httpx.AsyncClient) -> int | None:
    """The edge's `/healthz/ready` status, or None when it does not answer (dead, paused, starting)."""
    try:
        return (await client.get(f"{edge.base_url}/healthz/ready", timeout=0.5)).status_code
    except httpx.HTTPError:
        return None


async def wait_active(
    edges: Sequence[EdgeProcess], *, timeout: float, other_than: EdgeProcess | None = None
) -> EdgeProcess:
    """The one edge of the pair that answers ready (and not `other_than`), once one does."""
    async with httpx.AsyncClient() as client:

        async def active() -> EdgeProcess | None:
            for edge in edges:
                if edge is not other_than and await readiness(edge, client) == 200:
                    return edge
            return None

        found: EdgeProcess | None = await wait_until(
            active, timeout=timeout, interval=0.05, what="an edge of the pair active"
        )
        assert found is not None  # wait_until returns a truthy value or raises
        return found


async def start_pair(edges: Sequence[EdgeProcess], *, timeout: float) -> EdgeProcess:
    """Start the first edge, wait until it is active, then start the second as its standby; the active."""
    first, second = edges
    await asyncio.to_thread(first.start, timeout=timeout)
    active = await wait_active(edges, timeout=timeout)
    await asyncio.to_thread(second.start, timeout=timeout)
    return active


class ReadyFront(TcpProxy):
    """One address for the pair: each new connection goes to the edge that last answered ready."""

    def __init__(self, edges: Sequence[EdgeProcess]) -> None:
        super().__init__(edges[0].http_port)
        self.edges = list(edges)
        self._watch: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> ReadyFront:
        await super().__aenter__()
        self._watch = asyncio.create_task(self._follow(), name="ready-front")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await super().__aexit__(*exc_info)

    async def _follow(self) -> None:
        async with httpx.AsyncClient() as client:
            while True:
                for edge in self.edges:
                    if await readiness(edge, client) == 200:
                        self.target_port = edge.http_port
                        break
                await asyncio.sleep(0.1)
