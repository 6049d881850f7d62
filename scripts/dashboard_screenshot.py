"""The README's picture of the supervisor view: runs `floorgate demo`, waits until its put wall is busy
(cubbies filling and done) with bins lit in the zones, and captures the page in headless Chromium.

    .venv/bin/python scripts/dashboard_screenshot.py [--out docs/img/dashboard.png] [--seed 7]

It needs the dev extra (Playwright) and Debian's chromium (/usr/bin/chromium, as the browser tests).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
WIDTH, HEIGHT = 1440, 1400
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], T | None], what: str, timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(0.5)


def wall_busy(api: httpx.Client) -> bool:
    """Several cubbies holding orders, one of them done, and bins lit in every zone (the next batch's in C)."""
    states = [c["state"] for c in api.get("/walls/W1").json()["cubbies"]]
    lit_zones = {loc["zone"] for loc in api.get("/locations").json() if loc["light"]}
    return sum(s != "free" for s in states) >= 5 and "done" in states and lit_zones >= {"A", "B", "C"}


async def capture(url: str, out: Path) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        await page.goto(url)
        await page.locator('[data-testid="events"] li').nth(10).wait_for()
        # The moment the picture is taken: as the page shows it, not as the API said a moment before.
        await page.wait_for_function(
            """() => ["A", "B", "C"].every((z) => document.querySelector(`[data-zone="${z}"] .bin.lit`))
                && document.querySelector('[data-wall="W1"] [data-state="done"]')
                && document.querySelectorAll('[data-wall="W1"] [data-state="filling"]').length >= 4""",
            timeout=300_000,
            polling=100,
        )
        await page.screenshot(path=str(out), animations="disabled")
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "dashboard.png")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    http_port = free_port()
    with tempfile.TemporaryDirectory(prefix="fg-screenshot-") as tmp:
        log = Path(tmp) / "demo.out"
        with log.open("wb") as sink:
            demo = subprocess.Popen(  # noqa: S603 (our own interpreter and fixed arguments)
                [
                    *(sys.executable, "-m", "floorgate.edge.cli", "demo"),
                    *("--port", str(http_port), "--mqtt-port", str(free_port())),
                    *("--data-dir", str(Path(tmp) / "data"), "--seed", str(args.seed)),
                    *("--seconds-per-pick", "0.4"),
                ],
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            found = wait_for(
                lambda: re.search(r"dashboard\s+(http://\S+/dashboard\?token=(\S+))", log.read_text()),
                "the demo's dashboard URL",
                timeout=60,
            )
            url, token = found.group(1), found.group(2)
            with httpx.Client(
                base_url=f"http://127.0.0.1:{http_port}/api/v1", headers={"Authorization": f"Bearer {token}"}
            ) as api:
                wait_for(lambda: wall_busy(api), "the put wall busy with lit bins in the zones", timeout=300)
            asyncio.run(capture(url, args.out))
        finally:
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(timeout=30)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait()
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
