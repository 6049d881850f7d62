"""The whole pick-to-light flow through a real edge process, mosquitto and the module simulator."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from floorgate.core.commands import Button
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.brokers import Mosquitto
from tests.support.edge_process import EdgeProcess
from tests.support.master_data import ORDER, seed_master_data
from tests.support.mqtt_observer import MqttObserver
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


def distinct_commands(observer: MqttObserver, topic: str) -> list[dict[str, object]]:
    """The commands on a topic in order, each once: a resend after a late ack repeats the same seq."""
    seen: list[dict[str, object]] = []
    for message in observer.on(topic):
        payload = message.json()
        if payload not in seen:
            seen.append(payload)
    return seen


async def test_an_order_is_lit_confirmed_and_shorted_from_the_modules_and_recorded_exactly(
    edge: EdgeProcess, bank: ModuleBank, mosquitto: Mosquitto, site: str
) -> None:
    cmd_topic = f"floorgate/{site}/ptl/{{}}/cmd"
    async with MqttObserver(mosquitto.url, f"floorgate/{site}/ptl/+/cmd") as observer:
        with edge.client("erp") as erp:
            seed_master_data(erp)
            assert erp.put("/items/SKU-1", json={"description": "again"}).status_code == 200
            created = erp.post("/orders", json=ORDER)
            assert created.status_code == 201, created.text
            assert erp.post("/orders", json=ORDER).status_code == 200
            conflicting = {**ORDER, "lines": [{**ORDER["lines"][0], "qty": 9}]}
            assert erp.post("/orders", json=conflicting).status_code == 409
            started = erp.post("/orders/O-1/start", json={"zone": "A", "operator": "ann"})
            assert started.status_code == 200, started.text
            color = started.json()["started"]["color"]

        await wait_until(
            lambda: bank.state("M-A-01").display == "3" and bank.state("M-A-02").display == "2",
            what="both bins lit",
        )
        assert bank.state("M-A-01").color == color
        assert bank.state("M-A-03").color is None

        await bank.press("M-A-01", Button.CONFIRM)
        await bank.press("M-A-02", Button.MINUS)
        await bank.press("M-A-02", Button.SHORT)

        with edge.client("viewer") as viewer:
            order = await wait_until(
                lambda: (o := viewer.get("/orders/O-1").json())["status"] == "picked" and o,
                what="order picked",
            )
            assert order["lines"] == [
                {
                    "line_id": "L1",
                    "sku": "SKU-1",
                    "location": "A-01",
                    "qty": 3,
                    "picked": 3,
                    "status": "picked",
                },
                {
                    "line_id": "L2",
                    "sku": "SKU-2",
                    "location": "A-02",
                    "qty": 2,
                    "picked": 1,
                    "status": "short",
                },
            ]
            on_hand = {loc["code"]: loc["on_hand"] for loc in viewer.get("/locations").json()}
            assert on_hand == {"A-01": 7, "A-02": 4, "A-03": 8}

            events = viewer.get("/events", params={"after": 0, "limit": 1000}).json()["events"]
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
            # Before the order: modules announcing themselves and the bins' first counts.
            first = next(i for i, e in enumerate(events) if e["type"] == "order.received")
            assert {e["type"] for e in events[:first]} <= {
                "device.online",
                "inventory.adjusted",
                "exception.raised",
                "exception.resolved",
            }
            floor_facts = [(e["type"], e["data"].get("line")) for e in events[first:]]
            assert floor_facts == [
                ("order.received", None),
                ("order.started", None),
                ("pick.confirmed", "L1"),
                ("pick.short", "L2"),
                ("exception.raised", None),
                ("order.zone_completed", None),
                ("order.picked", None),
            ]
            by_type = {e["type"]: e for e in events}
            assert by_type["pick.confirmed"]["data"] | {} == {
                "order": "O-1",
                "line": "L1",
                "sku": "SKU-1",
                "location": "A-01",
                "zone": "A",
                "qty": 3,
                "picked": 3,
                "operator": "ann",
                "on_hand": 7,
            }
            assert (by_type["pick.short"]["data"]["picked"], by_type["pick.short"]["data"]["short"]) == (1, 1)
            assert by_type["exception.raised"]["data"]["kind"] == "inventory_short"
            assert all(e["id"].startswith("evt_") for e in events)
            assert len({e["id"] for e in events}) == len(events)

        await wait_until(
            lambda: bank.state("M-A-01").color is None and bank.state("M-A-02").color is None,
            what="lights off",
        )
        await wait_until(
            lambda: len(distinct_commands(observer, cmd_topic.format("M-A-02"))) == 2, what="off command seen"
        )
        assert distinct_commands(observer, cmd_topic.format("M-A-01")) == [
            {"seq": 1, "color": color, "blink": "none", "display": "3"},
            {"seq": 2, "off": True},
        ]
        assert distinct_commands(observer, cmd_topic.format("M-A-02")) == [
            {"seq": 1, "color": color, "blink": "none", "display": "2"},
            {"seq": 2, "off": True},
        ]
        assert observer.on(cmd_topic.format("M-A-03")) == []

    # A module that connects later gets the last command from the broker: commands are retained.
    async with MqttObserver(mosquitto.url, cmd_topic.format("M-A-01")) as late:
        (retained,) = await wait_until(lambda: late.messages, what="retained command")
        assert retained.retain
        assert retained.json() == {"seq": 2, "off": True}


@pytest.mark.parametrize("edge", ["sqlite", "postgresql"], indirect=True)
async def test_a_kill_9_in_the_middle_of_an_order_loses_no_confirmed_pick_and_applies_none_twice(
    edge: EdgeProcess, bank: ModuleBank, mosquitto: Mosquitto, site: str
) -> None:
    with edge.client("erp") as erp:
        seed_master_data(erp)
        order = {
            **ORDER,
            "lines": [*ORDER["lines"], {"line_id": "L3", "sku": "SKU-3", "qty": 1, "location": "A-03"}],
        }
        assert erp.post("/orders", json=order).status_code == 201
        assert erp.post("/orders/O-1/start", json={"zone": "A", "operator": "ann"}).status_code == 200
    await wait_until(lambda: len(bank.lit()) == 3, what="three bins lit")

    await bank.press("M-A-01", Button.CONFIRM)
    # The light going off is the picker's proof the pick was recorded: it is sent only after the commit.
    await wait_until(lambda: bank.state("M-A-01").color is None, what="M-A-01 cleared")
    edge.kill9()

    # While the edge is down a picker confirms another bin: the broker holds the QoS 1 event for the
    # edge's persistent session, and the bank's second press of the same event must not count twice.
    event = await bank.press("M-A-02", Button.CONFIRM)
    async with MqttObserver(mosquitto.url, f"floorgate/{site}/ptl/M-A-03/cmd") as observer:
        edge.start()
        event_topic = f"floorgate/{site}/ptl/M-A-02/event"
        replay = f'{{"id": "{event.id}", "button": "confirm", "display": "2"}}'
        await observer.publish(event_topic, replay)

        with edge.client("viewer") as viewer:
            await wait_until(
                lambda: viewer.get("/orders/O-1").json()["lines"][1]["status"] == "picked",
                what="L2 picked after restart",
            )
            lines = viewer.get("/orders/O-1").json()["lines"]
            assert [(ln["line_id"], ln["picked"], ln["status"]) for ln in lines] == [
                ("L1", 3, "picked"),
                ("L2", 2, "picked"),
                ("L3", 0, "lit"),
            ]
            on_hand = {loc["code"]: loc["on_hand"] for loc in viewer.get("/locations").json()}
            assert on_hand == {"A-01": 7, "A-02": 3, "A-03": 8}
            events = viewer.get("/events", params={"limit": 1000}).json()["events"]
            picks = [e["data"]["line"] for e in events if e["type"] == "pick.confirmed"]
            assert picks == ["L1", "L2"]
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))

        # The bin still lit is sent its state again after the restart.
        await wait_until(
            lambda: any(m.json().get("display") == "1" for m in observer.messages), what="M-A-03 re-sent"
        )
    assert bank.state("M-A-03").display == "1"


async def test_bad_device_input_is_recorded_and_the_edge_carries_on(
    edge: EdgeProcess, bank: ModuleBank, mosquitto: Mosquitto, site: str
) -> None:
    with edge.client("erp") as erp:
        seed_master_data(erp)
    async with MqttObserver(mosquitto.url, f"floorgate/{site}/edge/+/status") as observer:
        await observer.publish(f"floorgate/{site}/ptl/M-A-01/event", b"{not json")
        await observer.publish(f"floorgate/{site}/ptl/M-A-01/event", b'{"id": "x1", "button": "launch"}')
        await observer.publish(
            f"floorgate/{site}/ptl/M-NOPE/event", b'{"id": "x2", "button": "confirm", "display": "1"}'
        )
        await observer.publish(
            f"floorgate/{site}/ptl/M-A-01/event", b'{"id": "x3", "button": "confirm", "display": "1"}'
        )
        await observer.publish(f"floorgate/{site}/ptl/M-A-01/ack", b"[]")

    with edge.client("viewer") as viewer:
        exceptions = await wait_until(
            lambda: (xs := viewer.get("/exceptions").json()) and len(xs) >= 3 and xs, what="three exceptions"
        )
        by_kind = {x["kind"]: x for x in exceptions}
        assert set(by_kind) == {"device_fault", "unknown_module", "button_not_lit"}
        assert by_kind["device_fault"]["count"] == 3  # bad JSON, unknown button, bad ack on one module
        assert by_kind["unknown_module"]["device"] == "M-NOPE"
        assert viewer.get("/healthz").json()["status"] == "ok"

    with edge.client("erp") as erp:
        bad = erp.post(
            "/orders", json={"order_id": "O-2", "lines": [{"line_id": "L1", "sku": "SKU-1", "qty": 0}]}
        )
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["body", "lines", 0, "qty"]
        unknown = erp.post(
            "/orders",
            json={
                "order_id": "O-3",
                "lines": [{"line_id": "L1", "sku": "SKU-1", "qty": 1, "location": "Z-9"}],
            },
        )
        assert unknown.status_code == 422
        assert unknown.json()["detail"][0]["loc"] == ["body", "lines", 0, "location"]
        assert (
            erp.post("/orders", content=b"{oops", headers={"Content-Type": "application/json"}).status_code
            == 422
        )
        assert erp.post("/orders/O-404/start", json={"zone": "A"}).status_code == 404
    assert httpx.get(f"{edge.base_url}/api/v1/orders/O-1").status_code == 401
    with edge.client("viewer") as viewer:
        assert viewer.post("/orders", json=ORDER).status_code == 403

    # The edge is still working after all of that.
    with edge.client("erp") as erp:
        assert erp.post("/orders", json=ORDER).status_code == 201
        assert erp.post("/orders/O-1/start", json={"zone": "A"}).status_code == 200
    await wait_until(lambda: bank.state("M-A-01").display == "3", what="bin lit after bad input")


def test_a_broken_site_file_is_refused_naming_the_key_and_the_line(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[site]\nid = "dc1"\n\n[edge]\nid = "e1"\n\n[http]\nport = "eighty"\n')
    result = subprocess.run(
        [sys.executable, "-m", "floorgate.edge.cli", "check-config", str(site)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"{site}:8: http.port" in result.stderr
    run = subprocess.run(
        [sys.executable, "-m", "floorgate.edge.cli", "run", "--config", str(site)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "http.port" in run.stderr


async def test_the_edge_publishes_its_retained_status_and_offline_when_stopped(
    edge: EdgeProcess, mosquitto: Mosquitto, site: str
) -> None:
    topic = f"floorgate/{site}/edge/edge-1/status"
    async with MqttObserver(mosquitto.url, topic) as observer:
        await wait_until(lambda: [m.payload for m in observer.messages] == [b"online"], what="online")
        assert edge.stop() == 0
        await wait_until(lambda: observer.messages[-1].payload == b"offline", what="offline on clean stop")


async def test_floorgate_sim_picks_orders_on_an_edge_running_elsewhere(
    tmp_path: Path, mosquitto: Mosquitto, site: str
) -> None:
    locations = "".join(
        f'[[locations]]\ncode = "{code}"\nzone = "A"\nmodule = "M-{code}"\nsku = "SKU-{n}"\non_hand = 9\n\n'
        for n, code in enumerate(("A-01", "A-02"), 1)
    )
    edge = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=mosquitto.url, extra_site=locations).start()
    sim = subprocess.Popen(  # noqa: ASYNC220 - a real process, started once
        [
            sys.executable,
            "-m",
            "floorgate.edge.cli",
            "sim",
            "--config",
            str(edge.config_path),
            "--seconds-per-pick",
            "0.05",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        with edge.client("erp") as erp:
            lines = [{"line_id": "1", "sku": "SKU-1", "qty": 2}, {"line_id": "2", "sku": "SKU-2", "qty": 4}]
            assert erp.post("/orders", json={"order_id": "S-1", "lines": lines}).status_code == 201
            await wait_until(
                lambda: all(d["online"] for d in erp.get("/devices").json() if d["kind"] == "ptl"),
                timeout=15,
                what="simulated modules online",
            )
            assert erp.post("/orders/S-1/start", json={"zone": "A"}).status_code == 200
            order = await wait_until(
                lambda: (o := erp.get("/orders/S-1").json())["status"] == "picked" and o,
                timeout=15,
                what="picked by sim",
            )
        assert [(ln["picked"], ln["status"]) for ln in order["lines"]] == [(2, "picked"), (4, "picked")]
    finally:
        sim.terminate()
        sim_code = sim.wait(timeout=15)
        edge.stop()
    assert sim_code == 0


def test_an_http_port_in_use_is_a_clear_error_not_a_traceback(
    tmp_path: Path, mosquitto: Mosquitto, site: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        edge = EdgeProcess(
            workdir=tmp_path, site=site, mqtt_url=mosquitto.url, http_port=taken.getsockname()[1]
        )
        edge.write_config()
        result = subprocess.run(
            [sys.executable, "-m", "floorgate.edge.cli", "run", "--config", str(edge.config_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    assert f"cannot listen for HTTP on 127.0.0.1:{edge.http_port}" in result.stderr
    assert "change [http]" in result.stderr
    assert "Traceback" not in result.stderr
