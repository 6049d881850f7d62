"""Browser fixtures: Debian's chromium driven by Playwright, against a real edge process (tests/e2e)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest
from playwright.async_api import Browser, async_playwright

from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.firmware_sim.mqtt_client import make_client

# Fixtures shared with the e2e tier (listed in __all__ so pytest and the linters see them used).
from tests.e2e.conftest import MODULES, bank, site
from tests.support.brokers import Mosquitto
from tests.support.edge_process import EdgeProcess

CHROMIUM = "/usr/bin/chromium"
# No sandbox (containers), no GPU, and nothing that phones home: the floor network has no internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# A pack station whose scale and scanner talk MQTT, so tests drive it like the real devices.
PACK_STATION = textwrap.dedent(
    """\
    [[stations]]
    id = "PACK-1"
    kind = "pack"
    tolerance_g = 15
    tare_g = 100
    scale = { transport = "mqtt", id = "SCALE-1" }
    scanner = { transport = "mqtt", id = "SCAN-1" }
    """
)


@pytest.fixture
def edge(tmp_path: Path, mosquitto: Mosquitto, site: str) -> Iterator[EdgeProcess]:
    process = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=mosquitto.url, extra_site=PACK_STATION)
    yield process.start()
    process.stop()


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: ./run-tests installs it (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


class FloorDevices:
    """Raw MQTT publishes as the floor's devices send them (module events, scans, weights)."""

    def __init__(self, client: aiomqtt.Client, site: str) -> None:
        self.client = client
        self.site = site
        self.sent = 0

    async def publish(self, topic: str, payload: dict[str, object]) -> None:
        self.sent += 1
        await self.client.publish(f"floorgate/{self.site}/{topic}", json.dumps(payload), qos=1)

    async def module_event(self, module: str, button: str, display: str) -> None:
        await self.publish(
            f"ptl/{module}/event", {"id": f"raw-{self.sent}", "button": button, "display": display}
        )

    async def scan(self, scanner: str, data: str) -> None:
        await self.publish(f"scanner/{scanner}/scan", {"id": f"scan-{self.sent}", "data": data})

    async def weight(self, scale: str, grams: float, *, stable: bool = True) -> None:
        await self.publish(
            f"scale/{scale}/weight", {"id": f"w-{self.sent}", "grams": grams, "stable": stable}
        )


@pytest.fixture
async def devices(mosquitto: Mosquitto, site: str) -> AsyncIterator[FloorDevices]:
    async with make_client(MqttEndpoint.from_url(mosquitto.url), identifier=f"{site}-test-devices") as client:
        yield FloorDevices(client, site)


__all__ = ["MODULES", "bank", "browser", "chromium", "devices", "edge", "site"]
