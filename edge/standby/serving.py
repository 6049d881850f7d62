"""What the standby edge of a pair answers over HTTP: alive, not ready, and where the active edge is.

A load balancer or keepalived follows `/healthz/ready` (503 here, 200 on the active edge) and
`/healthz/live` (200 on both while the process runs). Every other request, writes above all, is refused
with 503 naming the active edge, so nothing is ever taken by an edge that cannot commit it; a WebSocket
is closed with 1013 (try again later), and the dashboard reconnects until it reaches the active edge.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from floorgate.edge.standby.lease import Holder

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

WEBSOCKET_TRY_AGAIN_LATER = 1013


def standby_app(*, site_id: str, edge_id: str, active: Callable[[], Holder | None]) -> Asgi:
    """The standby's whole HTTP service: `active()` says who holds the lease, as last read."""

    def refusal() -> dict[str, Any]:
        holder = active()
        if holder is None or holder.edge == edge_id:
            where = "no edge holds the pair's lease right now; ask again in a moment"
        else:
            where = f"the active edge is {holder.edge!r} at {holder.http_url}"
        return {
            "status": "standby",
            "site": site_id,
            "edge": edge_id,
            "active": None if holder is None else {"edge": holder.edge, "url": holder.http_url},
            "detail": f"edge {edge_id!r} is the standby of its pair and serves no requests: {where}",
        }

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()  # the connect
            await send({"type": "websocket.close", "code": WEBSOCKET_TRY_AGAIN_LATER})
            return
        if scope["type"] != "http":
            return
        if scope["path"] == "/healthz/live":
            status, body = 200, {"status": "live", "role": "standby", "site": site_id, "edge": edge_id}
        else:
            status, body = 503, refusal()
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"retry-after", b"1"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return app
