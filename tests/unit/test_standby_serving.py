"""What a standby edge answers over HTTP: alive, not ready, and every request refused naming the active edge."""

from __future__ import annotations

import httpx
import pytest

from floorgate.edge.standby.lease import Holder
from floorgate.edge.standby.serving import standby_app

pytestmark = pytest.mark.unit


def client(active: Holder | None) -> httpx.AsyncClient:
    app = standby_app(site_id="dc1", edge_id="edge-b", active=lambda: active)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://standby")


async def test_a_standby_is_live_but_not_ready() -> None:
    async with client(Holder(edge="edge-a", epoch=3, http_url="http://10.0.0.11:8000")) as standby:
        live = await standby.get("/healthz/live")
        ready = await standby.get("/healthz/ready")

    assert (live.status_code, live.json()["role"], live.json()["edge"]) == (200, "standby", "edge-b")
    assert ready.status_code == 503
    assert ready.json()["active"] == {"edge": "edge-a", "url": "http://10.0.0.11:8000"}


async def test_a_write_to_the_standby_is_refused_naming_the_active_edge() -> None:
    async with client(Holder(edge="edge-a", epoch=3, http_url="http://10.0.0.11:8000")) as standby:
        answer = await standby.post("/api/v1/orders", json={"order_id": "SO-1", "lines": []})

    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["detail"] == (
        "edge 'edge-b' is the standby of its pair and serves no requests: "
        "the active edge is 'edge-a' at http://10.0.0.11:8000"
    )


async def test_a_standby_with_no_active_edge_says_so() -> None:
    async with client(None) as standby:
        answer = await standby.get("/api/v1/orders")

    assert answer.status_code == 503
    assert answer.json()["active"] is None
    assert "no edge holds the pair's lease right now" in answer.json()["detail"]
