"""The live stream under a burst: what a client builds from it equals the REST API; a stalled client
slows nobody."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from floorgate.core.commands import Button
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.edge_process import TOKENS, EdgeProcess
from tests.support.master_data import seed_master_data
from tests.support.stream_mirror import SilentClient, StreamMirror
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

LOCATIONS = ("A-01", "A-02", "A-03")
MODULE_OF = {"A-01": "M-A-01", "A-02": "M-A-02", "A-03": "M-A-03"}


def stream_url(edge: EdgeProcess, role: str = "viewer") -> str:
    return f"ws://127.0.0.1:{edge.http_port}/api/v1/stream?token={TOKENS[role]}"


def async_client(edge: EdgeProcess, role: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"{edge.base_url}/api/v1",
        headers={"Authorization": f"Bearer {TOKENS[role]}"},
        timeout=20,
        limits=httpx.Limits(max_connections=16),
    )


async def post_orders(
    edge: EdgeProcess, prefix: str, count: int, *, lines: int = 1, workers: int = 8
) -> list[str]:
    """`count` orders over the three locations, posted by `workers` concurrent clients (fewer workers:
    more, smaller commits)."""
    ids = [f"{prefix}-{n:04d}" for n in range(count)]
    todo = list(enumerate(ids))
    async with async_client(edge, "erp") as erp:

        async def worker() -> None:
            while todo:
                n, order_id = todo.pop()
                body = {
                    "order_id": order_id,
                    "lines": [
                        {
                            "line_id": str(k),
                            "sku": f"SKU-{1 + (n + k) % 3}",
                            "qty": 1 + n % 2,
                            "location": LOCATIONS[(n + k) % len(LOCATIONS)],
                        }
                        for k in range(lines)
                    ],
                }
                response = await erp.post("/orders", json=body)
                assert response.status_code == 201, response.text

        await asyncio.gather(*(worker() for _ in range(workers)))
    return ids


async def test_snapshot_and_deltas_after_a_burst_agree_with_the_api(
    edge: EdgeProcess, bank: ModuleBank
) -> None:
    with edge.client("erp") as erp:
        seed_master_data(erp)
    async with StreamMirror(stream_url(edge)) as mirror:
        ids = await post_orders(edge, "B", 24)
        async with async_client(edge, "erp") as erp:
            for n, order_id in enumerate(ids):
                picker = ("ann", "bob", "cat")[n % 3]
                started = await erp.post(f"/orders/{order_id}/start", json={"zone": "A", "operator": picker})
                assert started.status_code == 200, started.text
        # Work every order off the modules as a picker would: confirm what is shown, one in five short.
        presses = 0
        while any(state.lit for state in bank.lit().values()) or presses == 0:
            for module, state in list(bank.lit().items()):
                if presses % 5 == 4:
                    await bank.press(module, Button.MINUS)  # one fewer than asked: a short
                await bank.press(module, Button.CONFIRM)
                presses += 1
                await wait_until(
                    lambda m=module, s=state.seq: bank.state(m).seq != s or not bank.state(m).lit,  # type: ignore[misc]
                    what=f"{module} to move on after the press",
                )
        await bank.press("M-A-01", Button.CONFIRM)  # nothing lit there: an exception for a person

        async with async_client(edge, "viewer") as api:
            last_seq = (await api.get("/events", params={"after": 0, "limit": 1})).json()["last_seq"]
            await wait_until(lambda: mirror.seq >= last_seq, timeout=10, what="the stream to catch up")
            await wait_until(
                lambda: mirror.kpis.get("shift", {}).get("lines") == len(ids),
                timeout=5,
                what="KPIs to count every line",
            )
            await assert_mirror_matches_api(mirror, api, ids, last_seq)


async def assert_mirror_matches_api(
    mirror: StreamMirror, api: httpx.AsyncClient, ids: list[str], last_seq: int
) -> None:
    events: list[dict[str, Any]] = []
    after = 0
    while after < last_seq:
        page = (await api.get("/events", params={"after": after, "limit": 1000})).json()
        events += page["events"]
        after = page["next_after"]
    first_streamed = mirror.events[0]["seq"]
    assert [e["seq"] for e in mirror.events] == list(range(first_streamed, last_seq + 1))
    assert mirror.events == [e for e in events if e["seq"] >= first_streamed]

    orders = {o["order_id"]: o for o in (await api.get("/orders")).json()}
    for order_id in ids:
        assert orders[order_id]["status"] == "picked"
        assert mirror.entities["orders"][order_id] == orders[order_id]
    locations = {loc["code"]: loc for loc in (await api.get("/locations")).json()}
    assert {c: mirror.entities["locations"][c] for c in locations} == locations
    open_exceptions = {x["id"]: x for x in (await api.get("/exceptions")).json()}
    mirrored_open = {k: x for k, x in mirror.entities["exceptions"].items() if x["status"] == "open"}
    assert mirrored_open == open_exceptions
    assert any(x["kind"] for x in open_exceptions.values())
    devices = {d["id"]: d for d in (await api.get("/devices")).json()}
    assert {d: mirror.entities["devices"][d]["online"] for d in devices} == {
        d: v["online"] for d, v in devices.items()
    }
    kpis = (await api.get("/kpis")).json()
    for key in ("lines", "shorts", "rejected_picks", "pick_accuracy"):
        assert mirror.kpis["shift"][key] == kpis["shift"][key], key
    assert kpis["shift"]["shorts"] >= 1


async def test_a_client_that_never_reads_does_not_slow_the_edge_or_the_other_clients(
    edge: EdgeProcess,
) -> None:
    with edge.client("erp") as erp:
        seed_master_data(erp)
    silent = SilentClient("127.0.0.1", edge.http_port, f"/api/v1/stream?token={TOKENS['viewer']}")
    try:
        async with StreamMirror(stream_url(edge)) as mirror, async_client(edge, "viewer") as api:
            await wait_until(lambda: _metric(api, "floorgate_stream_clients"), what="both clients connected")
            started = asyncio.get_running_loop().time()
            ids = await post_orders(edge, "S", 800, lines=3, workers=2)
            burst_seconds = asyncio.get_running_loop().time() - started
            last_seq = (await api.get("/events", params={"after": 0, "limit": 1})).json()["last_seq"]
            assert last_seq >= len(ids)  # the edge committed every order while a client stalled
            # The reading client has everything within a second or two of the last commit.
            await wait_until(lambda: mirror.seq >= last_seq, timeout=3, what="the reading client")
            assert {e["data"]["order"] for e in mirror.events if e["type"] == "order.received"} >= set(ids)
            # The stalled client was dropped to "resync" instead of being waited for.
            await wait_until(
                lambda: _metric(api, "floorgate_stream_overflows_total"),
                timeout=5,
                what="the stalled client to be marked for a resync",
            )
            assert await _metric(api, "floorgate_stream_clients") == 2
            assert burst_seconds < 60
    finally:
        silent.close()


async def _metric(api: httpx.AsyncClient, name: str) -> float:
    text = (await api.get("/metrics")).text
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, name
    return float(found.group(1))
