"""A real edge serving HTTPS with a test CA's certificate, a named token whose name every write records, the
access log it writes, and the dashboard's token moved from the URL into a Secure HttpOnly cookie."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.firmware_sim.mqtt_client import make_client
from tests.support.brokers import Mosquitto
from tests.support.certificates import CertificateAuthority
from tests.support.edge_process import TOKENS, EdgeProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

SUE_TOKEN = "sue-secret-token-4f1c"
NAMED_TOKEN = f'[[tokens]]\ntoken = "{SUE_TOKEN}"\nrole = "supervisor"\nname = "sue"\n'


@pytest.fixture
def https_edge(tmp_path: Path, mosquitto: Mosquitto, site: str) -> Iterator[EdgeProcess]:
    ca = CertificateAuthority.create(tmp_path / "pki")
    server = ca.server("localhost")
    process = EdgeProcess(
        workdir=tmp_path,
        site=site,
        mqtt_url=mosquitto.url,
        http_extra=f'cert_file = "{server.cert_file}"\nkey_file = "{server.key_file}"\n',
        https_ca=ca.ca_file,
        extra_site=NAMED_TOKEN,
    )
    yield process.start()
    process.stop()


def access_lines(edge: EdgeProcess) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in edge.logs().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "floorgate.access"]


def test_the_api_is_served_over_https_only(https_edge: EdgeProcess) -> None:
    with https_edge.client("viewer") as viewer:
        assert viewer.get("/orders").status_code == 200

    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{https_edge.http_port}/healthz", timeout=5)
    with pytest.raises(httpx.ConnectError):  # a certificate no trusted CA signed
        httpx.get(f"{https_edge.base_url}/healthz", timeout=5)


def test_a_dashboard_token_becomes_a_secure_httponly_cookie_the_api_accepts(https_edge: EdgeProcess) -> None:
    with httpx.Client(base_url=https_edge.base_url, verify=https_edge.verify, timeout=10) as browser:
        opened = browser.get("/dashboard", params={"token": TOKENS["viewer"], "zone": "A"})
        assert opened.status_code == 303
        assert opened.headers["location"] == "/dashboard?zone=A"
        cookie = opened.headers["set-cookie"]
        assert cookie.startswith(f"floorgate_token={TOKENS['viewer']};")
        assert {"HttpOnly", "SameSite=strict", "Secure"} <= {part.strip() for part in cookie.split(";")}

        assert browser.get("/api/v1/orders").status_code == 200  # the cookie, no header
        assert browser.post("/api/v1/orders", json={}).status_code == 403  # a viewer's cookie writes nothing

        browser.cookies.clear()
        assert browser.get("/api/v1/orders").status_code == 401


async def test_a_named_token_is_recorded_as_by_in_the_event_and_the_access_log_without_the_secret(
    https_edge: EdgeProcess, mosquitto: Mosquitto
) -> None:
    async with make_client(MqttEndpoint.from_url(mosquitto.url)) as device:
        press = {"id": "p-1", "button": "confirm", "display": "1"}
        await device.publish(f"floorgate/{https_edge.site}/ptl/NOT-A-MODULE/event", json.dumps(press), qos=1)
    with https_edge.client("viewer") as viewer:
        (raised,) = await wait_until(
            lambda: viewer.get("/exceptions").json(), what="unknown module raised", timeout=30
        )

    async with httpx.AsyncClient(
        base_url=f"{https_edge.base_url}/api/v1",
        headers={"Authorization": f"Bearer {SUE_TOKEN}"},
        verify=https_edge.verify,
        timeout=10,
    ) as sue:
        # A named token says who it is: a name in the body does not replace it.
        resolved = await sue.post(f"/exceptions/{raised['id']}/resolve", json={"resolved_by": "someone else"})
        assert resolved.status_code == 200, resolved.text
        events = (await sue.get("/events", params={"after": 0, "limit": 1000})).json()["events"]
        opened = await sue.get(f"{https_edge.base_url}/dashboard", params={"token": SUE_TOKEN})
    assert opened.status_code == 303
    (resolution,) = [event for event in events if event["type"] == "exception.resolved"]
    assert resolution["data"]["resolved_by"] == "sue"

    path = f"/api/v1/exceptions/{raised['id']}/resolve"
    lines = await wait_until(
        lambda: (
            (found := access_lines(https_edge))
            and any(line["path"] == "/dashboard" for line in found)
            and found
        ),
        what="the access log's lines",
    )
    (write,) = [line for line in lines if line["path"] == path]
    assert (write["method"], write["status"], write["by"]) == ("POST", 200, "sue")
    assert isinstance(write["duration_ms"], float)
    assert any(line["by"] == "viewer" and line["path"] == "/api/v1/exceptions" for line in lines)
    assert SUE_TOKEN not in https_edge.logs()


async def test_the_stream_over_wss_takes_the_session_cookie_and_says_when_none_was_given(
    https_edge: EdgeProcess,
) -> None:
    url = f"wss://127.0.0.1:{https_edge.http_port}/api/v1/stream"
    tls = https_edge.verify
    assert isinstance(tls, ssl.SSLContext)
    with pytest.raises(ConnectionClosed) as closed:
        async with websockets.connect(url, ssl=tls) as ws:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "missing token")

    cookie = {"Cookie": f"floorgate_token={TOKENS['viewer']}"}
    async with websockets.connect(url, ssl=tls, additional_headers=cookie) as ws:
        snapshot = json.loads(await ws.recv())
    assert (snapshot["type"], snapshot["role"]) == ("snapshot", "viewer")
