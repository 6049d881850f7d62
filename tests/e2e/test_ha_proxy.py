"""The haproxy configuration docs/ha.md shows, run as written in front of a real pair: one address that
follows the active edge through a kill -9."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.brokers import Mosquitto
from tests.support.edge_pair import pair_edges
from tests.support.floor_script import new_site_id
from tests.support.haproxy import HaproxyFront
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.e2e

EDGE_START_WITHIN = 60.0
TAKEOVER_WITHIN = 45.0


async def test_the_documented_haproxy_config_sends_every_request_to_the_active_edge_of_the_pair(
    tmp_path: Path, mosquitto: Mosquitto, postgres_server: PostgresServer
) -> None:
    edges = pair_edges(
        tmp_path,
        site=new_site_id("proxy"),
        mqtt_url=mosquitto.url,
        store_url=postgres_server.create_database(),
    )
    try:
        with HaproxyFront(tmp_path, edges) as front:
            active, other = await front.start_pair(timeout=EDGE_START_WITHIN)
            active.kill9()
            await front.wait_serving(other, timeout=TAKEOVER_WITHIN)
            with front.client("erp") as erp:
                written = erp.put("/items/SKU-1", json={"description": "after the takeover"})
            assert written.status_code in (200, 201), written.text
    finally:
        for edge in edges:
            edge.stop()
