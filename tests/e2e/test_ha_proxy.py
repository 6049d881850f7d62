"""The haproxy configuration docs/ha.md shows, run as written in front of a real pair: one address that
follows the active edge through a kill -9."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.brokers import Mosquitto, free_port
from tests.support.edge_pair import pair_edges, start_pair
from tests.support.edge_process import TOKENS, EdgeProcess
from tests.support.floor_script import new_site_id
from tests.support.postgres import PostgresServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

HA_DOC = Path(__file__).resolve().parents[2] / "docs" / "ha.md"
EDGE_START_WITHIN = 60.0


def documented_haproxy(port: int, edges: list[EdgeProcess]) -> str:
    """docs/ha.md's haproxy.cfg, with this host's addresses in place of the example's."""
    found = re.search(r"```haproxy\n(.*?)```", HA_DOC.read_text(), re.DOTALL)
    assert found is not None, "docs/ha.md shows no haproxy configuration"
    config = found.group(1).replace("bind :8080", f"bind 127.0.0.1:{port}")
    for example, edge in zip(("10.0.0.11:8000", "10.0.0.12:8000"), edges, strict=True):
        assert example in config
        config = config.replace(example, f"127.0.0.1:{edge.http_port}")
    return config


async def test_the_documented_haproxy_config_sends_every_request_to_the_active_edge_of_the_pair(
    tmp_path: Path, mosquitto: Mosquitto, postgres_server: PostgresServer
) -> None:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    edges = pair_edges(
        tmp_path,
        site=new_site_id("proxy"),
        mqtt_url=mosquitto.url,
        store_url=postgres_server.create_database(),
    )
    port = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(documented_haproxy(port, edges))
    checked = subprocess.run(  # noqa: ASYNC221 - a configuration check, once, before anything runs
        [haproxy, "-c", "-f", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    proxy = subprocess.Popen(  # noqa: ASYNC220 - a real process, started once
        [haproxy, "-db", "-f", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        active = await start_pair(edges, timeout=EDGE_START_WITHIN)
        other = next(edge for edge in edges if edge is not active)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {TOKENS['erp']}"},
            timeout=5,
        ) as client:

            async def served_by(edge: EdgeProcess) -> bool:
                try:
                    answer = await client.get("/healthz/ready")
                except httpx.HTTPError:
                    return False
                return answer.status_code == 200 and answer.json().get("edge") == edge.edge_id

            await wait_until(
                lambda: served_by(active), timeout=30, what=f"haproxy sending to {active.edge_id}"
            )
            active.kill9()
            await wait_until(lambda: served_by(other), timeout=45, what=f"haproxy sending to {other.edge_id}")
            written = await client.put("/api/v1/items/SKU-1", json={"description": "after the takeover"})
            assert written.status_code in (200, 201), written.text
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        for edge in edges:
            edge.stop()
