"""The bench's load generator: its latency stamps, and the loaders against the trivial echo through a real
mosquitto, the way `bench.run` measures the harness's own share."""

from __future__ import annotations

import select
import socket
import time
from pathlib import Path

import pytest

from bench.floor import modules
from bench.run import echo_baseline
from floorgate.firmware_sim.loadgen import SO_TIMESTAMPNS, StampedSocket
from tests.support.brokers import Mosquitto

pytestmark = pytest.mark.integration


def stamped_pair() -> tuple[socket.socket, StampedSocket, socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    client = StampedSocket(socket.AF_INET, socket.SOCK_STREAM)
    client.enable_stamps()
    client.connect(server.getsockname())
    peer, _ = server.accept()
    return server, client, peer


def exchange(peer: socket.socket, client: StampedSocket, data: bytes) -> tuple[int, int]:
    """Send `data` to the client and read it there: when it was sent, and when it was seen waiting."""
    sent = time.time_ns()
    peer.sendall(data)
    readable, _, _ = select.select([client], [], [], 5)
    assert readable, "the bytes sent never arrived"
    arrived_by = time.time_ns()
    assert client.recv(64) == data
    return sent, arrived_by


def until_the_kernel_stamps(peer: socket.socket, client: StampedSocket) -> None:
    # Linux turns receive stamps on in deferred work: the first packets after enabling may carry none.
    deadline = time.monotonic() + 5
    while True:
        exchange(peer, client, b"hello")
        if client.received_ns is not None:
            return
        assert time.monotonic() < deadline, "the kernel never stamped a read"


def test_a_stamped_read_says_when_the_kernel_received_it_not_when_it_was_read() -> None:
    server, client, peer = stamped_pair()
    try:
        until_the_kernel_stamps(peer, client)
        sent, arrived_by = exchange(peer, client, b"light")
        # Stamped between the send and the moment the bytes were seen waiting: a stamp taken when the
        # read ran would be after `arrived_by`.
        assert client.received_ns is not None
        assert sent <= client.received_ns <= arrived_by
    finally:
        for sock in (peer, client, server):
            sock.close()


def test_a_read_the_kernel_did_not_stamp_never_keeps_an_earlier_reads_stamp() -> None:
    server, client, peer = stamped_pair()
    try:
        until_the_kernel_stamps(peer, client)
        client.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 0)
        exchange(peer, client, b"unstamped")
        assert client.received_ns is None  # the loader then takes its own clock, never a stale stamp
    finally:
        for sock in (peer, client, server):
            sock.close()


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
