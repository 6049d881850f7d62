"""WebSocket `/api/v1/stream?token=...&after=seq`: a snapshot (or the missed deltas), then deltas.

Without `token` in the query, the token is the dashboard's session cookie (or an Authorization header)."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from floorgate.web.credentials import caller_for, presented_token
from floorgate.web.roles import Permission
from floorgate.web.stream import cancel_quietly, merge_deltas

router = APIRouter(tags=["stream"])

POLICY_VIOLATION = 1008


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
        try:
            while not reader.done():
                sender = asyncio.create_task(hub.next_text(client))
                done, _ = await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
                if sender not in done:
                    await cancel_quietly(sender)
                    break
                await websocket.send_text(sender.result())
        finally:
            await cancel_quietly(reader)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client went away mid-send
    finally:
        hub.disconnect(client)
        # Closing a socket the client already dropped raises either, depending on when it went.
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close()


async def _drain(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()
