"""The API's door over HTTP (ASGI, and uvicorn where the server's own reading matters): token before body,
a capped body, short 422s, ids that fit a path, an OpenAPI document that says what is enforced, full Allow
headers, and pages that cannot be framed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from floorgate.edge.web_ports import LiveFloor, web_context
from floorgate.edge.writer import Writer
from floorgate.web.app import create_app
from floorgate.web.contract import SQL_INT_MAX
from floorgate.web.guards import API_MAX_BODY_BYTES
from floorgate.web.stream import StreamHub
from tests.support.rest_api import TOKENS, auth, seed
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

API = tuple[httpx.AsyncClient, Writer]
CHUNK = 64 * 1024
ORDER = {"order_id": "O9", "lines": [{"line_id": "1", "sku": "S1", "qty": 1}]}


class Body:
    """A request body sent in chunks, which records how much of it the server pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            chunk = b" " * min(CHUNK, self.total - self.pulled)
            self.pulled += len(chunk)
            yield chunk


@pytest.mark.parametrize("headers", [{}, auth("nope"), {"Authorization": "Basic Zm9vOmJhcg=="}])
async def test_a_body_without_a_known_token_is_refused_before_any_of_it_is_read(
    api: API, headers: dict[str, str]
) -> None:
    client, _ = api
    body = Body(4 * API_MAX_BODY_BYTES)
    response = await client.post("/orders", content=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "missing or unknown bearer token"}
    assert body.pulled == 0


async def test_a_declared_length_over_the_cap_is_413_naming_the_limit_before_the_body_is_read(
    api: API,
) -> None:
    client, _ = api
    body = Body(API_MAX_BODY_BYTES + 1)
    headers = {**auth("e"), "Content-Length": str(body.total), "Content-Type": "application/json"}
    response = await client.post("/orders", content=body, headers=headers)
    assert response.status_code == 413, response.text
    assert str(API_MAX_BODY_BYTES) in response.json()["detail"]
    assert body.pulled == 0


async def test_a_streamed_body_is_cut_off_at_the_cap(api: API) -> None:
    client, _ = api
    body = Body(8 * API_MAX_BODY_BYTES)
    headers = {**auth("e"), "Content-Type": "application/json"}
    response = await client.post("/orders", content=body, headers=headers)
    assert response.status_code == 413, response.text
    assert str(API_MAX_BODY_BYTES) in response.json()["detail"]
    assert body.pulled <= API_MAX_BODY_BYTES + CHUNK
    # The edge goes on answering on the same app.
    assert (await client.get("/orders", headers=auth("v"))).status_code == 200


def app_over(writer: Writer, **options: int) -> FastAPI:
    """A second app over the fixture's writer, built with the factory's options."""
    hub = StreamHub(floor=LiveFloor(floor=lambda: writer.floor), last_seq=lambda: writer.last_seq)
    context = web_context(site_id="t", edge_id="e", writer=writer, store=writer.store, tokens=TOKENS, hub=hub)
    return create_app(context, **options)


async def test_the_cap_is_set_through_the_app_factory(api: API) -> None:
    _, writer = api
    app = app_over(writer, max_body_bytes=100)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://edge/api/v1"
    ) as small:
        fits = await small.post("/orders/O1/cancel", headers=auth("e"))
        too_big = await small.post("/orders", json={**ORDER, "tote": "T" * 64}, headers=auth("e"))
    assert fits.status_code == 404, fits.text
    assert too_big.status_code == 413, too_big.text
    assert "limit of 100 bytes" in too_big.json()["detail"]


async def test_over_real_http_a_refused_body_is_not_read_on_after_the_answer(api: API) -> None:
    """uvicorn reads and drops the rest of a body the app did not read, unless the answer closes."""
    _, writer = api
    server = uvicorn.Server(uvicorn.Config(app_over(writer), host="127.0.0.1", port=0, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started, what="uvicorn to listen")
    port = server.servers[0].sockets[0].getsockname()[1]
    total = 64 * API_MAX_BODY_BYTES
    try:
        for token, refusal in (("", b"401"), ("Authorization: Bearer e\r\n", b"413")):
            reader, stream = await asyncio.open_connection("127.0.0.1", port)
            head = f"POST /api/v1/orders HTTP/1.1\r\nHost: edge\r\n{token}Content-Length: {total}\r\n\r\n"
            stream.write(head.encode())
            # Read while sending: the answer comes before the close, and a reset would take it from the socket.
            answer = asyncio.ensure_future(reader.readline())
            sent = 0
            try:
                while sent < total:
                    stream.write(b" " * CHUNK)
                    await stream.drain()
                    sent += CHUNK
            except ConnectionError:
                pass
            assert sent < total / 4, (token, sent)
            assert (await answer).startswith(b"HTTP/1.1 " + refusal)
            stream.close()
    finally:
        server.should_exit = True
        await serving


async def test_a_422_names_the_field_and_echoes_only_the_start_of_a_long_input(api: API) -> None:
    client, _ = api
    long_id = "X" * 500_000
    response = await client.post("/orders", json={**ORDER, "order_id": long_id}, headers=auth("e"))
    assert response.status_code == 422
    assert len(response.content) < 2000, len(response.content)
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "order_id"]
    assert "at most 64 characters" in error["msg"]
    assert error["input"].startswith("XXXX")
    assert error["input"].endswith("…")


