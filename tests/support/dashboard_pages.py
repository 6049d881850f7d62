"""The edge's pages opened in the browser with a role's token, and the order the page tests watch being picked."""

from __future__ import annotations

from typing import Protocol

import httpx
from playwright.async_api import Browser, Locator, Page

from floorgate.core.commands import Button
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.edge_process import TOKENS
from tests.support.master_data import ORDER
from tests.support.screen_fit import DESKTOP, Viewport
from tests.support.waiting import wait_until


class Served(Protocol):
    """Where the pages and the API are: one edge (`EdgeProcess`), or the front of a pair (`HaproxyFront`)."""

    @property
    def base_url(self) -> str: ...

    def client(self, role: str = ...) -> httpx.Client: ...


async def open_page(
    browser: Browser, edge: Served, path: str, role: str | None, *, viewport: Viewport = DESKTOP
) -> Page:
    """A new page on `path`, signed in as `role` (None: the login form), at `viewport`'s size."""
    page = await browser.new_page(viewport={"width": viewport.width, "height": viewport.height})
    query = f"?token={TOKENS[role]}" if role else ""
    await page.goto(f"{edge.base_url}{path}{query}")
    return page


def bin_display(page: Page, code: str) -> Locator:
    """What the page shows on location `code`'s module (empty while it is dark)."""
    return page.locator(f'[data-location="{code}"] [data-testid="display"]')


async def start_order(edge: Served, bank: ModuleBank) -> None:
    """O-1 created and started in zone A by ann; returns once A-01's module shows its 3."""
    with edge.client("erp") as erp:
        assert erp.post("/orders", json=ORDER).status_code == 201
        assert erp.post("/orders/O-1/start", json={"zone": "A", "operator": "ann"}).status_code == 200
    await wait_until(lambda: bank.state("M-A-01").display == "3", what="A-01 lit on the module")


async def finish_picking(edge: Served, bank: ModuleBank) -> None:
    """O-1's second line confirmed once A-02 lights (its first already confirmed); returns once O-1 is picked."""
    await wait_until(lambda: bank.state("M-A-02").display == "2", what="A-02 lit")
    await bank.press("M-A-02", Button.CONFIRM)
    with edge.client("viewer") as api:
        await wait_until(lambda: api.get("/orders/O-1").json()["status"] == "picked", what="O-1 picked")
