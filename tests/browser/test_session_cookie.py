"""The dashboard's token in headless Chromium: a `?token=` leaves the URL for an HttpOnly cookie that the stream
and the API accept, out of every script's reach, and the login form sets the same cookie without a URL."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.browser.conftest import FloorDevices
from tests.support.edge_process import TOKENS, EdgeProcess
from tests.support.master_data import seed_master_data

pytestmark = pytest.mark.browser


async def test_a_token_in_the_url_becomes_a_cookie_and_a_clean_url_and_the_dashboard_works(
    browser: Browser, edge: EdgeProcess, bank: ModuleBank, devices: FloorDevices
) -> None:
    with edge.client("erp") as erp:
        seed_master_data(erp)
    page = await browser.new_page()

    await page.goto(f"{edge.base_url}/?token={TOKENS['supervisor']}")

    await expect(page.get_by_test_id("connection")).to_have_text("live")
    await expect(page.get_by_test_id("role")).to_have_text("role: supervisor")
    assert page.url == f"{edge.base_url}/dashboard"
    # The new tab's about:blank, then the clean URL: the one with the token never became an entry.
    assert await page.evaluate("history.length") == 2
    (cookie,) = [c for c in await page.context.cookies() if c["name"] == "floorgate_token"]
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert not cookie["secure"]
    assert TOKENS["supervisor"] not in await page.evaluate(
        "document.cookie + JSON.stringify(sessionStorage) + JSON.stringify(localStorage)"
    )

    # A write from the page goes through the API on the cookie alone.
    await devices.module_event("M-A-03", "confirm", "2")  # nothing is lit there: an exception
    exception = page.locator("[data-exception]").filter(has_text="A-03")
    await expect(exception).to_have_count(1, timeout=30_000)
    exception_id = int(await exception.get_attribute("data-exception") or 0)
    await exception.get_by_test_id("resolve").click()
    await expect(page.locator(f'[data-exception="{exception_id}"]')).to_have_count(0, timeout=30_000)
    with edge.client("viewer") as api:
        resolved = api.get("/exceptions", params={"status": "resolved"}).json()
    assert {x["id"]: x["resolved_by"] for x in resolved}[exception_id] == "supervisor"


async def test_the_login_form_signs_in_without_putting_the_token_in_a_url(
    browser: Browser, edge: EdgeProcess
) -> None:
    page = await browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(f"{edge.base_url}/dashboard")
    await expect(page.locator("#login")).to_be_visible()
    await expect(page.get_by_test_id("login-error")).to_have_text("")  # no token yet is not a refusal

    await page.locator("#token").fill(TOKENS["viewer"])
    await page.get_by_role("button", name="Open dashboard").click()

    await expect(page.get_by_test_id("connection")).to_have_text("live")
    await expect(page.get_by_test_id("role")).to_have_text("role: viewer")
    assert not [url for url in requested if TOKENS["viewer"] in url]
    assert await page.locator("#token").input_value() == ""
