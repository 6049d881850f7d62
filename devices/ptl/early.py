"""A restart's first lights: every module's stored command published before the rest of the floor is read.

With thousands of locations and orders, reading the whole floor back takes most of a restart, while the
lights a module should show are one small table. The edge reads that table first and hands it here: one
short connection of its own (a clean session under its own client id, subscribed to nothing, so no press is
taken before the floor is whole) publishes each command retained at QoS 1, as the PTL adapter does, waits
for the broker to have them all, and disconnects. The PTL adapter's first connect then publishes every
light again with its own ack tracking (a module shows the same seq once more, and acks it), reads what is
retained, and corrects what differs.

Nothing here is needed for correctness: any failure is logged and the adapter's connect does it all. The
edge's link must not publish until this has finished, or a command published here could overtake a newer
one of the link's for the same module in the broker's retained copy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Container, Sequence

from floorgate.core.instructions import Instruction
from floorgate.devices.mqtt.connection import MqttConnection, MqttError
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.ptl.codec import PtlTopic, encode_command, ptl_topic

logger = logging.getLogger(__name__)

_NOT_IN_A_TOPIC_LEVEL = frozenset("/+#\x00")
# Commands handed to the connection per event-loop turn, so the socket sends while the rest is encoded.
BURST = 500


async def publish_stored_lights(
    endpoint: MqttEndpoint,
    *,
    client_id: str,
    site: str,
    commands: Sequence[Instruction],
    foreign: Container[str] = frozenset(),
    within: float = 5.0,
) -> int:
    """Publish `commands` (a store's lights) on their modules' `cmd` topics, retained at QoS 1, and return
    how many the broker acknowledged (0 when it could not be reached within `within` seconds).

    `foreign`: modules of other edges' zones, never published (their retained commands are those edges').
    """
    wanted = [
        command
        for command in commands
        if command.module
        and not any(char in command.module for char in _NOT_IN_A_TOPIC_LEVEL)
        and command.module not in foreign
    ]
    if not wanted:
        return 0
    try:
        async with asyncio.timeout(within):
            connection = await MqttConnection.open(
                endpoint, client_id=client_id, on_message=lambda _: None, connect_timeout=within
            )
            try:
                last: asyncio.Future[None] | None = None
                for count, command in enumerate(wanted, start=1):
                    # The broker acknowledges QoS 1 publishes in the order it received them: the last
                    # one's PUBACK says it has them all.
                    last = connection.publish(
                        ptl_topic(site, command.module, PtlTopic.CMD),
                        encode_command(command),
                        qos=1,
                        retain=True,
                        want_ack=count == len(wanted),
                    )
                    if count % BURST == 0:
                        await asyncio.sleep(0)
                if last is not None:
                    await last
            finally:
                await connection.disconnect()
    except (MqttError, TimeoutError) as err:
        logger.info(
            "stored lights not published ahead of the floor; the PTL adapter's connect sends them",
            extra={"broker": endpoint.url, "error": str(err) or "timed out"},
        )
        return 0
    logger.info("stored lights published ahead of the floor", extra={"modules": len(wanted)})
    return len(wanted)