async def test_a_422_on_a_long_list_echoes_only_the_start_of_it(api: API) -> None:
    client, _ = api
    lines = [{"line_id": str(i), "sku": "S1", "qty": 1} for i in range(1001)]
    response = await client.post("/orders", json={**ORDER, "lines": lines}, headers=auth("e"))
    assert response.status_code == 422
    assert len(response.content) < 2000, len(response.content)
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "lines"]


@pytest.mark.parametrize("bad", ["O/1", "/", ".", ".."])
@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        ("post", "/orders", lambda v: {**ORDER, "order_id": v}, ["body", "order_id"]),
        ("post", "/orders", lambda v: {**ORDER, "lines": [{"line_id": "1", "sku": v, "qty": 1}]}, None),
        ("post", "/orders/O1/start", lambda v: {"zone": v}, ["body", "zone"]),
        ("put", "/locations/A-02", lambda v: {"zone": "A", "sku": v}, ["body", "sku"]),
        ("post", "/stations/PACK-1/override", lambda v: {"order_id": v, "reason": "r"}, ["body", "order_id"]),
    ],
)
async def test_an_id_that_cannot_come_back_in_a_url_path_is_422_naming_the_field(
    api: API, bad: str, method: str, path: str, body, loc: list[object] | None
) -> None:
    client, _ = api
    response = await client.request(method, path, json=body(bad), headers=auth("a"))
    assert response.status_code == 422, response.text
    locs = [error["loc"] for error in response.json()["detail"]]
    assert locs == [loc or ["body", "lines", 0, "sku"]], locs


async def test_an_order_id_is_refused_naming_the_field_or_can_be_read_started_and_cancelled(api: API) -> None:
    client, _ = api
    await seed(client)
    for order_id in ("O/1", "a/b/c", "..", "PO 1", "50%off", "a?b#c", "é.x", "...", ".a", "a.."):
        created = await client.post("/orders", json={**ORDER, "order_id": order_id}, headers=auth("e"))
        if created.status_code == 422:
            assert [error["loc"] for error in created.json()["detail"]] == [["body", "order_id"]], order_id
            continue
        assert created.status_code == 201, (order_id, created.text)
        segment = quote(order_id, safe="")
        read = await client.get(f"/orders/{segment}", headers=auth("v"))
        assert read.status_code == 200, (order_id, read.text)
        assert read.json()["order_id"] == order_id
        started = await client.post(f"/orders/{segment}/start", json={"zone": "A"}, headers=auth("e"))
        assert started.status_code == 200, (order_id, started.text)
        cancelled = await client.post(f"/orders/{segment}/cancel", headers=auth("e"))
        assert cancelled.status_code == 200, (order_id, cancelled.text)


async def test_the_openapi_document_writes_integer_limits_and_every_path_id_pattern(api: API) -> None:
    client, _ = api
    response = await client.get("http://edge/openapi.json")
    text = response.text
    assert "e+18" not in text
    assert "9.223372036854776" not in text
    document = response.json()
    priority = document["components"]["schemas"]["OrderBody"]["properties"]["priority"]
    assert (priority["minimum"], priority["maximum"]) == (-SQL_INT_MAX, SQL_INT_MAX)
    assert isinstance(priority["maximum"], int)
    checked = set()
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["schema"]["type"] == "string":
                    name = parameter["name"]
                    if name in ("sku", "code", "order_id", "station_id"):
                        assert "pattern" in parameter["schema"], (path, name)
                        checked.add(name)
    assert checked == {"sku", "code", "order_id", "station_id"}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("delete", "/orders", {"GET", "POST"}),
        ("delete", "/webhooks/endpoints", {"GET", "POST"}),
    ],
)
async def test_a_405_lists_every_method_the_path_accepts(
    api: API, method: str, path: str, allowed: set[str]
) -> None:
    client, _ = api
    response = await client.request(method, path, headers=auth("a"))
    assert response.status_code == 405, response.text
    assert set(response.headers["allow"].split(", ")) == allowed
    assert response.json() == {"detail": "Method Not Allowed"}


@pytest.mark.parametrize("page", ["/dashboard", "/stations/PACK-1", "/zones/A"])
async def test_the_pages_cannot_be_framed_and_load_only_their_own_assets(api: API, page: str) -> None:
    client, _ = api
    response = await client.get(f"http://edge{page}")
    assert response.status_code == 200
    assert response.headers["x-frame-options"] == "DENY"
    policy = {
        name: values
        for name, *values in (part.split() for part in response.headers["content-security-policy"].split(";"))
    }
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    for directive in ("script-src", "style-src", "connect-src"):
        assert policy[directive] == ["'self'"], directive
