"""The API's door: an ASGI middleware that checks the bearer token and caps the body before the app reads it.

FastAPI reads and parses a request's body before it runs the route's dependencies, so the token check in
`deps.require` comes after the body is in memory: anyone on the floor network could make the edge (and the
event loop it shares with MQTT) read and parse a body of any size without a token. This middleware sits in
front of the app and, before a single body byte is received:

- answers 401 when the route it reaches needs a bearer token and the request has none the edge knows, in its
  header or the dashboard's session cookie (the same token table and comparison as the routes; which role
  may do what stays with the routes' 403);
- answers 413 when Content-Length is above the cap, and counts a body sent without one as it streams,
  cutting it off at the cap with the same 413;
- answers 405 with every method the path accepts (Starlette's router names only the first route's).
"""

from __future__ import annotations

from fastapi.dependencies.models import Dependant
from fastapi.routing import RouteContext, iter_route_contexts
from fastapi.security import HTTPBearer
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from floorgate.web.context import WebContext
from floorgate.web.credentials import caller_for, presented_token

# The largest request body the API reads by default: its biggest bodies (an order of 1000 lines) are far below.
API_MAX_BODY_BYTES = 1024 * 1024


def _reads_token(dependant: Dependant) -> bool:
    """Whether a route's dependencies read a bearer token (every `deps.require` does)."""
    return any(isinstance(dep.call, HTTPBearer) or _reads_token(dep) for dep in dependant.dependencies)


def too_large(limit: int) -> JSONResponse:
    """The 413, closing the connection so that the rest of the body is not read either."""
    return JSONResponse(
        {"detail": f"request body over the limit of {limit} bytes"},
        status_code=413,
        headers={"Connection": "close"},
    )


class ApiGuard:
    """Refuses what the app must not read: bodies without a known token, and bodies over `max_body_bytes`."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int = API_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route, allowed = self._route(scope)
        headers = Headers(scope=scope)
        if route is None and allowed:
            await JSONResponse(
                {"detail": "Method Not Allowed"},
                status_code=405,
                headers={"Allow": ", ".join(sorted(allowed))},
            )(scope, receive, send)
            return
        dependant = getattr(route, "dependant", None)
        if isinstance(dependant, Dependant) and _reads_token(dependant) and not _known_token(scope, headers):
            refusal = {"WWW-Authenticate": "Bearer"}
            if _declared_length(headers) or "transfer-encoding" in headers:
                # Closing is what keeps the server from reading (and dropping) a body no one will use.
                refusal["Connection"] = "close"
            await JSONResponse(
                {"detail": "missing or unknown bearer token"}, status_code=401, headers=refusal
            )(scope, receive, send)
            return
        if _declared_length(headers) > self.max_body_bytes:
            await too_large(self.max_body_bytes)(scope, receive, send)
            return
        await self._capped(scope, receive, send)

    @staticmethod
    def _route(scope: Scope) -> tuple[RouteContext | None, set[str]]:
        """The route the router will hand the request to (the first full match), or None and the methods
        of every route whose path matches (empty when none does: a 404 or a redirect, left to the router)."""
        allowed: set[str] = set()
        for route in iter_route_contexts(scope["app"].routes):
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route, set()
            if match is Match.PARTIAL and route.methods:
                allowed |= route.methods
        return None, allowed

    async def _capped(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Runs the app with a receive that counts the body and, past the cap, answers 413 itself and tells
        the app the client is gone (whatever the app then sends is dropped)."""
        limit = self.max_body_bytes
        received = 0
        refused = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await too_large(limit)(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted_receive, guarded_send)


def _known_token(scope: Scope, headers: Headers) -> bool:
    context = scope["app"].state.context
    assert isinstance(context, WebContext)
    return caller_for(context, presented_token(headers)) is not None


def _declared_length(headers: Headers) -> int:
    """The Content-Length the client declared, or 0 when it declared none (the body is then counted)."""
    value = headers.get("content-length", "")
    return int(value) if value.isdigit() else 0
