"""Every screen on a 390 px phone, a 768 px tablet and a desktop: no sideways scroll, whole verdicts, readable chips."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from floorgate.core.commands import Button
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.browser.conftest import FloorDevices
from tests.support.dashboard_pages import finish_picking, open_page, start_order
from tests.support.edge_process import EdgeProcess
from tests.support.master_data import seed_master_data
from tests.support.screen_fit import (
    PHONE,
    VIEWPORTS,
    assert_no_sideways_scroll,
    assert_readable_contrast,
    assert_whole_word_visible,
    show_at,
)

pytestmark = pytest.mark.browser


async def assert_supervisor_view_fits_while_picking(supervisor: Page) -> None:
    await expect(supervisor.locator('[data-picker="ann"]')).to_contain_text("O-1")
    for viewport in VIEWPORTS:
        await show_at(supervisor, viewport)
        await assert_no_sideways_scroll(
            supervisor, where=f"the supervisor view with a picker at work on a {viewport}"
        )


async def assert_zone_screen_fits(zone: Page) -> None:
    card = zone.get_by_test_id("picker-card")
    for viewport in VIEWPORTS:
        await show_at(zone, viewport)
        where = f"the zone screen on a {viewport}"
        await assert_no_sideways_scroll(zone, where=where)
        await assert_readable_contrast(card.get_by_test_id("line-chip"), where=f"{where}, its line chips")
        await assert_readable_contrast(card.locator(".colour"), where=f"{where}, the picker's colour")


async def assert_pack_screens_fit(supervisor: Page, packer: Page, *, pill: str, banner: str) -> None:
    """The supervisor's station card shows `pill` and the packer's screen `banner`, whole, at every width."""
    for viewport in VIEWPORTS:
        for page, verdict, word, name in [
            (
                supervisor,
                supervisor.locator('[data-station="PACK-1"]').get_by_test_id("verdict"),
                pill,
                "supervisor view",
            ),
            (packer, packer.get_by_test_id("verdict"), banner, "pack-station screen"),
        ]:
            await show_at(page, viewport)
            where = f"the {name} on a {viewport}"
            await assert_no_sideways_scroll(page, where=where)
            await assert_whole_word_visible(verdict, word, where=where)
            await assert_readable_contrast(verdict, where=f"{where}, its verdict")


async def test_every_screen_fits_a_phone_a_tablet_and_a_desktop_with_whole_verdicts_and_readable_chips(
    browser: Browser, edge: EdgeProcess, bank: ModuleBank, devices: FloorDevices
) -> None:
    with edge.client("erp") as erp:
        seed_master_data(erp)
    await start_order(edge, bank)

    # The supervisor's view with lit bins and a picker's row; the zone screen with both of ann's lines lit
    # in her colour, then with one done and the other lit.
    supervisor = await open_page(browser, edge, "/dashboard", "supervisor")
    await assert_supervisor_view_fits_while_picking(supervisor)
    zone = await open_page(browser, edge, "/zones/A", "viewer")
    await expect(zone.get_by_test_id("line-chip")).to_have_count(2)
    await expect(zone.get_by_test_id("lines-left")).to_have_text("2")
    await expect(zone.locator(".chip.lit")).to_have_count(2)
    await assert_zone_screen_fits(zone)
    await bank.press("M-A-01", Button.CONFIRM)
    await expect(zone.get_by_test_id("lines-left")).to_have_text("1")
    await expect(zone.locator(".chip.done")).to_have_count(1)
    await expect(zone.locator(".chip.lit")).to_have_count(1)
    await assert_zone_screen_fits(zone)

    await finish_picking(edge, bank)

    # The pack station through a weighing, a failed check (a supervisor's screen offers the override) and
    # the override: ACCEPTED is the longest verdict a packer's screen shows.
    packer = await open_page(browser, edge, "/stations/PACK-1", "supervisor")
    await devices.scan("SCAN-1", "O-1")
    await assert_pack_screens_fit(supervisor, packer, pill="WEIGHING", banner="WEIGH")

    await devices.weight("SCALE-1", 450.0)
    await expect(packer.get_by_test_id("override")).to_be_visible()
    await packer.get_by_test_id("override").click()
    await expect(packer.get_by_test_id("override-reason")).to_be_visible()
    await assert_pack_screens_fit(supervisor, packer, pill="FAIL", banner="FAIL")

    await show_at(packer, PHONE)
    await packer.get_by_test_id("override-reason").fill("customer agreed to a partial carton")
    await packer.get_by_test_id("override-confirm").click()
    await assert_pack_screens_fit(supervisor, packer, pill="ACCEPTED", banner="ACCEPTED")
