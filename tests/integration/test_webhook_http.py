"""The relay's own HTTP client against a real socket: keep-alive, receivers that close, chunked answers."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from floorgate.edge.webhooks.http import HttpFailure, KeepAliveClient, needs_httpx
from tests.support.raw_http_receiver import NO_CONTENT, RawReceiver
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

HEADERS = {"content-type": "application/json", "webhook-id": "evt_1"}


@pytest.fixture
async def receiver() -> AsyncIterator[RawReceiver]:
    raw = await RawReceiver().start()
    yield raw
    raw.close()


@pytest.fixture
async def client() -> AsyncIterator[KeepAliveClient]:
    http = KeepAliveClient()
    yield http
    await http.aclose()


async def test_deliveries_share_one_kept_alive_connection(
    receiver: RawReceiver, client: KeepAliveClient
) -> None:
    for n in range(3):
        answer = await client.post(receiver.url, f'{{"n":{n}}}'.encode(), HEADERS)
        assert answer.status == 204
    assert receiver.bodies == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
    assert receiver.connections == 1, f"expected one kept-alive connection, saw {receiver.connections}"


async def test_a_connection_the_receiver_closed_while_idle_is_not_reused(
    receiver: RawReceiver, client: KeepAliveClient
) -> None:
    receiver.close_after_each = True
    assert (await client.post(receiver.url, b"{}", HEADERS)).status == 204
    await wait_until(lambda: receiver.closed == 1, what="the receiver to close the connection")
    await wait_until(
        lambda: client.idle_connections(receiver.url) == 0, what="the client to see the connection closed"
    )
    assert (await client.post(receiver.url, b"{}", HEADERS)).status == 204
    assert receiver.connections == 2


async def test_an_answer_that_says_close_is_not_kept(receiver: RawReceiver, client: KeepAliveClient) -> None:
    receiver.answer = lambda n: b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"
    for _ in range(2):
        assert (await client.post(receiver.url, b"{}", HEADERS)).status == 200
    assert receiver.connections == 2
    assert client.idle_connections(receiver.url) == 0


async def test_a_chunked_throttle_answer_is_read_whole_and_the_connection_kept(
    receiver: RawReceiver, client: KeepAliveClient
) -> None:
    chunked = (
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\ntransfer-encoding: chunked\r\n\r\n"
        b"4\r\nbusy\r\n6\r\n, wait\r\n0\r\n\r\n"
    )
    receiver.answer = lambda n: chunked if n == 1 else NO_CONTENT
    throttled = await client.post(receiver.url, b"{}", HEADERS)
    assert (throttled.status, throttled.headers.get("retry-after"), throttled.text) == (
        503,
        "7",
        "busy, wait",
    )
    assert (await client.post(receiver.url, b"{}", HEADERS)).status == 204
    assert receiver.connections == 1


async def test_a_connection_dropped_before_the_answer_is_a_failure_and_the_next_request_reconnects(
    receiver: RawReceiver, client: KeepAliveClient
) -> None:
    receiver.answer = lambda n: None if n == 1 else NO_CONTENT
    with pytest.raises(HttpFailure, match="closed the connection without an answer"):
        await client.post(receiver.url, b"{}", HEADERS)
    assert (await client.post(receiver.url, b"{}", HEADERS)).status == 204
    assert receiver.connections == 2


async def test_a_receiver_that_is_not_listening_is_a_failure(client: KeepAliveClient) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(HttpFailure, match="ConnectionRefusedError"):
        await client.post(f"http://127.0.0.1:{port}/hooks", b"{}", HEADERS)


async def test_an_answer_cut_short_is_a_failure(receiver: RawReceiver, client: KeepAliveClient) -> None:
    receiver.answer = lambda n: b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nok"
    receiver.close_after_each = True
    with pytest.raises(HttpFailure, match="cut short"):
        await client.post(receiver.url, b"{}", HEADERS)


async def test_a_request_cut_short_by_the_callers_timeout_closes_its_connection(
    receiver: RawReceiver, client: KeepAliveClient
) -> None:
    receiver.answer = lambda n: b"HTTP/1.1 204 No Content\r\n" if n == 1 else NO_CONTENT  # head never ends
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await client.post(receiver.url, b"{}", HEADERS)
    assert client.idle_connections(receiver.url) == 0
    assert (await client.post(receiver.url, b"{}", HEADERS)).status == 204
    assert receiver.connections == 2


async def test_https_is_verified_with_the_trust_httpx_uses(
    receiver: RawReceiver, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    server = await asyncio.start_server(receiver.serve, "127.0.0.1", 0, ssl=tls)
    url = f"https://localhost:{server.sockets[0].getsockname()[1]}/hooks"
    try:
        untrusting = KeepAliveClient()
        with pytest.raises(HttpFailure, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusting.post(url, b"{}", HEADERS)
        await untrusting.aclose()

        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # as httpx: the environment names the trusted CA
        trusting = KeepAliveClient()
        assert (await trusting.post(url, b'{"tls":1}', HEADERS)).status == 204
        assert (await trusting.post(url, b'{"tls":2}', HEADERS)).status == 204
        await trusting.aclose()
    finally:
        server.close()
    assert receiver.bodies == [b'{"tls":1}', b'{"tls":2}']


def test_credentials_in_the_url_or_an_environment_proxy_go_through_httpx(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    needs_httpx.cache_clear()
    assert not needs_httpx("https://erp.example.com/hooks")
    assert needs_httpx("https://user:pass@erp.example.com/hooks")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
    monkeypatch.setenv("NO_PROXY", "erp.internal")
    needs_httpx.cache_clear()
    with contextlib.ExitStack() as stack:
        stack.callback(needs_httpx.cache_clear)  # other tests must not see this environment's answers
        assert needs_httpx("https://erp.example.com/hooks")
        assert not needs_httpx("https://erp.internal/hooks")
        assert not needs_httpx("http://erp.example.com/hooks")  # no proxy for plain http here
