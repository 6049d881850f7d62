"""A trivial 'edge' that answers every button event with the next light command at once.

The bench runs the loaders against it first: what they reach here is what the loaders and the broker
can do at all, so the edge's figure is shown not to be the loaders' limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from devices.mqtt_transport import MqttEndpoint, make_client
from devices.ptl.codec import PtlTopic, parse_ptl_topic, ptl_filter, ptl_topic
from firmware_sim.loadgen import module_names


async def echo(broker: str, site: str, light: list[str]) -> None:
    seqs: dict[str, int] = {}
    async with make_client(MqttEndpoint.from_url(broker), identifier="bench-echo") as client:
        await client.subscribe(ptl_filter(site, PtlTopic.EVENT), qos=1)
        for module in light:
            # Retained, so a loader that subscribes later still finds its modules lit.
            seqs[module] = 1
            body = json.dumps({"seq": 1, "color": "blue", "blink": "none", "display": "1"}).encode()
            await client.publish(ptl_topic(site, module, PtlTopic.CMD), body, qos=1, retain=True)
        async for message in client.messages:
            parsed = parse_ptl_topic(site, str(message.topic))
            if parsed is None:
                continue
            module = parsed[0]
            seq = seqs[module] = seqs.get(module, 1) + 1
            body = json.dumps({"seq": seq, "color": "blue", "blink": "none", "display": "1"}).encode()
            # Straight to paho: awaiting each PUBACK would make the echo the bottleneck it is meant not to be.
            client._client.publish(ptl_topic(site, module, PtlTopic.CMD), body, qos=1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.echo")
    parser.add_argument("--broker", required=True)
    parser.add_argument("--site", required=True)
    parser.add_argument("--light", help="modules to light once at start, e.g. M00001-M01000")
    args = parser.parse_args()
    asyncio.run(echo(args.broker, args.site, module_names(args.light) if args.light else []))


if __name__ == "__main__":
    main()
