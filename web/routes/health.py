"""Liveness and Prometheus metrics."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Response, status
from fastapi.responses import PlainTextResponse

from floorgate.web.context import WebContext
from floorgate.web.contract import AUTH_REFUSALS
from floorgate.web.deps import CanRead, Context
from floorgate.web.metrics import prometheus_text

router = APIRouter(tags=["health"])


def store_health(context: WebContext) -> dict[str, Any]:
    """The store as the writer last found it; while commits fail: why, since when, what is held."""
    store = context.health.store()
    failure = store.failure
    view: dict[str, Any] = {"ok": failure is None, "location": store.location}
    if failure is not None:
        since = store.failing_since
        view |= {
            "cause": failure.cause,
            "error": str(failure),
            "failing_s": round(time.time() - since, 1) if since is not None else None,
            "held_events": store.held_events,
        }
    if store.webhook_bookkeeping is not None:
        view["webhook_bookkeeping"] = store.webhook_bookkeeping
    return view


@router.get(
    "/healthz",
    responses={
        status.HTTP_503_SERVICE_UNAVAILABLE: {"description": "Degraded: the store or MQTT is failing"}
    },
)
async def healthz(context: Context, response: Response) -> dict[str, Any]:
    writer = context.health.writer_figures()
    problems = []
    store = store_health(context)
    if not store["ok"]:
        problems.append(f"store: {store['error']}")
    if not context.health.mqtt_connected():
        problems.append("mqtt: not connected")
    if problems:
        response.status_code = 503
    return {
        "status": "degraded" if problems else "ok",
        "problems": problems,
        "site": context.site_id,
        "edge": context.edge_id,
        "store": store,
        "last_seq": writer.last_seq,
        "backlog": writer.backlog,
        "uptime_s": round(time.time() - context.started_at, 1),
    }


@router.get("/healthz/live")
async def live(context: Context) -> dict[str, Any]:
    """200 while the process serves: what a supervisor restarts on (a standby answers it too)."""
    return {"status": "live", "role": "active", "site": context.site_id, "edge": context.edge_id}


@router.get(
    "/healthz/ready",
    responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"description": "Not ready: the store is failing"}},
)
async def ready(context: Context, response: Response) -> dict[str, Any]:
    """200 when this edge takes work (it is the active one and its store commits): what a load balancer
    follows. A standby edge answers 503 (docs/ha.md)."""
    store = store_health(context)
    if not store["ok"]:
        response.status_code = 503
    return {
        "status": "ready" if store["ok"] else "not_ready",
        "role": "active",
        "site": context.site_id,
        "edge": context.edge_id,
        "store": store,
    }


@router.get("/metrics", response_class=PlainTextResponse, responses=AUTH_REFUSALS)
async def metrics(context: Context, _role: CanRead) -> Response:
    return Response(await prometheus_text(context), media_type="text/plain; version=0.0.4")
