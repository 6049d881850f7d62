"""The metrics the edge declares: histograms counted as Prometheus counts them, every series documented,
and the example Grafana dashboard asking only for series the edge publishes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from floorgate.core.commands import Button, PressButton, RecordDeviceFault, RecordScan, ReportDeviceStatus
from floorgate.edge.writer_stats import COMMIT_BUCKETS, PRESS_TO_LIGHT_BUCKETS, Histogram, WriterStats
from floorgate.web.metrics import SERIES

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs"
DASHBOARD = DOCS / "deploy" / "grafana-dashboard.json"
_METRIC = re.compile(r"\bfloorgate_[a-z0-9_]+")


def test_a_histogram_counts_a_value_on_a_bound_in_that_bucket_and_cumulates() -> None:
    histogram = Histogram((0.01, 0.1, 1.0))
    for value in (0.005, 0.01, 0.05, 2.0):
        histogram.observe(value)
    figures = histogram.figures()
    assert figures.bounds == (0.01, 0.1, 1.0)
    assert figures.cumulative == (2, 3, 3)  # 0.01 is "le 0.01"; 2.0 is above every bound
    assert figures.count == 4
    assert figures.total == pytest.approx(2.065)


@pytest.mark.parametrize("bounds", [(), (0.1, 0.1), (1.0, 0.5)])
def test_a_histogram_refuses_bounds_that_do_not_increase(bounds: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="increasing"):
        Histogram(bounds)


def test_the_latency_buckets_are_seconds_from_a_tenth_of_a_millisecond_to_seconds() -> None:
    for buckets in (PRESS_TO_LIGHT_BUCKETS, COMMIT_BUCKETS):
        assert list(buckets) == sorted(set(buckets))
        assert buckets[0] <= 0.001
        assert buckets[-1] >= 5.0


def test_device_messages_are_counted_by_class_and_faults_as_malformed_of_their_kind() -> None:
    stats = WriterStats()
    stats.count_device_message(PressButton(module="M-1", button=Button.CONFIRM))
    stats.count_device_message(RecordScan(station="S-1", data="X"))
    stats.count_device_message(RecordDeviceFault(device="scan-1", kind="scanner", reason="not JSON"))
    stats.count_device_message(ReportDeviceStatus(device="M-1", kind="ptl", online=True))
    assert stats.device_messages == {"ptl": 1, "scanner": 2, "scale": 0}
    assert stats.device_malformed == {"ptl": 0, "scanner": 1, "scale": 0}


def test_every_series_is_documented_and_the_docs_name_no_other() -> None:
    operations = (DOCS / "operations.md").read_text()
    table = operations[operations.index("## Health and metrics") :]
    documented = set(_METRIC.findall(table)) - _histogram_parts()
    assert set(SERIES) - documented == set(), "series missing from docs/operations.md"
    assert documented - set(SERIES) == set(), "docs/operations.md names series the edge does not publish"


def _histogram_parts() -> set[str]:
    return {
        f"{name}_{part}"
        for name, series in SERIES.items()
        if series.kind == "histogram"
        for part in ("bucket", "sum", "count")
    }


def _queries(node: Any) -> Iterator[str]:
    """Every PromQL text of the dashboard: panel targets' `expr` and template variables' queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, dict | str) and "label_values" in str(value):
                yield value["query"] if isinstance(value, dict) else value
            else:
                yield from _queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from _queries(item)


def test_the_grafana_dashboard_asks_only_for_series_the_edge_publishes() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = list(_queries(dashboard))
    assert queries, "no queries in the dashboard"
    histograms = {name for name, series in SERIES.items() if series.kind == "histogram"}
    for query in queries:
        names = _METRIC.findall(query)
        assert names, f"a query that names no FloorGate series: {query}"
        for name in names:
            if name.endswith("_bucket"):
                assert name.removesuffix("_bucket") in histograms, query
                assert query.startswith("histogram_quantile("), query
                assert "by (le)" in query, query
            else:
                assert name in SERIES, f"{name} is not a series the edge publishes: {query}"
    asked = " ".join(queries)
    for wanted in (
        "histogram_quantile(0.99, sum by (le) (rate(floorgate_press_to_light_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(floorgate_commit_seconds_bucket",
        "rate(floorgate_events_total",
        "floorgate_mqtt_connected",
        "floorgate_writer_backlog",
        "floorgate_webhook_backlog",
        "floorgate_open_exceptions",
    ):
        assert wanted in asked, f"the dashboard does not show {wanted}"


def test_every_panel_has_a_place_a_title_and_a_unique_id() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), ids
    for panel in panels:
        assert panel["title"], panel
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}, panel
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        assert all(target["refId"] for target in panel["targets"]), panel["title"]
