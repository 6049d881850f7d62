"""The put wall on the supervisor view and on the sorter's screen, following a real sort: a batch picked on
simulated modules, its items scanned at the wall's MQTT scanner, put, a wrong item refused in red, and the
orders taken out of their done cubbies; both pages fit a phone, a tablet and a desktop all along."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from floorgate.core.commands import Button
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.browser.conftest import FloorDevices
from tests.support.brokers import Mosquitto
from tests.support.dashboard_pages import open_page
from tests.support.edge_process import EdgeProcess
from tests.support.event_log import event_data
from tests.support.master_data import seed_master_data
from tests.support.screen_fit import (
    VIEWPORTS,
    assert_no_sideways_scroll,
    assert_readable_contrast,
    assert_whole_word_visible,
    show_at,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.browser

CUBBIES = ("W1-01", "W1-02", "W1-03")
WALL_SITE = '[[walls]]\nid = "W1"\ncubbies = ["W1-01", "W1-02", "W1-03"]\nscanner = { transport = "mqtt" }\n'
WAIT = 15.0  # seconds: generous, for a loaded machine
# The colour a refused scan is shown in (dashboard.css --bad), as the browser computes it.
BAD_RED = "rgb(229, 72, 77)"


@pytest.fixture
def wall_edge(tmp_path: Path, mosquitto: Mosquitto, site: str) -> Iterator[EdgeProcess]:
    process = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=mosquitto.url, extra_site=WALL_SITE)
    yield process.start()
    process.stop()


@pytest.fixture
async def modules(mosquitto: Mosquitto, site: str) -> AsyncIterator[ModuleBank]:
    async with ModuleBank(MqttEndpoint.from_url(mosquitto.url), site, ("M-A-01", "M-A-02", *CUBBIES)) as bank:
        yield bank


def picked_batch(api: httpx.Client) -> None:
    """Orders O-1 (2 x SKU-1, 1 x SKU-2) and O-2 (1 x SKU-1) as batch B-1 for wall W1, started in zone A."""
    seed_master_data(api)
    for order_id, lines in {
        "O-1": [("L1", "SKU-1", 2, "A-01"), ("L2", "SKU-2", 1, "A-02")],
        "O-2": [("L1", "SKU-1", 1, "A-01")],
    }.items():
        body = {
            "order_id": order_id,
            "lines": [{"line_id": i, "sku": s, "qty": q, "location": loc} for i, s, q, loc in lines],
        }
        assert api.post("/orders", json=body).status_code == 201
    batch = {"batch_id": "B-1", "order_ids": ["O-1", "O-2"], "wall": "W1"}
    assert api.post("/batches", json=batch).status_code == 201
    assert api.post("/batches/B-1/start", json={"zone": "A", "operator": "ann"}).status_code == 200


async def put(api: httpx.Client, modules: ModuleBank, devices: FloorDevices, sku: str, into: str) -> None:
    """One unit scanned at the wall, seen lit on its cubby, and confirmed there."""
    await devices.scan("W1", sku)
    await wait_until(lambda: modules.state(into).display == "1", timeout=WAIT, what=f"{into} showing 1")
    puts = len(event_data(api, "put.confirmed"))
    await modules.press(into, Button.CONFIRM)
    await wait_until(
        lambda: len(event_data(api, "put.confirmed")) == puts + 1, timeout=WAIT, what=f"the put into {into}"
    )


async def assert_wall_pages_fit(supervisor: Page, sorter: Page, *, verdict: str) -> None:
    """Both pages at every width: no sideways scroll, the sorter's verdict a whole word, cubbies readable."""
    for viewport in VIEWPORTS:
        await show_at(supervisor, viewport)
        where = f"the supervisor view with a put wall on a {viewport}"
        await assert_no_sideways_scroll(supervisor, where=where)
        await assert_readable_contrast(
            supervisor.locator('[data-wall="W1"] [data-cubby] > div'), where=f"{where}, its cubbies"
        )
        await show_at(sorter, viewport)
        where = f"the put-wall screen on a {viewport}"
        await assert_no_sideways_scroll(sorter, where=where)
        await assert_whole_word_visible(sorter.get_by_test_id("verdict"), verdict, where=where)
        await assert_readable_contrast(sorter.get_by_test_id("verdict"), where=f"{where}, its verdict")
        await assert_readable_contrast(sorter.locator("[data-cubby] > div"), where=f"{where}, its cubbies")


