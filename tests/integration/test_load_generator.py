"""The bench's load generator: its latency stamps, and the loaders against the trivial echo through a real
mosquitto, the way `bench.run` measures the harness's own share."""

from __future__ import annotations

import select
import socket
import time
from pathlib import Path

import pytest

from bench.run import echo_baseline, modules
from firmware_sim.loadgen import StampedSocket
from tests.support.brokers import Mosquitto

pytestmark = pytest.mark.integration


def test_a_stamped_read_says_when_the_kernel_received_it_not_when_it_was_read() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    client = StampedSocket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        client.enable_stamps()
        client.connect(server.getsockname())
        peer, _ = server.accept()
        with peer:
            sent = time.time_ns()
            peer.sendall(b"light")
            readable, _, _ = select.select([client], [], [], 5)
            assert readable, "the bytes sent never arrived"
            arrived_by = time.time_ns()
            assert client.recv(64) == b"light"
        # Stamped between the send and the moment the bytes were seen waiting: a stamp taken when the
        # read ran would be after `arrived_by`.
        assert client.received_ns is not None
        assert sent <= client.received_ns <= arrived_by
    finally:
        client.close()
        server.close()


def test_the_loaders_against_the_echo_measure_every_press_both_ways(
    fresh_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    result = echo_baseline(fresh_mosquitto.url, modules(40), 2, 1.5, tmp_path, rate=100)

    assert result["answered"] >= 100, result
    # The light reached the loader's socket before its Python read it: never the other way round.
    for name in ("p50", "p95", "p99", "max"):
        assert 0 < result[f"latency_ms_{name}"] <= result[f"seen_latency_ms_{name}"], (name, result)
    # At 100 presses/s on an idle echo, a light comes back in well under a second.
    assert result["latency_ms_max"] < 1000, result
