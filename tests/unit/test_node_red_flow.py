"""The bench's Node-RED flow: the echo the design compares against, and nothing more."""

from __future__ import annotations

import json

import pytest

from bench.node_red_phase import FLOW, rows

pytestmark = pytest.mark.unit


def nodes_by_type() -> dict[str, dict[str, object]]:
    flow = json.loads(FLOW.read_text())
    return {node["type"]: node for node in flow}


def test_the_flow_is_mqtt_in_then_a_function_then_mqtt_out_at_qos_1() -> None:
    nodes = nodes_by_type()
    assert set(nodes) == {"tab", "mqtt-broker", "mqtt in", "function", "mqtt out"}
    events, light, lights = nodes["mqtt in"], nodes["function"], nodes["mqtt out"]
    assert events["wires"] == [[light["id"]]]
    assert light["wires"] == [[lights["id"]]]
    assert events["qos"] == "1"
    assert lights["qos"] == "1"


def test_the_flow_takes_its_broker_and_topic_from_the_environment_whole() -> None:
    # Node-RED substitutes an environment variable only for a whole property.
    nodes = nodes_by_type()
    assert nodes["mqtt-broker"]["broker"] == "${FG_BENCH_BROKER_HOST}"
    assert nodes["mqtt-broker"]["port"] == "${FG_BENCH_BROKER_PORT}"
    assert nodes["mqtt in"]["topic"] == "${FG_BENCH_EVENTS}"


def test_a_skipped_phase_shows_why_in_the_table() -> None:
    assert rows({"skipped": "node and npm are not installed"}, {}) == [
        ("Node-RED echo flow", "skipped", "node and npm are not installed")
    ]
