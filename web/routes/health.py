"""Liveness, readiness and Prometheus metrics.

`/healthz/live` answers 200 whenever the process and its event loop work, whatever the broker or the store
is doing: a probe that restarts on it never restarts an edge that waits out a broker outage.
`/healthz/ready` (and `/healthz`, the same answer under its first name) is 503 while the edge cannot take
work: its store failing, its broker unreachable, or the edge stopping; `problems` names each.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Response, status
from fastapi.responses import PlainTextResponse
from pydantic import ConfigDict, Field

from floorgate.web.context import WebContext
from floorgate.web.contract import AUTH_REFUSALS, Answer, answers, optional_key
from floorgate.web.deps import CanRead, Context
from floorgate.web.metrics import prometheus_text

router = APIRouter(tags=["health"])


class StoreHealthView(Answer):
    ok: bool
    location: str = Field(description="which store (a path, or a database URL without its password)")
    cause: str = optional_key("while commits fail: full, read_only, io_error, ...")
    error: str = optional_key("while commits fail: what the store said")
    failing_s: float | None = Field(default=None, description="while commits fail: for how long")
    held_events: int = optional_key("while commits fail: events waiting to be written")
    webhook_bookkeeping: str = optional_key("while the webhook relay cannot keep its books in the store: why")


HEALTHY: dict[str, Any] = {
    "status": "ok",
    "problems": [],
    "site": "dc1",
    "edge": "edge-1",
    "store": {"ok": True, "location": "./data/floorgate.db"},
    "last_seq": 4211,
    "backlog": 0,
    "uptime_s": 86400.0,
}


class HealthView(Answer):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [HEALTHY, {**HEALTHY, "status": "degraded", "problems": ["mqtt: not connected"]}]
        }
    )

    status: str = Field(description="ok | degraded")
    problems: list[str] = Field(description="what is failing, one line each")
    site: str
    edge: str
    store: StoreHealthView
    last_seq: int = Field(description="the newest committed event")
    backlog: int = Field(description="commands waiting for the writer")
    uptime_s: float


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


class LiveView(Answer):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "live", "site": "dc1", "edge": "edge-1", "uptime_s": 86400.0}]
        }
    )

    status: str = Field(description="always live: an edge that cannot answer gives no answer at all")
    site: str
    edge: str
    uptime_s: float


READY_ANSWERS: dict[int | str, dict[str, Any]] = {
    **answers(HealthView, description="Ready: the edge takes work"),
    **answers(
        HealthView,
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        description="Not ready: the store or MQTT is failing, or the edge is stopping (see `problems`)",
    ),
}


@router.get("/healthz/live", response_model=None, responses=answers(LiveView))
async def live(context: Context) -> dict[str, Any]:
    """200 while the process serves requests on its event loop; nothing else is asked."""
    return {
        "status": "live",
        "site": context.site_id,
        "edge": context.edge_id,
        "uptime_s": round(time.time() - context.started_at, 1),
    }


@router.get("/healthz/ready", response_model=None, responses=READY_ANSWERS)
async def ready(context: Context, response: Response) -> dict[str, Any]:
    """200 while the edge takes work; 503 naming each reason it cannot."""
    return readiness(context, response)


@router.get("/healthz", response_model=None, responses=READY_ANSWERS)
async def healthz(context: Context, response: Response) -> dict[str, Any]:
    """The same answer as /healthz/ready."""
    return readiness(context, response)


def readiness(context: WebContext, response: Response) -> dict[str, Any]:
    writer = context.health.writer_figures()
    problems = []
    store = store_health(context)
    if not store["ok"]:
        problems.append(f"store: {store['error']}")
    if not context.health.mqtt_connected():
        problems.append("mqtt: not connected")
    inactive = context.health.inactive()
    if inactive is not None:
        problems.append(f"edge: {inactive}")
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


@router.get("/metrics", response_class=PlainTextResponse, responses=AUTH_REFUSALS)
async def metrics(context: Context, _role: CanRead) -> Response:
    return Response(await prometheus_text(context), media_type="text/plain; version=0.0.4")
