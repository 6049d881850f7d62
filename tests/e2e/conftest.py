"""End-to-end fixtures: a real `floorgate run` process on mosquitto, with simulated PTL modules."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.brokers import Mosquitto
from tests.support.edge_process import EdgeProcess
from tests.support.postgres import PostgresServer

MODULES = ("M-A-01", "M-A-02", "M-A-03", "M-B-01")


@pytest.fixture
def site() -> str:
    return f"e2e{uuid.uuid4().hex[:8]}"


@pytest.fixture
def edge(
    request: pytest.FixtureRequest, tmp_path: Path, mosquitto: Mosquitto, site: str
) -> Iterator[EdgeProcess]:
    """A `floorgate run` on SQLite in its data folder, or (parametrized indirectly with "postgresql") on a
    database of the session's PostgreSQL server, as `[store] url` in its site file."""
    extra = ""
    if getattr(request, "param", "sqlite") == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        extra = f'[store]\nurl = "{server.create_database()}"\n'
    process = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=mosquitto.url, extra_site=extra)
    yield process.start()
    process.stop()


@pytest.fixture
async def bank(mosquitto: Mosquitto, site: str) -> AsyncIterator[ModuleBank]:
    async with ModuleBank(MqttEndpoint.from_url(mosquitto.url), site, MODULES) as modules:
        yield modules
