"""The Prometheus text /metrics serves: the writer's, the store's, the floor's and the stream's figures."""

from __future__ import annotations

import time
from collections import Counter

from floorgate.core.model import ExceptionStatus
from floorgate.web.context import WebContext


async def prometheus_text(context: WebContext) -> str:
    """Every figure as one exposition (text format 0.0.4), the edge's other parts' figures last."""
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
    return "\n".join(lines) + "\n"


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
