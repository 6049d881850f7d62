"""/docs and /redoc on a network that reaches nothing but the edge: every file they load comes from the edge."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, Request, Route, expect

from tests.support.edge_process import EdgeProcess

pytestmark = pytest.mark.browser


class OfflineNetwork:
    """Aborts every request that is not for the edge, as a warehouse network without internet would, and
    keeps what was asked of it (a page that reaches out would render blank there)."""

    def __init__(self, edge: EdgeProcess) -> None:
        self.origin = urlsplit(edge.base_url).netloc
        self.blocked: list[str] = []
        self.failed: list[str] = []

    async def route(self, route: Route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in {"http", "https", "ws", "wss"} and urlsplit(url).netloc != self.origin:
            self.blocked.append(url)
            await route.abort("internetdisconnected")
            return
        await route.continue_()

    def on_failed(self, request: Request) -> None:
        self.failed.append(f"{request.url}: {request.failure}")


async def offline_page(browser: Browser, edge: EdgeProcess) -> tuple[Page, OfflineNetwork]:
    network = OfflineNetwork(edge)
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    await page.route("**/*", network.route)
    page.on("requestfailed", network.on_failed)
    return page, network


async def test_swagger_ui_renders_every_operation_from_the_edges_own_files(
    browser: Browser, edge: EdgeProcess
) -> None:
    page, network = await offline_page(browser, edge)
    await page.goto(f"{edge.base_url}/docs")
    # Swagger UI lists each operation as a block with its method and path.
    orders = page.locator(".opblock").filter(has_text="/api/v1/orders/{order_id}")
    await expect(orders.first).to_be_visible(timeout=30_000)
    await expect(page.locator(".opblock-summary-method").first).to_be_visible()
    assert await page.locator(".opblock").count() >= 25
    # A response model's schema is there to open, not an untyped object.
    await expect(page.locator(".models, section.models").first).to_contain_text("OrderView")
    assert network.blocked == [], (
        f"expected /docs to load nothing from outside, it asked for {network.blocked}"
    )
    assert network.failed == [], network.failed


async def test_redoc_renders_the_reference_from_the_edges_own_files(
    browser: Browser, edge: EdgeProcess
) -> None:
    page, network = await offline_page(browser, edge)
    await page.goto(f"{edge.base_url}/redoc")
    # ReDoc renders the API's title and a menu entry per operation once it has read /openapi.json.
    await expect(page.locator("h1").first).to_contain_text("FloorGate", timeout=30_000)
    await expect(page.locator("[role=menuitem]", has_text="Get Order").first).to_be_attached()
    # Response samples come from the answers' examples: an order's shows its `finished_at`.
    await expect(page.get_by_text('"finished_at"').first).to_be_attached()
    assert network.blocked == [], (
        f"expected /redoc to load nothing from outside, it asked for {network.blocked}"
    )
    # Redocly's logo from their CDN, the one thing ReDoc reaches out for, is stopped by the page's
    # Content-Security-Policy in the browser: it never becomes a request.
    stopped_by_the_policy = [
        failed
        for failed in network.failed
        if failed.startswith("https://cdn.redoc.ly/") and failed.endswith(": csp")
    ]
    assert network.failed == stopped_by_the_policy, network.failed
