"""Fixtures shared by every tier: a real mosquitto broker (and its endpoint), the store's databases, and a
site id of the test's own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from floorgate.devices.mqtt.endpoint import MqttEndpoint
from tests.support.brokers import Mosquitto
from tests.support.postgres import PostgresServer


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[Mosquitto]:
    """One real mosquitto for the session; tests isolate themselves by site id."""
    broker = Mosquitto().start()
    yield broker
    broker.stop()


@pytest.fixture
def endpoint(mosquitto: Mosquitto) -> MqttEndpoint:
    """The session's mosquitto as the edge and the simulators name a broker."""
    return MqttEndpoint.from_url(mosquitto.url)


@pytest.fixture
def fresh_mosquitto() -> Iterator[Mosquitto]:
    """A mosquitto of the test's own, for tests that stop or restart the broker."""
    broker = Mosquitto().start()
    yield broker
    broker.stop()


@pytest.fixture
def default_mosquitto() -> Iterator[Mosquitto]:
    """A mosquitto of the test's own with mosquitto's defaults: `persistence false` (a restart loses every
    session and retained message), 20 QoS 1 messages in flight and 1000 queued per client."""
    broker = Mosquitto(persistence=False, stock_limits=True).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the session, started when a test first asks; a database per test."""
    server = PostgresServer().start()
    yield server
    server.close()


@pytest.fixture
def fresh_postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the test's own, for tests that stop or restart it."""
    server = PostgresServer().start()
    yield server
    server.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty store on each database the edge supports: an SQLite file, a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fg.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
def site() -> str:
    """A site id of the test's own: the session broker is shared, topics are not."""
    return f"t{uuid.uuid4().hex[:10]}"