async def test_the_wall_panel_and_the_wall_screen_follow_a_sort_and_show_a_wrong_scan_in_red(
    browser: Browser, wall_edge: EdgeProcess, modules: ModuleBank, devices: FloorDevices
) -> None:
    supervisor = await open_page(browser, wall_edge, "/dashboard", "supervisor")
    sorter = await open_page(browser, wall_edge, "/walls/W1", "viewer")
    panel = supervisor.locator('[data-wall="W1"]')
    await expect(panel.locator("[data-cubby]")).to_have_count(3)
    await expect(panel.locator('[data-state="free"]')).to_have_count(3)
    await expect(sorter.get_by_test_id("verdict")).to_have_text("SCAN ITEM")

    with wall_edge.client("erp") as api:
        picked_batch(api)
        await wait_until(lambda: modules.state("M-A-01").display == "3", timeout=WAIT, what="A-01 lit")
        # ann picks the batch's orders in one walk: one row for her, and on the zone's screen one card with
        # each bin once, showing what the bin shows (the orders' quantities summed).
        await expect(supervisor.locator('[data-picker="ann"]')).to_have_count(1)
        await expect(supervisor.locator('[data-picker="ann"]')).to_contain_text("O-1 + 1 more")
        await expect(supervisor.locator('[data-picker="ann"]')).to_contain_text("0/2 lines")
        zone = await open_page(browser, wall_edge, "/zones/A", "viewer")
        await expect(zone.get_by_test_id("picker-card")).to_have_count(1)
        await expect(zone.get_by_test_id("line-chip")).to_have_text(["A-01 \u00d7 3", "A-02 \u00d7 1"])
        await expect(zone.locator(".chip.lit")).to_have_count(2)
        await modules.press("M-A-01", Button.CONFIRM)
        await wait_until(lambda: modules.state("M-A-02").display == "1", timeout=WAIT, what="A-02 lit")
        await modules.press("M-A-02", Button.CONFIRM)
        await wait_until(
            lambda: api.get("/batches/B-1").json()["status"] == "picked", timeout=WAIT, what="B-1 picked"
        )

        # The first scan starts the sort: O-1 gets W1-01, O-2 W1-02, and the item goes to O-1's cubby.
        await devices.scan("W1", "SKU-1")
        await expect(sorter.get_by_test_id("verdict")).to_have_text("PUT", timeout=WAIT * 1000)
        await expect(sorter.get_by_test_id("cubby")).to_have_text("W1-01")
        await expect(sorter.get_by_test_id("qty")).to_have_text("1")
        await expect(sorter.get_by_test_id("last-scan")).to_contain_text("SKU-1")
        cubby = panel.locator('[data-cubby="W1-01"]')
        await expect(cubby).to_have_attribute("data-state", "filling")
        await expect(cubby).to_contain_text("O-1")
        await expect(cubby.get_by_test_id("lines-left")).to_have_text("2 lines · 3 left")
        await expect(panel.locator('[data-cubby="W1-02"]')).to_contain_text("O-2")
        await expect(panel.get_by_test_id("wall-stats")).to_contain_text("batch B-1 · 2 filling")
        await assert_wall_pages_fit(supervisor, sorter, verdict="PUT")
        puts = len(event_data(api, "put.confirmed"))
        await modules.press("W1-01", Button.CONFIRM)
        await wait_until(
            lambda: len(event_data(api, "put.confirmed")) == puts + 1, timeout=WAIT, what="the first put"
        )
        await expect(cubby.get_by_test_id("lines-left")).to_have_text("2 lines · 2 left")
        await expect(sorter.get_by_test_id("verdict")).to_have_text("SCAN ITEM")

        # An item no order of the batch needs: red on the sorter's screen, named on the supervisor's panel.
        await devices.scan("W1", "SKU-3")
        await expect(sorter.get_by_test_id("verdict")).to_have_text("WRONG", timeout=WAIT * 1000)
        await expect(sorter.get_by_test_id("verdict")).to_have_css("background-color", BAD_RED)
        await expect(sorter.locator("#screen")).to_have_class("screen-main wrong")
        await expect(sorter.get_by_test_id("cubby")).to_have_text("—")
        await expect(panel.get_by_test_id("wall-scan")).to_contain_text("last scan SKU-3 refused")
        await assert_wall_pages_fit(supervisor, sorter, verdict="WRONG")

        # The rest of the batch: O-1's cubby blinks done, then O-2's; each taken out is free again.
        await put(api, modules, devices, "SKU-1", "W1-01")
        await expect(sorter.get_by_test_id("verdict")).to_have_text("SCAN ITEM")
        await expect(sorter.get_by_test_id("next-step")).to_have_text("What to do nextScan the next item.")
        await put(api, modules, devices, "SKU-2", "W1-01")
        await expect(cubby).to_have_attribute("data-state", "done", timeout=WAIT * 1000)
        await expect(cubby).to_have_class("cubby done c-green")
        await put(api, modules, devices, "SKU-1", "W1-02")
        await expect(panel.locator('[data-state="done"]')).to_have_count(2, timeout=WAIT * 1000)
        await expect(sorter.get_by_test_id("next-step")).to_contain_text("Take out W1-01, W1-02")
        await expect(sorter.get_by_test_id("cubby")).to_have_text("W1-02")  # the last put, muted
        await assert_wall_pages_fit(supervisor, sorter, verdict="SCAN ITEM")
        for into in ("W1-01", "W1-02"):
            await wait_until(
                lambda c=into: modules.state(c).display == "done", timeout=WAIT, what=f"{into} done"
            )
            await modules.press(into, Button.CONFIRM)
        await expect(panel.locator('[data-state="free"]')).to_have_count(3, timeout=WAIT * 1000)
        await expect(sorter.locator('[data-state="free"]')).to_have_count(3)
        assert [s["order"] for s in event_data(api, "order.sorted")] == ["O-1", "O-2"]
