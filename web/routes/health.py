"""Liveness and Prometheus metrics."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from fastapi import APIRouter, Response, status
from fastapi.responses import PlainTextResponse

from floorgate.core.model import ExceptionStatus
from floorgate.web.context import WebContext
from floorgate.web.contract import AUTH_REFUSALS
from floorgate.web.deps import CanRead, Context

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


def _store_metrics(context: WebContext) -> list[str]:
    store = context.health.store()
    failure = store.failure
    since = store.failing_since
    return [
        "# HELP floorgate_store_failing 1 while commits fail: the edge holds its work and refuses new work.",
        "# TYPE floorgate_store_failing gauge",
        f"floorgate_store_failing {0 if failure is None else 1}",
        "# HELP floorgate_store_failure Why commits fail, one series per cause (1 for the current one).",
        "# TYPE floorgate_store_failure gauge",
        *(
            f'floorgate_store_failure{{cause="{cause}"}} '
            f"{1 if failure is not None and failure.cause == cause else 0}"
            for cause in context.health.store_causes()
        ),
        "# TYPE floorgate_store_failing_seconds gauge",
        f"floorgate_store_failing_seconds {0.0 if since is None else round(time.time() - since, 3)}",
        "# TYPE floorgate_store_held_events gauge",
        f"floorgate_store_held_events {store.held_events}",
    ]


@router.get("/metrics", response_class=PlainTextResponse, responses=AUTH_REFUSALS)
async def metrics(context: Context, _role: CanRead) -> Response:
    stats = context.health.writer_figures()
    floor = context.floor
    orders = Counter(o.status.value for o in floor.orders())
    devices = list(floor.devices())
    online = sum(1 for d in devices if d.online)
    lines = [
        "# HELP floorgate_events_total Events committed to the event log.",
        "# TYPE floorgate_events_total counter",
        f"floorgate_events_total {stats.events}",
        "# TYPE floorgate_commands_total counter",
        f"floorgate_commands_total {stats.commands}",
        "# TYPE floorgate_commands_duplicate_total counter",
        f"floorgate_commands_duplicate_total {stats.duplicates}",
        "# TYPE floorgate_commands_rejected_total counter",
        f"floorgate_commands_rejected_total {stats.rejected}",
        "# TYPE floorgate_commands_failed_total counter",
        f"floorgate_commands_failed_total {stats.failed}",
        "# HELP floorgate_commands_unstorable_total Commands set aside as exceptions: the store refused what they made.",
        "# TYPE floorgate_commands_unstorable_total counter",
        f"floorgate_commands_unstorable_total {stats.unstorable}",
        "# TYPE floorgate_batches_total counter",
        f"floorgate_batches_total {stats.batches}",
        "# TYPE floorgate_commit_failures_total counter",
        f"floorgate_commit_failures_total {stats.commit_failures}",
        "# TYPE floorgate_last_batch_size gauge",
        f"floorgate_last_batch_size {stats.last_batch_size}",
        "# TYPE floorgate_last_commit_seconds gauge",
        f"floorgate_last_commit_seconds {stats.last_commit_seconds:.6f}",
        "# TYPE floorgate_wal_pages gauge",
        f"floorgate_wal_pages {stats.wal_pages}",
        "# TYPE floorgate_writer_backlog gauge",
        f"floorgate_writer_backlog {stats.backlog}",
        "# TYPE floorgate_last_seq gauge",
        f"floorgate_last_seq {stats.last_seq}",
        "# TYPE floorgate_orders gauge",
        *(f'floorgate_orders{{status="{s}"}} {n}' for s, n in sorted(orders.items())),
        "# TYPE floorgate_lit_modules gauge",
        f"floorgate_lit_modules {sum(1 for light in floor.lights() if light.lit)}",
        "# TYPE floorgate_devices_online gauge",
        f"floorgate_devices_online {online}",
        "# TYPE floorgate_devices gauge",
        f"floorgate_devices {len(devices)}",
        "# TYPE floorgate_open_exceptions gauge",
        f"floorgate_open_exceptions {sum(1 for x in floor.exceptions() if x.status is ExceptionStatus.OPEN)}",
        "# TYPE floorgate_stream_clients gauge",
        f"floorgate_stream_clients {len(context.hub.clients)}",
        "# HELP floorgate_stream_overflows_total Stream clients found with a full queue (dropped to resync).",
        "# TYPE floorgate_stream_overflows_total counter",
        f"floorgate_stream_overflows_total {context.hub.stats.overflows}",
        "# HELP floorgate_stream_resyncs_total Snapshots sent to stream clients that fell behind.",
        "# TYPE floorgate_stream_resyncs_total counter",
        f"floorgate_stream_resyncs_total {context.hub.stats.resyncs}",
        "# TYPE floorgate_stream_messages_total counter",
        f"floorgate_stream_messages_total {context.hub.stats.messages}",
    ]
    lines += _store_metrics(context)
    extra = await context.health.extra_metrics()
    for name, value in sorted(extra.items()):
        lines.append(f"{name} {value}")
    return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
