"""`floorgate sim` as a scanner: it plays the site file's serial scanner on a pty linked at the configured
port, types the `STATION CODE` lines given on its standard input, and a real `floorgate run` starts the
order that was scanned."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.brokers import Mosquitto
from tests.support.edge_process import EdgeProcess
from tests.support.event_log import event_data
from tests.support.waiting import wait_until, wait_until_sync

pytestmark = pytest.mark.e2e


def site_extra(port: Path) -> str:
    locations = "".join(
        f'[[locations]]\ncode = "{code}"\nzone = "A"\nmodule = "M-{code}"\nsku = "SKU-{n}"\non_hand = 9\n\n'
        for n, code in enumerate(("A-01", "A-02"), 1)
    )
    return (
        locations
        + '[[stations]]\nid = "START-A"\nkind = "zone"\nzone = "A"\n'
        + f'scanner = {{ transport = "serial", port = "{port}" }}\n'
    )


async def test_floorgate_sim_types_a_scan_into_its_serial_scanner_and_the_edge_starts_that_order(
    tmp_path: Path, mosquitto: Mosquitto, site: str
) -> None:
    port = tmp_path / "ttyScanner-A"  # nothing there: the sim makes a pty and links it here
    edge = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=mosquitto.url, extra_site=site_extra(port))
    edge.write_config()
    sim_log = tmp_path / "sim.log"
    with sim_log.open("wb") as sink:
        sim = subprocess.Popen(  # noqa: ASYNC220 - a real process, started once
            [
                sys.executable,
                "-m",
                "floorgate.edge.cli",
                "sim",
                "--config",
                str(edge.config_path),
                # The simulated picker must not confirm the bins before the test has seen them lit.
                "--seconds-per-pick",
                "600",
            ],
            stdin=subprocess.PIPE,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    assert sim.stdin is not None
    try:
        wait_until_sync(port.is_symlink, timeout=15, what=f"the sim's pty linked at {port}")
        edge.start()
        with edge.client("admin") as api:
            await wait_until(
                lambda: any(d["id"] == "START-A-scanner" and d["online"] for d in api.get("/devices").json()),
                timeout=15,
                what="the edge reading the simulated scanner",
            )
            lines = [
                {"line_id": "L1", "sku": "SKU-1", "qty": 2, "location": "A-01"},
                {"line_id": "L2", "sku": "SKU-2", "qty": 4, "location": "A-02"},
            ]
            assert api.post("/orders", json={"order_id": "O-1", "lines": lines}).status_code == 201

            sim.stdin.write(b"START-A OP:ann\nSTART-A O-1\n")
            sim.stdin.flush()

            order = await wait_until(
                lambda: (o := api.get("/orders/O-1").json())["status"] == "picking" and o,
                timeout=15,
                what="the scanned order started",
            )
            assert [(ln["line_id"], ln["status"]) for ln in order["lines"]] == [("L1", "lit"), ("L2", "lit")]
            (started,) = event_data(api, "order.started")
            assert (started["zone"], started["operator"], started["lines_lit"]) == ("A", "ann", ["L1", "L2"])
            (signed_in,) = event_data(api, "station.operator_signed_in")
            assert (signed_in["station"], signed_in["operator"]) == ("START-A", "ann")
            assert [x for x in api.get("/exceptions").json() if "scan" in x["kind"]] == []
    finally:
        sim.stdin.close()
        sim.terminate()
        sim_code = sim.wait(timeout=15)
        edge.stop()
    assert sim_code == 0, sim_log.read_text()[-3000:]
    assert not port.is_symlink(), "the sim unplugs its scanner (removes the link) when it stops"
