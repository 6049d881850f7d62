"""MQTT over TLS with client certificates and the documented mosquitto ACL (docs/deploy/mosquitto/): a real
edge process, simulated modules each with its own certificate, and clients the broker must refuse."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from floorgate.core.commands import Button
from floorgate.devices.mqtt.connection import MqttConnection, MqttError
from floorgate.devices.mqtt.endpoint import MqttEndpoint, TlsFiles
from floorgate.firmware_sim.mqtt_client import make_client
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.brokers import Mosquitto, TlsListener
from tests.support.certificates import CertificateAuthority, Identity
from tests.support.edge_process import EdgeProcess
from tests.support.master_data import ORDER, seed_master_data
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

EDGE_ID = "edge-1"  # the CN the documented ACL grants the edge's rights to


@dataclass(frozen=True, kw_only=True)
class TlsFloor:
    ca: CertificateAuthority
    broker: Mosquitto

    def endpoint(self, identity: Identity | None) -> MqttEndpoint:
        files = TlsFiles(
            ca_file=self.ca.ca_file,
            cert_file=identity.cert_file if identity else None,
            key_file=identity.key_file if identity else None,
        )
        return MqttEndpoint.from_url(self.broker.url, tls_files=files)

    def module(self, name: str) -> MqttEndpoint:
        return self.endpoint(self.ca.client(name))


@pytest.fixture
def tls_floor(tmp_path: Path) -> Iterator[TlsFloor]:
    ca = CertificateAuthority.create(tmp_path / "pki")
    broker = Mosquitto(tls=TlsListener(ca_file=ca.ca_file, server=ca.server()), persistence=False).start()
    yield TlsFloor(ca=ca, broker=broker)
    broker.stop()


@pytest.fixture
def tls_edge(tmp_path: Path, tls_floor: TlsFloor) -> Iterator[EdgeProcess]:
    identity = tls_floor.ca.client(EDGE_ID)
    process = EdgeProcess(
        workdir=tmp_path,
        site=f"tls{uuid.uuid4().hex[:8]}",
        mqtt_url=tls_floor.broker.url,
        mqtt_extra=(
            f'ca_file = "{tls_floor.ca.ca_file}"\n'
            f'cert_file = "{identity.cert_file}"\n'
            f'key_file = "{identity.key_file}"\n'
        ),
    )
    yield process.start()
    process.stop()


def picked(edge: EdgeProcess) -> dict[str, int]:
    with edge.client("viewer") as viewer:
        order = viewer.get("/orders/O-1").json()
    return {line["line_id"]: line["picked"] for line in order["lines"]}


async def test_modules_with_their_own_certificates_reach_the_edge_and_one_cannot_press_for_another(
    tls_edge: EdgeProcess, tls_floor: TlsFloor
) -> None:
    site = tls_edge.site
    with tls_edge.client("erp") as erp:
        seed_master_data(erp)
        assert erp.post("/orders", json=ORDER).status_code == 201
        assert erp.post("/orders/O-1/start", json={"zone": "A"}).status_code == 200

    async with (
        ModuleBank(tls_floor.module("M-A-01"), site, ["M-A-01"]) as bank_a,
        ModuleBank(tls_floor.module("M-A-02"), site, ["M-A-02"]) as bank_b,
    ):
        # The edge sends the lights over TLS, and each module reads only its own command.
        await wait_until(
            lambda: bank_a.state("M-A-01").display == "3" and bank_b.state("M-A-02").display == "2",
            what="both bins lit over TLS",
        )

        # Module M-A-02's certificate, pressing confirm for M-A-01 and then for itself, on one connection:
        # the broker handles one client's publishes in order, so once its own press is counted, the forged
        # one has been dropped, not delayed.
        async with make_client(tls_floor.module("M-A-02"), identifier="forger") as forger:
            forged = {"id": "forged-1", "button": "confirm", "display": "3"}
            await forger.publish(f"floorgate/{site}/ptl/M-A-01/event", json.dumps(forged), qos=1)
            own = {"id": "own-1", "button": "confirm", "display": "2"}
            await forger.publish(f"floorgate/{site}/ptl/M-A-02/event", json.dumps(own), qos=1)
        await wait_until(lambda: picked(tls_edge)["L2"] == 2, what="M-A-02's own press counted", timeout=30)
        assert picked(tls_edge)["L1"] == 0
        assert bank_a.state("M-A-01").display == "3"

        # M-A-01's press, under its own id with its own certificate, is the one that counts.
        await bank_a.press("M-A-01", Button.CONFIRM)
        await wait_until(
            lambda: picked(tls_edge) == {"L1": 3, "L2": 2}, what="M-A-01's press counted", timeout=30
        )

    with tls_edge.client("viewer") as viewer:
        events = viewer.get("/events", params={"after": 0, "limit": 1000}).json()
    confirmed = [e for e in events["events"] if e["type"] == "pick.confirmed"]
    assert sorted(e["data"]["location"] for e in confirmed) == ["A-01", "A-02"]


async def test_a_client_without_a_certificate_is_refused(tls_floor: TlsFloor) -> None:
    def on_message(*_: object) -> None:
        raise AssertionError("a refused client received a message")

    with pytest.raises(MqttError):
        await MqttConnection.open(
            tls_floor.endpoint(None), client_id="no-certificate", on_message=on_message, connect_timeout=20
        )


async def test_a_certificate_of_another_ca_is_refused(tls_floor: TlsFloor, tmp_path: Path) -> None:
    stranger = CertificateAuthority.create(tmp_path / "other-pki", name="Someone else's CA").client("M-A-01")
    files = TlsFiles(ca_file=tls_floor.ca.ca_file, cert_file=stranger.cert_file, key_file=stranger.key_file)

    def on_message(*_: object) -> None:
        raise AssertionError("a refused client received a message")

    with pytest.raises(MqttError):
        await MqttConnection.open(
            MqttEndpoint.from_url(tls_floor.broker.url, tls_files=files),
            client_id="stranger",
            on_message=on_message,
            connect_timeout=20,
        )
