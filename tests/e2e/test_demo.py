"""`floorgate demo` as a new user runs it: it prints a URL and a token, pickers scan orders in at the zone
start stations' simulated scanners and complete them, stockers put away and counters count, batches are
picked and sorted at the put wall, Ctrl-C stops it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.brokers import free_port
from tests.support.edge_process import demo_arguments, interrupt
from tests.support.waiting import wait_until_sync

pytestmark = pytest.mark.e2e


def started_by_scans(events: list[dict[str, Any]]) -> bool:
    """Each order started by the picker last badged in at its zone's start station, as a scan does."""
    operator_at: dict[str, str] = {}
    starts = 0
    for event in sorted(events, key=lambda e: e["seq"]):
        data = event["data"]
        if event["type"] == "station.operator_signed_in":
            operator_at[data["station"]] = data["operator"]
        elif event["type"] == "order.started":
            starts += 1
            if operator_at.get(f"START-{data['zone']}") != data["operator"]:
                return False
    return starts > 0


def logged(api: httpx.Client, event_type: str) -> list[dict[str, Any]]:
    return list(api.get("/events", params={"type": event_type, "after": 0, "limit": 100}).json()["events"])


def sorting_events(api: httpx.Client) -> list[dict[str, Any]]:
    page = api.get("/events", params={"after": 0, "limit": 1000, "type": "batch.picked,order.sorted"})
    return list(page.json()["events"])


def assert_batches_are_picked_and_sorted(api: httpx.Client) -> None:
    """A batch picked in zone C, and its orders taken out of their cubbies at wall W1, within a deadline."""
    wall = api.get("/walls/W1").json()
    assert len(wall["cubbies"]) >= 24
    events = wait_until_sync(
        lambda: (
            (found := sorting_events(api))
            and any(e["type"] == "batch.picked" for e in found)
            and sum(e["type"] == "order.sorted" for e in found) >= 3
            and found
        ),
        timeout=90,
        what="a batch picked and three of its orders sorted at the put wall",
    )
    picked = {e["data"]["batch"] for e in events if e["type"] == "batch.picked"}
    sorted_orders = [e["data"] for e in events if e["type"] == "order.sorted"]
    assert {s["batch"] for s in sorted_orders} <= picked
    assert all(s["wall"] == "W1" and s["cubby"].startswith("W1-") for s in sorted_orders)
    assert api.get(f"/orders/{sorted_orders[0]['order']}").json()["status"] in {"picked", "packed"}


def test_the_demo_scans_orders_in_completes_them_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    http_port, mqtt_port = free_port(), free_port()
    out = tmp_path / "demo.out"
    with out.open("wb") as sink:
        demo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "floorgate.edge.cli",
                *demo_arguments(http_port=http_port, mqtt_port=mqtt_port, data_dir=tmp_path / "data"),
                "--seconds-per-pick",
                "0.05",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        match = wait_until_sync(
            lambda: re.search(r"dashboard\s+(http://\S+/dashboard\?token=(\S+))", out.read_text()),
            timeout=60,
            what="the dashboard URL and token",
        )
        token = match.group(2)
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{http_port}/api/v1", headers={"Authorization": f"Bearer {token}"}
        )
        picked = wait_until_sync(
            lambda: (
                len(api.get("/orders", params={"status": "picked"}).json()) >= 5
                and api.get("/orders", params={"status": "picked"}).json()
            ),
            timeout=60,
            what="five orders picked by the simulated pickers",
        )
        assert all(line["status"] in {"picked", "short"} for order in picked for line in order["lines"])
        devices = api.get("/devices").json()
        assert sum(1 for d in devices if d["kind"] == "ptl") >= 40
        scanners = {d["id"]: d["online"] for d in devices if d["kind"] == "scanner"}
        assert scanners == {"START-A-scanner": True, "START-B-scanner": True, "W1-scanner": True}
        events = api.get("/events", params={"after": 0, "limit": 1000}).json()["events"]
        assert started_by_scans(events), [
            e for e in events if e["type"].startswith(("order.started", "station."))
        ]
        signed_in = {e["data"]["station"] for e in events if e["type"] == "station.operator_signed_in"}
        assert signed_in == {"START-A", "START-B", "W1"}  # the pickers, and the sorter at the wall
        scan_problems = [x for x in api.get("/exceptions").json() if "scan" in x["kind"]]
        assert scan_problems == []
        assert httpx.get(match.group(1).split("?")[0]).status_code == 200

        # Stockers put away what runs low, and the first blind count (20 s in) finds its counter at work.
        for event_type in ("putaway.confirmed", "count.recorded"):
            wait_until_sync(
                lambda event_type=event_type: logged(api, event_type),
                timeout=90,
                what=f"a {event_type} in the demo's event log",
            )
        counted = logged(api, "count.recorded")
        assert all(e["data"]["blind"] and e["data"]["counted"] >= 0 for e in counted), counted
        assert_batches_are_picked_and_sorted(api)
    finally:
        code = interrupt(demo)
    assert code == 0, out.read_text()[-3000:]
