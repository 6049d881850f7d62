"""The dashboard in headless Chromium against a real edge, mosquitto and simulated modules and devices."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Browser, Page, Route, expect

from floorgate.core.commands import Button
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.browser.conftest import FloorDevices
from tests.support.dashboard_pages import bin_display, finish_picking, open_page, start_order
from tests.support.edge_process import TOKENS, EdgeProcess
from tests.support.master_data import seed_master_data

pytestmark = pytest.mark.browser


async def live_supervisor_dashboard(browser: Browser, edge: EdgeProcess) -> Page:
    """The master data seeded and the supervisor's dashboard open and live."""
    with edge.client("erp") as erp:
        seed_master_data(erp)
    page = await open_page(browser, edge, "/dashboard", "supervisor")
    await expect(page.get_by_test_id("connection")).to_have_text("live")
    return page


async def test_the_page_loads_with_a_token_and_shows_zones_and_live_lights(
    browser: Browser, edge: EdgeProcess, bank: ModuleBank
) -> None:
    with edge.client("erp") as erp:
        seed_master_data(erp)
    page = await open_page(browser, edge, "/dashboard", "viewer")
    await expect(page.get_by_test_id("connection")).to_have_text("live")
    await expect(page.locator('[data-zone="A"] h2')).to_contain_text("Zone A")
    await expect(page.locator('[data-zone="B"] h2')).to_contain_text("Zone B")
    await expect(page.locator('[data-zone="A"] [data-location]')).to_have_count(3)
    assert "token" not in page.url  # the token does not stay in the address bar
    await expect(page.get_by_test_id("kpi-lines")).to_be_visible()

    await start_order(edge, bank)
    await expect(bin_display(page, "A-01")).to_have_text("3")
    await expect(page.locator('[data-picker="ann"]')).to_contain_text("O-1")

    # A button press on the module travels MQTT → edge → commit → stream → page within a second.
    pressed = time.monotonic()
    await bank.press("M-A-01", Button.CONFIRM)
    await expect(bin_display(page, "A-01")).to_have_text("", timeout=1000)
    await expect(page.get_by_test_id("events")).to_contain_text("pick.confirmed", timeout=1000)
    assert time.monotonic() - pressed < 1.0
    await expect(page.get_by_test_id("kpi-lines")).to_contain_text("1 lines")

    zone_screen = await open_page(browser, edge, "/zones/A", "viewer")
    card = zone_screen.get_by_test_id("picker-card")
    await expect(card).to_contain_text("ann")
    await expect(card.get_by_test_id("lines-left")).to_have_text("1")


async def test_a_raw_module_event_raises_an_exception_that_a_supervisor_resolves_from_the_page(
    browser: Browser, edge: EdgeProcess, bank: ModuleBank, devices: FloorDevices
) -> None:
    page = await live_supervisor_dashboard(browser, edge)
    viewer = await open_page(browser, edge, "/dashboard", "viewer")
    await expect(viewer.get_by_test_id("connection")).to_have_text("live")

    published = time.monotonic()
    await devices.module_event("M-A-03", "confirm", "2")  # nothing is lit there
    # (M-B-01 of the simulated bank has no location: its own exception may be open too.)
    exception = page.locator("[data-exception]").filter(has_text="A-03")
    await expect(exception).to_have_count(1, timeout=1000)
    assert time.monotonic() - published < 1.0
    await expect(viewer.locator("[data-exception]").filter(has_text="A-03")).to_have_count(1)
    await expect(viewer.get_by_test_id("resolve")).to_have_count(0)  # a viewer sees no Resolve
    exception_id = int(await exception.get_attribute("data-exception") or 0)
    with edge.client("viewer") as api:  # and the API refuses a viewer anyway
        assert api.post(f"/exceptions/{exception_id}/resolve", json={}).status_code == 403

    await exception.get_by_test_id("resolve").click()
    await expect(page.locator(f'[data-exception="{exception_id}"]')).to_have_count(0)
    await expect(viewer.locator(f'[data-exception="{exception_id}"]')).to_have_count(0)
    with edge.client("viewer") as api:
        assert exception_id not in {x["id"] for x in api.get("/exceptions").json()}
        resolved = api.get("/exceptions", params={"status": "resolved"}).json()
        assert {x["id"]: x["resolved_by"] for x in resolved}[exception_id] == "supervisor"


