"""Integration fixtures: each behaviour against both brokers the edge meets, a certificate for TLS, and the
REST API over a real writer and store."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from floorgate.core import commands as cmd
from floorgate.edge.store import Store, make_engine
from floorgate.edge.web_ports import LiveFloor, web_context
from floorgate.edge.writer import Writer
from floorgate.firmware_sim.demo.broker import EmbeddedBroker
from floorgate.web.app import create_app
from floorgate.web.stream import StreamHub
from tests.support.brokers import Mosquitto, free_port
from tests.support.rest_api import TOKENS


@pytest.fixture(params=["mosquitto", "amqtt"])
async def broker_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Each behaviour against a real mosquitto and against the embedded amqtt broker of the demo."""
    if request.param == "mosquitto":
        broker: Mosquitto = request.getfixturevalue("mosquitto")
        yield broker.url
        return
    async with EmbeddedBroker(port=free_port()) as embedded:
        yield embedded.url


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, made with the openssl command line."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
async def api(store_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Writer]]:
    store = Store(make_engine(store_url))
    store.create_schema()
    loaded = store.load()
    writer = Writer(store=store, floor=loaded.floor, last_seq=loaded.last_seq)
    hub = StreamHub(floor=LiveFloor(floor=lambda: writer.floor), last_seq=lambda: writer.last_seq)
    writer.subscribe(hub.on_commit)
    task = asyncio.create_task(writer.run())
    await writer.execute(cmd.DefineZone(zone="A"))
    app = create_app(
        web_context(site_id="t", edge_id="e", writer=writer, store=store, tokens=TOKENS, hub=hub)
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://edge/api/v1"
    ) as client:
        yield client, writer
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    store.close()
