"""Fixtures shared by every tier: a real mosquitto broker and deadline waits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.brokers import Mosquitto


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[Mosquitto]:
    """One real mosquitto for the session; tests isolate themselves by site id."""
    broker = Mosquitto().start()
    yield broker
    broker.stop()


@pytest.fixture
def fresh_mosquitto() -> Iterator[Mosquitto]:
    """A mosquitto of the test's own, for tests that stop or restart the broker."""
    broker = Mosquitto().start()
    yield broker
    broker.stop()
