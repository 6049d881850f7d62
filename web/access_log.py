"""The access log: one structured line per HTTP request, saying who (`by`) did what and how it went.

`by` is the name of the request's token (`[[tokens]] name`), else its role, else "-" (no token, or one the
edge does not know). The path is logged without its query string, and neither the token nor the cookie that
carries it is ever logged.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from floorgate.web.context import WebContext
from floorgate.web.credentials import caller_for, presented_token

log = logging.getLogger("floorgate.access")


class AccessLog:
    """Wraps the whole app (the API's guard included), so refused requests are logged too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app fails before it answers

        async def noting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        finally:
            context = scope["app"].state.context
            assert isinstance(context, WebContext)
            caller = caller_for(context, presented_token(Headers(scope=scope)))
            client = scope.get("client")
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "by": caller.by if caller is not None else "-",
                    "client": client[0] if client else None,
                },
            )
