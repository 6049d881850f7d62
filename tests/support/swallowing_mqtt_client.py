"""A fake aiomqtt client whose publish loses a cancellation, as Python 3.11's `wait_for` inside aiomqtt may."""

from __future__ import annotations

import asyncio
from types import TracebackType


class SwallowingClient:
    """A client whose publish returns normally when cancelled mid-wait, as `wait_for` in 3.11 may."""

    def __init__(self) -> None:
        self.publishing = asyncio.Event()
        self.swallow = True

    async def __aenter__(self) -> SwallowingClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def publish(self, topic: str, payload: bytes, *, qos: int = 0) -> None:
        self.publishing.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if self.swallow:
                return  # the acknowledgement "arrived" as the cancellation did: the cancellation is lost
            raise
