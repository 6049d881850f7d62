"""A trivial 'edge' that answers every button event with the next light command at once.

The bench runs the loaders against it first: what they reach here is what the loaders and the broker
can do at all, so the edge's figure is shown not to be the loaders' limit. It speaks MQTT through the
same lean connection as the edge (`devices.mqtt_connection`), acknowledging each event at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from floorgate.devices.mqtt.connection import MqttConnection
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.mqtt.wire import Publish
from floorgate.devices.ptl.codec import PtlTopic, parse_ptl_topic, ptl_filter, ptl_topic
from floorgate.firmware_sim.loadgen import module_names


def light(seq: int) -> bytes:
    return json.dumps({"seq": seq, "color": "blue", "blink": "none", "display": "1"}).encode()


async def echo(broker: str, site: str, lit: list[str]) -> None:
    seqs: dict[str, int] = {}
    connection: MqttConnection | None = None

    def on_event(message: Publish) -> None:
        assert connection is not None
        if message.qos:
            connection.ack(message.mid)
        parsed = parse_ptl_topic(site, message.topic)
        if parsed is None:
            return
        module = parsed[0]
        seq = seqs[module] = seqs.get(module, 1) + 1
        connection.publish(ptl_topic(site, module, PtlTopic.CMD), light(seq), qos=1)

    connection = await MqttConnection.open(
        MqttEndpoint.from_url(broker), client_id="bench-echo", on_message=on_event, keepalive=60
    )
    await connection.subscribe([(ptl_filter(site, PtlTopic.EVENT), 1)])
    for module in lit:
        # Retained, so a loader that subscribes later still finds its modules lit.
        seqs[module] = 1
        connection.publish(ptl_topic(site, module, PtlTopic.CMD), light(1), qos=1, retain=True)
    # The bench starts its loaders on this line: subscribed, and every light handed to the broker.
    print("ready", flush=True)
    await connection.closed


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.echo")
    parser.add_argument("--broker", required=True)
    parser.add_argument("--site", required=True)
    parser.add_argument("--light", help="modules to light once at start, e.g. M00001-M01000")
    args = parser.parse_args()
    asyncio.run(echo(args.broker, args.site, module_names(args.light) if args.light else []))


if __name__ == "__main__":
    main()
