"""Integration fixtures: each behaviour against both brokers the edge meets, and a certificate for TLS."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from floorgate.firmware_sim.demo.broker import EmbeddedBroker
from tests.support.brokers import Mosquitto, free_port


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
