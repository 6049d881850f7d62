"""Who a request is: a named token's name recorded as `by` in the events and the access log (never the
token), and the dashboard's session cookie, set from a page's `?token=` or the login form, that the API
accepts in place of the header (the stream's side: tests/e2e/test_https_and_named_tokens.py)."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI

from floorgate.core import commands as cmd
from floorgate.edge.web_ports import LiveFloor, web_context
from floorgate.edge.writer import Writer
from floorgate.web.app import create_app
from floorgate.web.credentials import SESSION_COOKIE
from floorgate.web.roles import Role
from floorgate.web.stream import StreamHub
from tests.support.rest_api import TOKENS, auth

pytestmark = pytest.mark.integration

SUE = "sue-secret-7d2a"
NAMES = {SUE: "sue"}


@pytest.fixture
async def app(api: tuple[httpx.AsyncClient, Writer]) -> FastAPI:
    """An app over the shared fixture's writer whose supervisor token `SUE` is named "sue", and an open
    exception (a press on a module no location has) to resolve."""
    _, writer = api
    await writer.execute(
        cmd.PressButton(message_id="ptl:X-9:1", module="X-9", button=cmd.Button.CONFIRM, display="1")
    )
    hub = StreamHub(floor=LiveFloor(floor=lambda: writer.floor), last_seq=lambda: writer.last_seq)
    context = web_context(
        site_id="t",
        edge_id="e",
        writer=writer,
        store=writer.store,
        tokens={**TOKENS, SUE: Role.SUPERVISOR},
        token_names=NAMES,
        hub=hub,
    )
    return create_app(context)


def client(app: FastAPI, base: str = "http://edge") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


async def open_exception(edge: httpx.AsyncClient) -> int:
    (raised,) = (await edge.get("/api/v1/exceptions", headers=auth("v"))).json()
    return int(raised["id"])


async def resolved_by(edge: httpx.AsyncClient) -> list[str]:
    events = (await edge.get("/api/v1/events", params={"after": 0}, headers=auth("v"))).json()["events"]
    return [e["data"]["resolved_by"] for e in events if e["type"] == "exception.resolved"]


async def test_a_named_token_is_recorded_by_name_whatever_the_body_says(app: FastAPI) -> None:
    async with client(app) as edge:
        exception_id = await open_exception(edge)
        response = await edge.post(
            f"/api/v1/exceptions/{exception_id}/resolve", json={"resolved_by": "bob"}, headers=auth(SUE)
        )
        assert response.status_code == 200, response.text
        assert response.json()["resolved_by"] == "sue"
        assert await resolved_by(edge) == ["sue"]


async def test_an_unnamed_token_records_the_body_name_or_else_its_role(app: FastAPI) -> None:
    async with client(app) as edge:
        exception_id = await open_exception(edge)
        response = await edge.post(f"/api/v1/exceptions/{exception_id}/resolve", json={}, headers=auth("s"))
        assert response.status_code == 200, response.text
        assert await resolved_by(edge) == ["supervisor"]


async def test_every_request_has_an_access_log_line_with_by_and_never_the_token(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="floorgate.access")
    async with client(app) as edge:
        exception_id = await open_exception(edge)
        await edge.post(f"/api/v1/exceptions/{exception_id}/resolve", headers=auth(SUE))
        await edge.get("/api/v1/orders", headers=auth("nope"))
        await edge.get("/dashboard", params={"token": SUE})

    lines = [
        (r.method, r.path, r.status, r.by)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "floorgate.access"
    ]
    assert lines == [
        ("GET", "/api/v1/exceptions", 200, "viewer"),
        ("POST", f"/api/v1/exceptions/{exception_id}/resolve", 200, "sue"),
        ("GET", "/api/v1/orders", 401, "-"),
        ("GET", "/dashboard", 303, "-"),  # the token in its query is not a credential of this request
    ]
    assert all(isinstance(r.duration_ms, float) for r in caplog.records if r.name == "floorgate.access")  # type: ignore[attr-defined]
    assert SUE not in caplog.text
    assert all(SUE not in str(vars(record)) for record in caplog.records)


async def test_a_page_opened_with_a_token_redirects_to_a_clean_url_setting_the_session_cookie(
    app: FastAPI,
) -> None:
    async with client(app) as edge:
        opened = await edge.get("/zones/A", params={"token": "v", "large": "1"})
        root = await edge.get("/", params={"token": "v"})
        plain = await edge.get("/dashboard")

    assert opened.status_code == 303
    assert opened.headers["location"] == "/zones/A?large=1"
    assert opened.headers["cache-control"] == "no-store"
    cookie = {part.strip() for part in opened.headers["set-cookie"].split(";")}
    assert {f"{SESSION_COOKIE}=v", "HttpOnly", "SameSite=strict", "Path=/"} <= cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert (root.status_code, root.headers["location"]) == (303, "/dashboard")
    assert plain.status_code == 200
    assert "set-cookie" not in plain.headers


async def test_the_session_cookie_is_secure_over_https(app: FastAPI) -> None:
    async with client(app, "https://edge") as edge:
        opened = await edge.get("/dashboard", params={"token": "v"})
    assert "Secure" in {part.strip() for part in opened.headers["set-cookie"].split(";")}


async def test_the_api_takes_the_session_cookie_and_the_header_wins_over_it(app: FastAPI) -> None:
    viewer = {"Cookie": f"{SESSION_COOKIE}=v"}
    async with client(app) as edge:
        assert (await edge.get("/api/v1/orders", headers=viewer)).status_code == 200
        refused = await edge.post("/api/v1/orders/O-1/cancel", headers=viewer)
        assert refused.status_code == 403  # a viewer's cookie
        missing = await edge.post("/api/v1/orders/O-1/cancel", headers={**viewer, **auth("e")})
        assert missing.status_code == 404  # the erp's header: allowed, and there is no such order
        unknown = {"Cookie": f"{SESSION_COOKIE}=not-a-token"}
        assert (await edge.get("/api/v1/orders", headers=unknown)).status_code == 401


async def test_the_login_form_posts_the_token_into_the_cookie(app: FastAPI) -> None:
    async with client(app) as edge:
        refused = await edge.post("/session", data={"token": "not-a-token"})
        assert refused.status_code == 401
        assert (await edge.get("/api/v1/orders")).status_code == 401

        signed_in = await edge.post("/session", data={"token": "s"})
        assert signed_in.status_code == 204
        assert (await edge.get("/api/v1/orders")).status_code == 200

        forged = await edge.post(
            "/session", data={"token": "a"}, headers={"Origin": "http://elsewhere.example"}
        )
        assert forged.status_code == 403

        assert (await edge.delete("/session")).status_code == 204
        assert (await edge.get("/api/v1/orders")).status_code == 401


async def test_a_count_is_started_recounted_and_cancelled_by_the_tokens_name_or_else_its_role(
    app: FastAPI, api: tuple[httpx.AsyncClient, Writer]
) -> None:
    _, writer = api
    await writer.execute(cmd.UpsertItem(sku="S1"))
    for code, module in (("A-01", "M-01"), ("A-02", "M-02")):
        await writer.execute(cmd.UpsertLocation(code=code, zone="A", module=module, sku="S1", on_hand=5))
    async with client(app) as edge:
        started = await edge.post(
            "/api/v1/counts", json={"count_id": "C-1", "locations": ["A-01", "A-02"]}, headers=auth(SUE)
        )
        assert started.status_code == 201, started.text
        assert started.json()["by"] == "sue"
        await writer.execute(
            cmd.PressButton(message_id="ptl:M-01:1", module="M-01", button=cmd.Button.CONFIRM, display="4")
        )
        recount = await edge.post(
            "/api/v1/counts/C-1/recount", json={"locations": ["A-01"]}, headers=auth(SUE)
        )
        assert recount.status_code == 200, recount.text
        cancelled = await edge.post("/api/v1/counts/C-1/cancel", headers=auth("e"))
        assert cancelled.status_code == 200, cancelled.text
        events = (await edge.get("/api/v1/events", params={"after": 0}, headers=auth("v"))).json()["events"]
    by = {e["type"]: e["data"]["by"] for e in events if e["type"].startswith("count.") and "by" in e["data"]}
    assert by == {"count.started": "sue", "count.recount_requested": "sue", "count.cancelled": "erp"}
