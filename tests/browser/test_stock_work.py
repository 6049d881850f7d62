"""Putaways and cycle counts on the supervisor's view, in headless Chromium against a real edge, mosquitto and
simulated modules: the putaway waiting then done, a blind count with a variance bin by bin, its
count_variance exception resolved from the page, the inventory KPI, and every panel at every width."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from floorgate.core.commands import Button
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.dashboard_pages import open_page
from tests.support.edge_process import EdgeProcess
from tests.support.master_data import seed_master_data
from tests.support.module_keys import count_as
from tests.support.screen_fit import (
    VIEWPORTS,
    assert_no_sideways_scroll,
    assert_readable_contrast,
    assert_whole_word_visible,
    show_at,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.browser


async def assert_stock_panels_fit(page: Page, *, status: str, chip: str) -> None:
    """At every width: no sideways scroll, the count's `status` and its bins' chips whole and readable, and
    so are the putaways' statuses."""
    count = page.locator('[data-count="CC-1"]')
    for viewport in VIEWPORTS:
        await show_at(page, viewport)
        where = f"the supervisor view with a count and a putaway on a {viewport}"
        await assert_no_sideways_scroll(page, where=where)
        await assert_whole_word_visible(count.get_by_test_id("count-status"), status, where=where)
        bin_chip = count.locator(f'[data-count-bin="{chip}"]')
        await bin_chip.scroll_into_view_if_needed()
        await expect(bin_chip).to_be_in_viewport(ratio=1)  # wholly: none of it beside the screen
        await assert_readable_contrast(count.locator("[data-count-bin]"), where=f"{where}, the bins counted")
        await assert_readable_contrast(
            count.get_by_test_id("count-status"), where=f"{where}, the count's status"
        )
        await assert_readable_contrast(page.get_by_test_id("putaway-status"), where=f"{where}, the putaways")


async def test_a_putaway_and_a_blind_count_with_a_variance_show_live_and_the_exception_is_resolved(
    browser: Browser, edge: EdgeProcess, bank: ModuleBank
) -> None:
    with edge.client("erp") as erp:
        seed_master_data(erp)  # A-01 10 of SKU-1, A-02 5 of SKU-2, A-03 8 of SKU-3
    page = await open_page(browser, edge, "/dashboard", "supervisor")
    await expect(page.get_by_test_id("connection")).to_have_text("live")
    await expect(page.get_by_test_id("counts")).to_contain_text("No cycle counts yet.")
    await expect(page.get_by_test_id("kpi-inventory")).to_contain_text("0 bins counted")

    # The ERP sends a putaway: it waits, lit on A-01, until the stocker confirms 6 on the module.
    with edge.client("erp") as erp:
        body = {"task_id": "PA-1", "sku": "SKU-1", "qty": 6, "location": "A-01"}
        assert erp.post("/putaways", json=body).status_code == 201
    putaway = page.locator('[data-putaway="PA-1"]')
    await expect(putaway.get_by_test_id("putaway-status")).to_have_text("lit")
    await expect(page.get_by_test_id("putaway-summary")).to_have_text("1 waiting · 0 done")
    await wait_until(lambda: bank.state("M-A-01").display == "6", what="A-01 lit with the putaway's 6")
    await bank.press("M-A-01", Button.CONFIRM)
    await expect(putaway.get_by_test_id("putaway-status")).to_have_text("put")
    await expect(putaway).to_contain_text("6 of 6")
    await expect(page.get_by_test_id("putaway-summary")).to_have_text("0 waiting · 1 done")
    await expect(page.get_by_test_id("kpi-inventory")).to_contain_text("1 put away")

    # A supervisor starts a blind count of; the counter finds A-02 as recorded, A-03 short.
    with edge.client("supervisor") as supervisor:
        body = {"count_id": "CC-1", "locations": ["A-02", "A-03"], "blind": True}
        assert supervisor.post("/counts", json=body).status_code == 201
    count = page.locator('[data-count="CC-1"]')
    await expect(count.get_by_test_id("count-status")).to_have_text("counting")
    await expect(count.get_by_test_id("count-progress")).to_have_text(
        "0 / 2 bins counted · 0 with a variance · net 0"
    )
    await wait_until(
        lambda: bank.state("M-A-02").display == "0" and bank.state("M-A-03").display == "0",
        what="both bins lit blind",
    )
    await expect(count.locator('[data-count-bin="A-02"]')).to_contain_text("counting…")
    await count_as(bank, "M-A-02", 5)
    await expect(count.get_by_test_id("count-progress")).to_have_text(
        "1 / 2 bins counted · 0 with a variance · net 0"
    )
    await expect(count.locator('[data-count-bin="A-02"]')).to_have_text("A-02 5 of 5 · 0")
    await assert_stock_panels_fit(page, status="counting", chip="A-03")

    await count_as(bank, "M-A-03", 5)  # 8 recorded: 3 short, 37.5 %, past the site's 5 %
    await expect(count.get_by_test_id("count-status")).to_have_text("completed")
    await expect(count.get_by_test_id("count-progress")).to_have_text(
        "2 / 2 bins counted · 1 with a variance · net -3"
    )
    await expect(count.locator('[data-count-bin="A-03"]')).to_have_text("A-03 5 of 8 · -3")
    kpi = page.get_by_test_id("kpi-inventory")
    await expect(kpi).to_contain_text("50.0 %")
    await expect(kpi).to_contain_text("2 bins counted · 1 with a variance · net -3")
    await expect(page.get_by_test_id("events")).to_contain_text("count.completed")
    await assert_stock_panels_fit(page, status="completed", chip="A-03")

    # Its count_variance exception is in the exceptions panel, and a supervisor resolves it there.
    exception = page.locator("[data-exception]").filter(has_text="count_variance")
    await expect(exception).to_have_count(1)
    await expect(exception).to_contain_text("bin A-03 (SKU-3) counted 5, 8 recorded: -3")
    exception_id = int(await exception.get_attribute("data-exception") or 0)
    await exception.get_by_test_id("resolve").click()
    await expect(page.locator(f'[data-exception="{exception_id}"]')).to_have_count(0)
    with edge.client("viewer") as api:
        resolved = api.get("/exceptions", params={"status": "resolved"}).json()
        assert {x["id"]: x["kind"] for x in resolved}[exception_id] == "count_variance"

    # A new dashboard starts from the snapshot: the same count, putaway and KPI.
    fresh = await open_page(browser, edge, "/dashboard", "viewer")
    await expect(fresh.locator('[data-count="CC-1"]').get_by_test_id("count-progress")).to_have_text(
        "2 / 2 bins counted · 1 with a variance · net -3"
    )
    await expect(fresh.locator('[data-putaway="PA-1"]')).to_contain_text("6 of 6")
    await expect(fresh.get_by_test_id("kpi-inventory")).to_contain_text("net -3")
