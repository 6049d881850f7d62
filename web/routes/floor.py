"""The event log, devices and exceptions: what happened and what needs a person."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from floorgate.core import commands as cmd
from floorgate.core.model import ExceptionStatus
from floorgate.web.commanding import run
from floorgate.web.contract import AUTH_REFUSALS, BAD_BODY, BODY_CONFIG, SQL_INT_MAX, WRITE_REFUSALS
from floorgate.web.deps import CanRead, CanResolve, Context
from floorgate.web.views import device_view, event_view, exception_view

router = APIRouter(tags=["floor"], responses=AUTH_REFUSALS)


@router.get("/events")
async def list_events(
    context: Context,
    _role: CanRead,
    after: Annotated[int, Query(ge=0, le=SQL_INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    types: Annotated[str | None, Query(alias="type", description="comma-separated event types")] = None,
) -> dict[str, Any]:
    """The event log from `after` on. Events older than `[edge] delete_events_after_days` and delivered
    everywhere leave it: `first_seq` is the oldest still held, so a reader whose `after` is below
    `first_seq - 1` knows that the events in between are gone."""
    type_list = [t for t in (types or "").split(",") if t] or None
    page = await context.records.events_after(after, limit, types=type_list)
    return {
        "events": [event_view(r) for r in page.events],
        "next_after": page.events[-1].seq if page.events else after,
        "first_seq": page.first_seq,
        "last_seq": page.last_seq,
    }


@router.get("/devices")
async def list_devices(context: Context, _role: CanRead) -> list[dict[str, Any]]:
    floor = context.floor
    pending = context.pending_commands()
    now = time.time()
    return [
        device_view(floor, d, awaiting_ack=pending.get(d.id), now=now)
        for d in sorted(floor.devices(), key=lambda d: d.id)
    ]


@router.get("/kpis")
async def kpis(context: Context, _role: CanRead) -> dict[str, Any]:
    """Shift and last-15-minute KPIs from committed events: the same numbers the stream carries."""
    return context.hub.kpi_view()


@router.get("/exceptions")
async def list_exceptions(
    context: Context,
    _role: CanRead,
    status: Literal["open", "resolved", "all"] = "open",
) -> list[dict[str, Any]]:
    exceptions = context.floor.exceptions()
    return [
        exception_view(x)
        for x in sorted(exceptions, key=lambda x: x.id)
        if status == "all" or x.status is ExceptionStatus(status)
    ]


class ResolveBody(BaseModel):
    model_config = BODY_CONFIG
    note: str | None = Field(default=None, max_length=500)
    resolved_by: str | None = Field(default=None, max_length=64)


@router.post("/exceptions/{exception_id}/resolve", responses={**WRITE_REFUSALS, **BAD_BODY})
async def resolve_exception(
    exception_id: int, context: Context, role: CanResolve, body: ResolveBody | None = None
) -> dict[str, Any]:
    body = body or ResolveBody()
    await run(
        context,
        cmd.ResolveException(
            exception_id=exception_id, resolved_by=body.resolved_by or role.value, note=body.note
        ),
    )
    exception = context.floor.exception(exception_id)
    if exception is None:  # the floor no longer holds it: say so rather than fail
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no exception {exception_id}")
    return exception_view(exception)