async def test_a_refused_resolve_is_shown_on_its_exception_and_new_exceptions_do_not_replace_it(
    browser: Browser, edge: EdgeProcess, bank: ModuleBank, devices: FloorDevices
) -> None:
    page = await live_supervisor_dashboard(browser, edge)
    await devices.module_event("M-A-03", "confirm", "2")
    exception = page.locator("[data-exception]").filter(has_text="A-03")
    await expect(exception).to_have_count(1)
    button = await exception.get_by_test_id("resolve").element_handle()

    # A new exception goes to the top of the list; the one under the supervisor's pointer stays the same
    # element (re-rendering the whole list swapped every Resolve button for a new one on each delta).
    await devices.module_event("M-A-01", "confirm", "1")
    await expect(page.locator("[data-exception]").filter(has_text="A-01")).to_have_count(1)
    assert await button.evaluate("node => node.isConnected")

    # The edge refuses (here: the request is answered 503 on its way): the supervisor sees why, on that
    # exception, and can try again.
    async def refuse(route: Route) -> None:
        await route.fulfill(status=503, json={"detail": "the store is failing: disk full"})

    await page.route("**/api/v1/exceptions/*/resolve", refuse)
    await exception.get_by_test_id("resolve").click()
    await expect(exception.get_by_role("alert")).to_have_text(
        "Resolve failed (503): the store is failing: disk full"
    )
    await expect(exception.get_by_test_id("resolve")).to_be_enabled()
    await page.unroute("**/api/v1/exceptions/*/resolve")
    await exception.get_by_test_id("resolve").click()
    await expect(exception).to_have_count(0)
    await expect(page.locator("[data-exception]").filter(has_text="A-01")).to_have_count(1)


async def test_a_failed_weight_check_is_overridden_from_the_page(
    browser: Browser, edge: EdgeProcess, bank: ModuleBank, devices: FloorDevices
) -> None:
    with edge.client("erp") as erp:
        seed_master_data(erp)
    await start_order(edge, bank)
    await bank.press("M-A-01", Button.CONFIRM)
    await finish_picking(edge, bank)

    page = await open_page(browser, edge, "/dashboard", "supervisor")
    packer = await open_page(browser, edge, "/stations/PACK-1", "viewer")
    station = page.locator('[data-station="PACK-1"]')
    await expect(station.get_by_test_id("verdict")).to_have_text("IDLE")

    await devices.scan("SCAN-1", "O-1")
    await expect(station.get_by_test_id("verdict")).to_have_text("WEIGHING")
    await expect(packer.get_by_test_id("expected")).to_have_text("600 g")  # 3 x 100 + 2 x 100 + 100 tare
    await devices.weight("SCALE-1", 450.0)  # a 150 g item short
    await expect(station.get_by_test_id("verdict")).to_have_text("FAIL")
    await expect(packer.get_by_test_id("verdict")).to_have_text("FAIL")
    await expect(packer.get_by_test_id("measured")).to_have_text("450 g")
    await expect(packer.get_by_test_id("next-step")).to_contain_text("too light")
    await expect(packer.get_by_test_id("override")).to_have_count(0)  # a viewer's screen cannot accept
    await expect(page.get_by_test_id("kpi-weight")).to_contain_text("1 / 1")

    await station.get_by_test_id("override").click()
    await station.get_by_test_id("override-reason").fill("customer agreed to a partial carton")
    await station.get_by_test_id("override-confirm").click()
    await expect(station.get_by_test_id("verdict")).to_have_text("ACCEPTED")
    await expect(packer.get_by_test_id("verdict")).to_have_text("ACCEPTED")
    await expect(page.get_by_test_id("events")).to_contain_text("pack.overridden")
    with edge.client("viewer") as api:
        assert api.get("/orders/O-1").json()["status"] == "packed"
        events = api.get("/events", params={"type": "pack.overridden"}).json()["events"]
        assert [e["data"]["reason"] for e in events] == ["customer agreed to a partial carton"]


async def test_a_wrong_token_is_refused_with_the_login_form(browser: Browser, edge: EdgeProcess) -> None:
    page = await browser.new_page()
    await page.goto(f"{edge.base_url}/dashboard?token=not-a-token")
    await expect(page.locator("#login")).to_be_visible()
    await expect(page.get_by_test_id("login-error")).to_contain_text("refused")
    await expect(page.locator("#app")).to_be_hidden()

    await page.locator("#token").fill(TOKENS["viewer"])
    await page.get_by_role("button", name="Open dashboard").click()
    await expect(page.get_by_test_id("connection")).to_have_text("live")
    await expect(page.get_by_test_id("role")).to_have_text("role: viewer")
