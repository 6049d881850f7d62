"""The Prometheus text /metrics serves: the writer's, the store's, the floor's and the stream's figures.

Every family the edge publishes is declared once in `SERIES`, with its type and help, so each gets its
`# HELP` and `# TYPE` lines and docs/operations.md can list them all. Histograms are in seconds, in
Prometheus's own form: cumulative `_bucket{le=...}` series, `_sum` and `_count`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from floorgate.core.model import ExceptionStatus, OrderStatus
from floorgate.web.context import WebContext
from floorgate.web.ports import HistogramFigures


@dataclass(frozen=True, slots=True)
class Series:
    kind: str  # counter, gauge or histogram
    help: str


_C, _G, _H = "counter", "gauge", "histogram"

SERIES: dict[str, Series] = {
    # The single writer
    "floorgate_events_total": Series(_C, "Events committed to the event log."),
    "floorgate_commands_total": Series(_C, "Commands the writer took, from devices and the API, each once."),
    "floorgate_commands_duplicate_total": Series(
        _C, "Commands skipped as already applied (a device message delivered again)."
    ),
    "floorgate_commands_rejected_total": Series(_C, "Commands the floor's rules refused."),
    "floorgate_commands_failed_total": Series(
        _C, "Commands that failed inside the floor's rules (a bug: each is logged with its command)."
    ),
    "floorgate_commands_unstorable_total": Series(
        _C, "Commands set aside as exceptions: the store refused what they made."
    ),
    "floorgate_batches_total": Series(_C, "Batches committed, each in one transaction."),
    "floorgate_commit_failures_total": Series(_C, "Commit attempts that failed, every retry counted."),
    "floorgate_last_batch_size": Series(_G, "Commands in the last committed batch."),
    "floorgate_last_commit_seconds": Series(_G, "How long the last batch's commit took."),
    "floorgate_commit_seconds": Series(
        _H, "How long each batch's commit took, retries while the store failed included."
    ),
    "floorgate_press_to_light_seconds": Series(
        _H,
        "From a PTL press reaching the writer to the light commands of its committed batch handed to "
        "the MQTT link.",
    ),
    "floorgate_wal_pages": Series(_G, "The SQLite write-ahead log's size in pages at the last checkpoint."),
    "floorgate_writer_backlog": Series(_G, "Commands waiting in the writer's queue."),
    "floorgate_last_seq": Series(_G, "The event log's last seq."),
    "floorgate_device_messages_total": Series(
        _C,
        "Device messages handed to the writer by class: PTL presses, scanner scans, scale readings, and "
        "reports of input not understood.",
    ),
    "floorgate_device_malformed_total": Series(
        _C, "Device input the adapters could not understand (malformed frames, unknown buttons), by class."
    ),
    "floorgate_mqtt_connected": Series(_G, "1 while the edge's MQTT link to the broker is connected."),
    # The floor
    "floorgate_orders": Series(_G, "Orders the floor holds, by status (finished ones leave after a while)."),
    "floorgate_lit_modules": Series(_G, "PTL modules lit now."),
    "floorgate_devices_online": Series(_G, "Known devices online now."),
    "floorgate_devices": Series(_G, "Known devices."),
    "floorgate_open_exceptions": Series(_G, "Exceptions open for a person to resolve."),
    # The dashboards' stream
    "floorgate_stream_clients": Series(_G, "Dashboards connected to the stream."),
    "floorgate_stream_overflows_total": Series(
        _C, "Stream clients found with a full queue (dropped to resync)."
    ),
    "floorgate_stream_resyncs_total": Series(_C, "Snapshots sent to stream clients that fell behind."),
    "floorgate_stream_messages_total": Series(_C, "Messages sent to stream clients."),
    # The store
    "floorgate_store_failing": Series(
        _G, "1 while commits fail: the edge holds its work and refuses new work."
    ),
    "floorgate_store_failure": Series(_G, "Why commits fail, one series per cause (1 for the current one)."),
    "floorgate_store_failing_seconds": Series(_G, "How long commits have been failing (0 while they work)."),
    "floorgate_store_held_events": Series(_G, "Events in the batch held while commits fail."),
    # Pick-to-light over MQTT (the edge's figures: floorgate.edge.runtime)
    "floorgate_ptl_messages_received_total": Series(_C, "PTL messages received: events, acks, statuses."),
    "floorgate_ptl_messages_malformed_total": Series(_C, "PTL messages that could not be understood."),
    "floorgate_ptl_commands_published_total": Series(_C, "Light commands published, resends included."),
    "floorgate_ptl_commands_resent_total": Series(_C, "Light commands published again for want of an ack."),
    "floorgate_ptl_commands_awaiting_ack": Series(_G, "Light commands waiting for their module's ack."),
    "floorgate_ptl_retained_corrected_total": Series(
        _C, "Retained light commands found unlike the floor's and replaced or deleted."
    ),
    # Webhooks (floorgate.edge.webhooks)
    "floorgate_webhook_delivered_total": Series(_C, "Webhook deliveries the receiver took."),
    "floorgate_webhook_attempts_failed_total": Series(_C, "Webhook attempts that failed (retried later)."),
    "floorgate_webhook_failed_total": Series(_C, "Webhook deliveries that ran out of attempts."),
    "floorgate_webhook_throttled_total": Series(
        _C, "Webhook attempts the receiver throttled (429, 502, 503, 504): waited out."
    ),
    "floorgate_webhook_endpoints_gone_total": Series(_C, "Webhook endpoints disabled after a 410 Gone."),
    "floorgate_webhook_endpoints_enabled": Series(_G, "Webhook endpoints enabled."),
    "floorgate_webhook_backlog": Series(_G, "Webhook deliveries pending."),
    "floorgate_webhook_deliveries_failed": Series(_G, "Webhook deliveries failed, waiting for a replay."),
    "floorgate_webhook_deliveries_delivered": Series(_G, "Webhook deliveries delivered, still in the store."),
    "floorgate_webhook_oldest_pending_age_seconds": Series(_G, "Age of the oldest pending webhook delivery."),
}


async def prometheus_text(context: WebContext) -> str:
    """Every figure as one exposition (text format 0.0.4), the edge's other parts' figures last."""
    stats = context.health.writer_figures()
    floor = context.floor
    orders = Counter(o.status for o in floor.orders())
    devices = list(floor.devices())
    hub = context.hub.stats
    out: list[str] = []
    for name, value in (
        ("floorgate_events_total", stats.events),
        ("floorgate_commands_total", stats.commands),
        ("floorgate_commands_duplicate_total", stats.duplicates),
        ("floorgate_commands_rejected_total", stats.rejected),
        ("floorgate_commands_failed_total", stats.failed),
        ("floorgate_commands_unstorable_total", stats.unstorable),
        ("floorgate_batches_total", stats.batches),
        ("floorgate_commit_failures_total", stats.commit_failures),
        ("floorgate_last_batch_size", stats.last_batch_size),
        ("floorgate_last_commit_seconds", round(stats.last_commit_seconds, 6)),
        ("floorgate_wal_pages", stats.wal_pages),
        ("floorgate_writer_backlog", stats.backlog),
        ("floorgate_last_seq", stats.last_seq),
        ("floorgate_mqtt_connected", int(context.health.mqtt_connected())),
    ):
        _family(out, name, [("", value)])
    _histogram(out, "floorgate_press_to_light_seconds", stats.press_to_light)
    _histogram(out, "floorgate_commit_seconds", stats.commit_seconds)
    _labelled(out, "floorgate_device_messages_total", "class", stats.device_messages)
    _labelled(out, "floorgate_device_malformed_total", "class", stats.device_malformed)
    _labelled(out, "floorgate_orders", "status", {s.value: orders.get(s, 0) for s in OrderStatus})
    open_exceptions = sum(1 for x in floor.exceptions() if x.status is ExceptionStatus.OPEN)
    for name, value in (
        ("floorgate_lit_modules", sum(1 for light in floor.lights() if light.lit)),
        ("floorgate_devices_online", sum(1 for d in devices if d.online)),
        ("floorgate_devices", len(devices)),
        ("floorgate_open_exceptions", open_exceptions),
        ("floorgate_stream_clients", len(context.hub.clients)),
        ("floorgate_stream_overflows_total", hub.overflows),
        ("floorgate_stream_resyncs_total", hub.resyncs),
        ("floorgate_stream_messages_total", hub.messages),
    ):
        _family(out, name, [("", value)])
    _store_metrics(out, context)
    extra = await context.health.extra_metrics()
    for name, value in sorted(extra.items()):
        _family(out, name, [("", value)])
    return "\n".join(out) + "\n"


def _store_metrics(out: list[str], context: WebContext) -> None:
    store = context.health.store()
    failure = store.failure
    since = store.failing_since
    _family(out, "floorgate_store_failing", [("", 0 if failure is None else 1)])
    causes = context.health.store_causes()
    current = failure.cause if failure is not None else None
    _labelled(out, "floorgate_store_failure", "cause", {cause: int(cause == current) for cause in causes})
    failing_s = 0.0 if since is None else round(time.time() - since, 3)
    _family(out, "floorgate_store_failing_seconds", [("", failing_s)])
    _family(out, "floorgate_store_held_events", [("", store.held_events)])


def _header(out: list[str], name: str) -> None:
    """HELP and TYPE. A name missing from SERIES (a figure some part of the edge added without declaring
    it) is published as `untyped`, and a test of the exposition fails on it."""
    series = SERIES.get(name, Series("untyped", "Not described."))
    out.append(f"# HELP {name} {series.help}")
    out.append(f"# TYPE {name} {series.kind}")


def _family(out: list[str], name: str, samples: Iterable[tuple[str, float]]) -> None:
    """HELP and TYPE, then the samples: (the label set as written, or "", value)."""
    _header(out, name)
    out.extend(f"{name}{labels} {value}" for labels, value in samples)


def _labelled(out: list[str], name: str, label: str, values: Mapping[str, float]) -> None:
    _family(out, name, [(f'{{{label}="{_escaped(key)}"}}', value) for key, value in sorted(values.items())])


def _histogram(out: list[str], name: str, figures: HistogramFigures) -> None:
    _header(out, name)
    for bound, count in zip(figures.bounds, figures.cumulative, strict=True):
        out.append(f'{name}_bucket{{le="{bound!r}"}} {count}')
    out.append(f'{name}_bucket{{le="+Inf"}} {figures.count}')
    out.append(f"{name}_sum {figures.total!r}")
    out.append(f"{name}_count {figures.count}")


def _escaped(value: str) -> str:
    """A label value as the text format writes it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
