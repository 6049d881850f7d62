"""The supervisor's dashboard, open through docs/ha.md's haproxy in front of a real pair on PostgreSQL,
follows a kill -9 of the active edge: the same page reconnects to the edge that took over and shows what
happens there, without a reload."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from floorgate.core.commands import Button
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.brokers import Mosquitto
from tests.support.dashboard_pages import bin_display, open_page, start_order
from tests.support.edge_pair import pair_edges
from tests.support.haproxy import HaproxyFront
from tests.support.master_data import seed_master_data
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.browser

EDGE_START_WITHIN = 60.0
TAKEOVER_WITHIN = 45.0
# The page retries with a growing delay (up to 10 s between tries) while the pair has no active edge.
RESYNCED_WITHIN_MS = 45_000


async def test_the_dashboard_reconnects_to_the_edge_that_took_over_and_shows_its_floor_without_a_reload(
    tmp_path: Path,
    browser: Browser,
    mosquitto: Mosquitto,
    postgres_server: PostgresServer,
    site: str,
    bank: ModuleBank,
) -> None:
    edges = pair_edges(
        tmp_path, site=site, mqtt_url=mosquitto.url, store_url=postgres_server.create_database()
    )
    try:
        with HaproxyFront(tmp_path, edges) as front:
            active, standby = await front.start_pair(timeout=EDGE_START_WITHIN)
            with front.client("erp") as erp:
                seed_master_data(erp)
            page = await open_page(browser, front, "/dashboard", "supervisor")
            await expect(page.get_by_test_id("connection")).to_have_text("live")
            await start_order(front, bank)  # O-1: A-01 lit with 3, A-02 with 2
            first, second = bin_display(page, "A-01"), bin_display(page, "A-02")
            await expect(first).to_have_text("3")
            await expect(second).to_have_text("2")
            await page.evaluate("window.beforeTheTakeover = true")  # gone if the page reloads

            active.kill9()
            await front.wait_serving(standby, timeout=TAKEOVER_WITHIN)
            # A press the new active edge applies: A-01 goes dark on the same page, A-02 stays lit.
            await bank.press("M-A-01", Button.CONFIRM)
            await expect(first).to_have_text("", timeout=RESYNCED_WITHIN_MS)
            await expect(page.get_by_test_id("events")).to_contain_text("pick.confirmed")
            await expect(second).to_have_text("2")
            await expect(page.get_by_test_id("connection")).to_have_text("live")
            assert await page.evaluate("window.beforeTheTakeover === true"), "the page was reloaded"
    finally:
        for edge in edges:
            edge.stop()
