"""The REST API contract: roles, status codes, and 422s that name the field. A real writer and SQLite store."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from floorgate.core import commands as cmd
from tests.support.rest_api import TOKENS, auth, seed

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"),
    [
        ("get", "/orders/O1", None, {"v", "s", "e", "a"}),
        ("get", "/events", None, {"v", "s", "e", "a"}),
        ("get", "/devices", None, {"v", "s", "e", "a"}),
        ("get", "/exceptions", None, {"v", "s", "e", "a"}),
        ("put", "/items/S9", {"description": "x"}, {"e", "a"}),
        ("put", "/locations/A-09", {"zone": "A"}, {"e", "a"}),
        (
            "post",
            "/orders",
            {"order_id": "O9", "lines": [{"line_id": "1", "sku": "S1", "qty": 1}]},
            {"e", "a"},
        ),
        ("post", "/orders/O1/cancel", None, {"e", "a"}),
    ],
)
async def test_each_role_may_do_exactly_what_the_design_says(
    api, method: str, path: str, body: object, allowed: set[str]
) -> None:
    client, _ = api
    await seed(client)
    for token in TOKENS:
        kwargs = {"json": body} if body is not None else {}
        response = await client.request(method, path, headers=auth(token), **kwargs)
        if token in allowed:
            assert response.status_code < 400, (token, response.text)
        else:
            assert response.status_code == 403, (token, response.text)
            assert "may not" in response.json()["detail"]


async def test_a_missing_or_wrong_token_is_401_with_a_bearer_challenge(api) -> None:
    client, _ = api
    for headers in ({}, auth("nope"), {"Authorization": "Basic Zm9vOmJhcg=="}):
        response = await client.get("/orders/O1", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"lines": [{"line_id": "1", "sku": "S1", "qty": 1}]}, ["body", "order_id"]),
        ({"order_id": "O2", "lines": []}, ["body", "lines"]),
        (
            {"order_id": "O2", "lines": [{"line_id": "1", "sku": "S1", "qty": "two"}]},
            ["body", "lines", 0, "qty"],
        ),
        (
            {"order_id": "O2", "lines": [{"line_id": "1", "sku": "S1", "qty": -1}]},
            ["body", "lines", 0, "qty"],
        ),
        (
            {"order_id": "O2", "lines": [{"line_id": "1", "sku": "S1", "qty": 1, "colour": "red"}]},
            ["body", "lines", 0, "colour"],
        ),
        (
            {
                "order_id": "O2",
                "lines": [{"line_id": "1", "sku": "S1", "qty": 1}, {"line_id": "1", "sku": "S1", "qty": 1}],
            },
            ["body", "lines", 1, "line_id"],
        ),
        (
            {"order_id": "O2", "lines": [{"line_id": "1", "sku": "S2", "qty": 1, "location": "A-01"}]},
            ["body", "lines", 0, "location"],
        ),
    ],
)
async def test_a_bad_order_body_is_422_naming_the_field(
    api, body: dict[str, object], loc: list[object]
) -> None:
    client, writer = api
    await seed(client)
    response = await client.post("/orders", json=body, headers=auth("e"))
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc
    assert "O2" not in writer.floor.orders


@pytest.mark.parametrize("listing", ["/orders", "/batches", "/putaways", "/counts"])
async def test_a_list_filtered_by_an_unknown_status_is_422_naming_the_status(api, listing: str) -> None:
    client, _writer = api
    response = await client.get(listing, params={"status": "lost"}, headers=auth("v"))
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "status"]


async def test_order_replays_conflicts_and_lifecycle(api) -> None:
    client, _ = api
    await seed(client)
    same = {"order_id": "O1", "lines": [{"line_id": "1", "sku": "S1", "qty": 2, "location": "A-01"}]}
    assert (await client.post("/orders", json=same, headers=auth("e"))).status_code == 200
    different = {**same, "priority": 5}
    conflict = await client.post("/orders", json=different, headers=auth("e"))
    assert conflict.status_code == 409
    assert "different body" in conflict.json()["detail"]
    started = await client.post("/orders/O1/start", json={"zone": "A", "operator": "ann"}, headers=auth("e"))
    assert started.status_code == 200
    assert started.json()["status"] == "picking"
    assert started.json()["lines"][0]["status"] == "lit"
    assert started.json()["started"]["color"] == "blue"
    assert (await client.post("/orders/O1/start", json={"zone": "Q"}, headers=auth("e"))).status_code == 404
    cancelled = await client.post("/orders/O1/cancel", headers=auth("e"))
    assert cancelled.json()["status"] == "cancelled"
    assert (await client.post("/orders/O1/start", json={"zone": "A"}, headers=auth("e"))).status_code == 409
    assert (await client.get("/orders/NOPE", headers=auth("v"))).status_code == 404


async def test_the_event_log_pages_by_seq(api) -> None:
    client, _ = api
    await seed(client)
    first = (await client.get("/events", params={"after": 0, "limit": 1}, headers=auth("v"))).json()
    assert [e["seq"] for e in first["events"]] == [1]
    rest = (await client.get("/events", params={"after": first["next_after"]}, headers=auth("v"))).json()
    assert [e["type"] for e in rest["events"]] == ["order.received"]
    assert rest["last_seq"] == 2
    assert rest["first_seq"] == 1  # nothing has left the log yet
    assert (await client.get("/events", params={"limit": 0}, headers=auth("v"))).status_code == 422


async def test_exceptions_are_listed_and_resolved_by_a_supervisor(api) -> None:
    client, writer = api
    await seed(client)
    await writer.execute(cmd.PressButton(module="M1", button=cmd.Button.CONFIRM, display="1"))
    (exception,) = (await client.get("/exceptions", headers=auth("v"))).json()
    assert exception["kind"] == "button_not_lit"
    assert (await client.post(f"/exceptions/{exception['id']}/resolve", headers=auth("e"))).status_code == 403
    resolved = await client.post(
        f"/exceptions/{exception['id']}/resolve", json={"note": "checked"}, headers=auth("s")
    )
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["resolved_by"] == "supervisor"
    assert (await client.get("/exceptions", headers=auth("v"))).json() == []
    assert (await client.post("/exceptions/999/resolve", headers=auth("s"))).status_code == 404


async def follow_pages(client: httpx.AsyncClient, path: str, **params: object) -> list[list[dict[str, Any]]]:
    """Every page of a list, following its `Link` header as a client would; checks the headers agree."""
    pages: list[list[dict[str, Any]]] = []
    url: str | None = path
    query: dict[str, object] | None = params
    while url is not None:
        response = await client.get(url, params=query, headers=auth("v"))
        assert response.status_code == 200, response.text
        pages.append(response.json())
        link = response.headers.get("Link")
        if link is None:
            assert "X-Next-After" not in response.headers
            url = None
            continue
        target, rel = link.split("; ")
        assert rel == 'rel="next"'
        assert f"after={response.headers['X-Next-After']}" in target
        url, query = target.strip("<>").removeprefix("/api/v1"), None
    return pages


async def test_exceptions_page_by_id_with_a_cursor_and_the_default_answer_is_the_plain_list(api) -> None:
    client, writer = api
    for n in range(5):
        await writer.execute(cmd.RaiseException(kind="k", message=f"m{n}", device=f"d{n}"))
    everything = await client.get("/exceptions", headers=auth("v"))
    assert [x["message"] for x in everything.json()] == [f"m{n}" for n in range(5)]
    assert everything.headers["X-Total-Count"] == "5"
    assert "Link" not in everything.headers
    ids = [x["id"] for x in everything.json()]

    pages = await follow_pages(client, "/exceptions", limit=2, status="open")

    assert [[x["id"] for x in page] for page in pages] == [ids[:2], ids[2:4], ids[4:]]
    after = await client.get("/exceptions", params={"after": ids[3], "limit": 2}, headers=auth("v"))
    assert ([x["id"] for x in after.json()], after.headers["X-Total-Count"]) == (ids[4:], "5")
    for bad in ({"limit": 0}, {"limit": 1001}, {"after": -1}):
        assert (await client.get("/exceptions", params=bad, headers=auth("v"))).status_code == 422


async def test_the_exception_cursor_keeps_the_status_asked_for(api) -> None:
    client, writer = api
    for n in range(3):
        await writer.execute(cmd.RaiseException(kind="k", message=f"m{n}", device=f"d{n}"))
    first = (await client.get("/exceptions", headers=auth("v"))).json()[0]
    await client.post(f"/exceptions/{first['id']}/resolve", headers=auth("s"))

    pages = await follow_pages(client, "/exceptions", limit=1, status="all")

    assert [len(page) for page in pages] == [1, 1, 1]
    assert [page[0]["status"] for page in pages] == ["resolved", "open", "open"]


async def test_devices_page_by_id_with_a_cursor_and_the_default_answer_is_the_plain_list(api) -> None:
    client, _ = api
    for n in range(5):
        body = {"zone": "A", "module": f"M{n}"}
        assert (await client.put(f"/locations/A-0{n}", json=body, headers=auth("e"))).status_code == 201
    everything = await client.get("/devices", headers=auth("v"))
    assert [d["id"] for d in everything.json()] == [f"M{n}" for n in range(5)]
    assert (everything.headers["X-Total-Count"], everything.headers.get("Link")) == ("5", None)

    pages = await follow_pages(client, "/devices", limit=2)

    assert [[d["id"] for d in page] for page in pages] == [["M0", "M1"], ["M2", "M3"], ["M4"]]
    after = await client.get("/devices", params={"after": "M2"}, headers=auth("v"))
    assert [d["id"] for d in after.json()] == ["M3", "M4"]
    assert (await client.get("/devices", params={"limit": 1001}, headers=auth("v"))).status_code == 422


async def test_health_needs_no_token_and_metrics_speak_prometheus(api) -> None:
    client, _ = api
    await seed(client)
    root = httpx.AsyncClient(transport=client._transport, base_url="http://edge")
    health = await root.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert (await root.get("/metrics")).status_code == 401
    metrics = (await root.get("/metrics", headers=auth("v"))).text
    assert 'floorgate_orders{status="open"} 1' in metrics
    assert "floorgate_events_total 2" in metrics
    assert (await root.get("/openapi.json")).json()["info"]["title"] == "FloorGate"


async def test_an_item_may_carry_its_own_weight_tolerance_and_a_negative_one_is_422(api) -> None:
    client, writer = api
    body = {"description": "apples, 1 kg bag", "unit_weight_g": 1000, "weight_tolerance_g": 40}
    created = await client.put("/items/APPLES", json=body, headers=auth("e"))
    assert created.status_code == 201, created.text
    assert created.json()["weight_tolerance_g"] == 40
    assert writer.floor.items["APPLES"].weight_tolerance_g == 40

    negative = await client.put("/items/APPLES", json={**body, "weight_tolerance_g": -1}, headers=auth("e"))
    assert negative.status_code == 422, negative.text
    assert negative.json()["detail"][0]["loc"] == ["body", "weight_tolerance_g"]
    assert writer.floor.items["APPLES"].weight_tolerance_g == 40

    exact = await client.put("/items/APPLES", json={"unit_weight_g": 1000}, headers=auth("e"))
    assert exact.status_code == 200, exact.text
    assert writer.floor.items["APPLES"].weight_tolerance_g is None


async def test_a_retired_order_is_read_from_the_store_and_cannot_be_changed(api) -> None:
    client, writer = api
    await seed(client)
    assert (await client.post("/orders/O1/cancel", headers=auth("e"))).status_code == 200
    await writer.execute(cmd.RetireFinishedOrders(before=time.time() + 1))

    listed = await client.get("/orders", headers=auth("v"))
    assert [o["order_id"] for o in listed.json()] == []
    read = await client.get("/orders/O1", headers=auth("v"))
    assert read.status_code == 200
    assert read.json()["status"] == "cancelled"
    assert read.json()["finished_at"].endswith("Z")
    assert [line["line_id"] for line in read.json()["lines"]] == ["1"]

    same = {"order_id": "O1", "lines": [{"line_id": "1", "sku": "S1", "qty": 2, "location": "A-01"}]}
    replay = await client.post("/orders", json=same, headers=auth("e"))
    assert replay.status_code == 200
    assert replay.json()["status"] == "cancelled"
    assert (await client.post("/orders", json={**same, "priority": 3}, headers=auth("e"))).status_code == 409
    for refused in (
        await client.post("/orders/O1/cancel", headers=auth("e")),
        await client.post("/orders/O1/start", json={"zone": "A"}, headers=auth("e")),
    ):
        assert refused.status_code == 409
        assert "left the floor" in refused.json()["detail"]
    assert (await client.post("/orders/NOPE/cancel", headers=auth("e"))).status_code == 404
