"""An amqtt MQTT broker inside the edge process, on loopback, for `floorgate demo` and tests.

Good for the demo (about 1.6k msgs/s), not for production or the bench: use mosquitto or a clustered
broker there. Listens on TCP only (no websocket listener), no $SYS publisher, quiet logs.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

# The broker is the [demo] extra's, never a production dependency; without it `floorgate demo` says so
# (edge/cli.py prints this message) instead of a traceback.
AMQTT_MISSING = (
    "the demo's embedded MQTT broker needs amqtt, which is not installed: "
    'pip install "floorgate[demo]" (./floorgate demo from a checkout installs it)'
)
try:
    from amqtt.broker import Broker
    from amqtt.plugins.base import BaseAuthPlugin
    from amqtt.session import Session
except ImportError as err:
    raise ModuleNotFoundError(AMQTT_MISSING, name="amqtt") from err

logger = logging.getLogger(__name__)

# amqtt logs every connection and every plugin load at INFO; the demo's console is for FloorGate.
_NOISY_LOGGERS = ("amqtt", "transitions")


class LoopbackAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt ships no type hints
    """Lets every client in, without marking its session anonymous.

    amqtt's own AnonymousAuthPlugin marks every session it admits anonymous, and amqtt then drops an
    anonymous session a second after it disconnects and never queues QoS 1 messages for it: no
    persistent sessions at all. The broker only listens on loopback, so admitting everyone is safe.
    """

    async def authenticate(self, *, session: Session) -> bool:
        del session
        return True


class EmbeddedBroker:
    """`async with EmbeddedBroker(port=...) as broker:` runs an amqtt broker until the block ends."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host = host
        self.port = port
        self._broker: Any = None
        self._quieted: list[logging.Logger] = []

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _config(self) -> dict[str, Any]:
        plugin = f"{LoopbackAuthPlugin.__module__}.{LoopbackAuthPlugin.__qualname__}"
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            # Naming the plugins replaces amqtt's defaults (event and packet loggers, $SYS publisher,
            # anonymous auth); an empty plugin set would refuse every client.
            "plugins": {plugin: {}},
        }

    async def __aenter__(self) -> EmbeddedBroker:
        self._quiet_logs()
        self._broker = Broker(self._config())
        try:
            await self._broker.start()
        except BaseException:
            self._broker = None
            self._restore_logs()
            raise
        logger.info("embedded MQTT broker started", extra={"broker": self.url})
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        broker, self._broker = self._broker, None
        try:
            if broker is not None:
                await broker.shutdown()
        finally:
            self._restore_logs()
        logger.info("embedded MQTT broker stopped", extra={"broker": self.url})

    def _quiet_logs(self) -> None:
        # Only loggers nobody configured: an explicit level set by the operator wins.
        for name in _NOISY_LOGGERS:
            noisy = logging.getLogger(name)
            if noisy.level == logging.NOTSET:
                noisy.setLevel(logging.WARNING)
                self._quieted.append(noisy)

    def _restore_logs(self) -> None:
        for noisy in self._quieted:
            noisy.setLevel(logging.NOTSET)
        self._quieted.clear()
