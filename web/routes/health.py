"""Liveness and Prometheus metrics."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from fastapi import APIRouter, Response

from core.model import ExceptionStatus
from web.deps import CanRead, Context

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(context: Context, response: Response) -> dict[str, Any]:
    writer = context.writer
    problems = []
    if writer.store_error:
        problems.append("store: commits are failing")
    if not context.mqtt_connected():
        problems.append("mqtt: not connected")
    if problems:
        response.status_code = 503
    return {
        "status": "degraded" if problems else "ok",
        "problems": problems,
        "site": context.site_id,
        "edge": context.edge_id,
        "last_seq": writer.last_seq,
        "backlog": writer.backlog,
        "uptime_s": round(time.time() - context.started_at, 1),
    }


@router.get("/metrics")
async def metrics(context: Context, _role: CanRead) -> Response:
    writer = context.writer
    floor = writer.floor
    stats = writer.stats
    orders = Counter(o.status.value for o in floor.orders.values())
    online = sum(1 for d in floor.devices.values() if d.online)
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
        "# TYPE floorgate_batches_total counter",
        f"floorgate_batches_total {stats.batches}",
        "# TYPE floorgate_commit_failures_total counter",
        f"floorgate_commit_failures_total {stats.commit_failures}",
        "# TYPE floorgate_last_batch_size gauge",
        f"floorgate_last_batch_size {stats.last_batch_size}",
        "# TYPE floorgate_last_commit_seconds gauge",
        f"floorgate_last_commit_seconds {stats.last_commit_seconds:.6f}",
        "# TYPE floorgate_writer_backlog gauge",
        f"floorgate_writer_backlog {writer.backlog}",
        "# TYPE floorgate_last_seq gauge",
        f"floorgate_last_seq {writer.last_seq}",
        "# TYPE floorgate_orders gauge",
        *(f'floorgate_orders{{status="{s}"}} {n}' for s, n in sorted(orders.items())),
        "# TYPE floorgate_lit_modules gauge",
        f"floorgate_lit_modules {sum(1 for light in floor.lights.values() if light.lit)}",
        "# TYPE floorgate_devices_online gauge",
        f"floorgate_devices_online {online}",
        "# TYPE floorgate_devices gauge",
        f"floorgate_devices {len(floor.devices)}",
        "# TYPE floorgate_open_exceptions gauge",
        "floorgate_open_exceptions "
        f"{sum(1 for x in floor.exceptions.values() if x.status is ExceptionStatus.OPEN)}",
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
    extra = dict(context.extra_metrics())
    if context.webhooks is not None:
        extra.update(await context.webhooks.backlog())
    for name, value in sorted(extra.items()):
        lines.append(f"{name} {value}")
    return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
