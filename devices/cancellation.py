"""The cancellation check for loops that catch their transport's errors and go on (reconnect, publish).

The edge's MQTT link and the simulators' aiomqtt loops both need it, so it lives beside neither client.
"""

from __future__ import annotations

import asyncio


def raise_if_cancelling() -> None:
    """Call in a reconnect loop's `except MqttError`, and after each publish of a loop that publishes until
    cancelled: stop if the task is being cancelled.

    aiomqtt's `__aexit__` can raise MqttError while a cancelled client disconnects; that error replaces
    the CancelledError, and a loop that catches it and reconnects has swallowed the cancellation (the
    demo then never stopped on Ctrl-C). And aiomqtt's `publish` waits with Python 3.11's `wait_for`, which
    loses a cancellation that arrives as the broker's acknowledgement does: the publish returns, and a
    simulated scale went on publishing for ever under a test that had cancelled it.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
