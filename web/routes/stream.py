"""WebSocket `/api/v1/stream?token=...&after=seq`: a snapshot (or the missed deltas), then deltas.

Without `token` in the query, the token is the dashboard's session cookie (or an Authorization header)."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from floorgate.web.credentials import caller_for, presented_token
from floorgate.web.roles import Permission
from floorgate.web.stream import StreamClient, StreamHub, TooFarBehind, cancel_quietly, merge_deltas

router = APIRouter(tags=["stream"])

POLICY_VIOLATION = 1008
# "Try again later": the dashboard reconnects on any other code than 1008, and resumes from its seq.
TRY_AGAIN_LATER = 1013


@router.websocket("/stream")
async def stream(websocket: WebSocket, token: str = "", after: int | None = None) -> None:
    context = websocket.app.state.context
    presented = token or presented_token(websocket.headers)
    caller = caller_for(context, presented)
    role = caller.role if caller is not None else None
    # Accept, then close with 1008: a refused handshake reaches a browser only as a bare 1006, and the
    # dashboard must be able to tell "wrong token" from "edge unreachable".
    await websocket.accept()
    if role is None or not role.allows(Permission.READ):
        # The dashboard tells "no token yet" (ask for one) from "that token was refused" by the reason.
        reason = "unknown token" if presented else "missing token"
        await websocket.close(code=POLICY_VIOLATION, reason=reason)
        return
    hub = context.hub
    client = hub.connect()
    try:
        missed = hub.since(after) if after is not None else None
        if missed is None:
            await websocket.send_json({**hub.snapshot(), "role": role.value, "site": context.site_id})
        elif missed:
            # What the client missed, as one message: a reconnect must not burst past the coalescing rate.
            await websocket.send_json({**merge_deltas(missed), "kpis": hub.kpi_view()})
        # Reading is only to notice the client leaving; the dashboard sends nothing we act on.
        reader = asyncio.create_task(_drain(websocket), name="stream-reader")
        sender = asyncio.create_task(_send(websocket, hub, client), name="stream-sender")
        try:
            await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_quietly(reader)
            await cancel_quietly(sender)  # raises what ended it
    except TooFarBehind:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=TRY_AGAIN_LATER, reason="too far behind: reconnect to resume")
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client went away mid-send
    finally:
        hub.disconnect(client)
        # Closing a socket the client already dropped raises either, depending on when it went.
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close()


async def _send(websocket: WebSocket, hub: StreamHub, client: StreamClient) -> None:
    """Each message as it is flushed: the text the hub encoded once for every client that keeps up."""
    while True:
        await websocket.send_text(await hub.next_text(client))


async def _drain(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()
