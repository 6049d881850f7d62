"""The event log, devices and exceptions: what happened and what needs a person."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal
from urllib.parse import quote_plus

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from floorgate.core import commands as cmd
from floorgate.core.model import ExceptionStatus
from floorgate.web.commanding import run
from floorgate.web.contract import (
    AUTH_REFUSALS,
    BAD_BODY,
    BODY_CONFIG,
    SQL_INT_MAX,
    WRITE_REFUSALS,
    Answer,
    answers,
)
from floorgate.web.deps import CanRead, CanResolve, Context
from floorgate.web.kpis import KpiView
from floorgate.web.roles import Caller
from floorgate.web.views import DeviceView, EventView, ExceptionView, device_view, event_view, exception_view

router = APIRouter(tags=["floor"], responses=AUTH_REFUSALS)

# GET /devices and GET /exceptions page: a floor flooded by invented ids once answered with 760 KB.
DEFAULT_PAGE = 500
MAX_PAGE = 1000


PAGE_HEADERS = {
    "X-Total-Count": {"description": "How many match, on every page.", "schema": {"type": "integer"}},
    "X-Next-After": {
        "description": "While more follow: the `after` that continues (query-string encoded).",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": 'While more follow: `<next page>; rel="next"`.',
        "schema": {"type": "string"},
    },
}


def paged(model: Any) -> dict[int | str, dict[str, Any]]:
    """`answers(model)` for a list that pages in its headers (`_page_headers`): `model` is `list[SomeView]`."""
    page = answers(model, description="One page of the list; the paging headers say how to go on.")
    page[status.HTTP_200_OK]["headers"] = PAGE_HEADERS
    return page


class EventPage(Answer):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {
                            "seq": 42,
                            "id": "evt_01HQ3Z0",
                            "type": "pick.confirmed",
                            "timestamp": "2026-03-02T08:15:42.117Z",
                            "order_id": "SO-1001",
                            "data": {"order_id": "SO-1001", "line_id": "1", "qty": 3},
                        }
                    ],
                    "next_after": 42,
                    "first_seq": 1,
                    "last_seq": 42,
                }
            ]
        }
    )

    events: list[EventView]
    next_after: int = Field(description="the `after` that continues: the last event's seq")
    first_seq: int = Field(description="the oldest event the log still holds")
    last_seq: int = Field(description="the newest event")


@router.get("/events", response_model=None, responses=answers(EventPage))
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


def _page_headers(
    request: Request, response: Response, *, total: int, next_after: str | None, limit: int
) -> None:
    """The cursor of a list that pages in its headers, so its body stays the plain list it always was:
    `X-Total-Count` (how many match, on every page), and while more follow, `X-Next-After` (the `after`
    that continues, encoded as in a query string: a device id may hold any character) and a `Link` to
    the next page."""
    response.headers["X-Total-Count"] = str(total)
    if next_after is None:
        return
    response.headers["X-Next-After"] = quote_plus(next_after)
    url = request.url.include_query_params(after=next_after, limit=limit)
    response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'


@router.get("/devices", response_model=None, responses=paged(list[DeviceView]))
async def list_devices(
    context: Context,
    _role: CanRead,
    request: Request,
    response: Response,
    after: Annotated[str, Query(max_length=1024, description="the last id of the page before")] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> list[dict[str, Any]]:
    """Known devices by id, from the first id above `after`; more than `limit`: see the paging headers."""
    floor = context.floor
    pending = context.pending_commands()
    now = time.time()
    devices = list(floor.devices())
    following = sorted((d for d in devices if d.id > after), key=lambda d: d.id)
    page = following[:limit]
    more = len(following) > limit
    _page_headers(
        request,
        response,
        total=len(devices),
        next_after=page[-1].id if more else None,
        limit=limit,
    )
    return [device_view(floor, d, awaiting_ack=pending.get(d.id), now=now) for d in page]


@router.get("/kpis", response_model=None, responses=answers(KpiView))
async def kpis(context: Context, _role: CanRead) -> dict[str, Any]:
    """Shift and last-15-minute KPIs from committed events: the same numbers the stream carries."""
    return context.hub.kpi_view()


@router.get("/exceptions", response_model=None, responses=paged(list[ExceptionView]))
async def list_exceptions(
    context: Context,
    _role: CanRead,
    request: Request,
    response: Response,
    status: Literal["open", "resolved", "all"] = "open",
    after: Annotated[int, Query(ge=0, le=SQL_INT_MAX, description="the last id of the page before")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> list[dict[str, Any]]:
    """Exceptions by id, from the first id above `after`; more than `limit`: see the paging headers."""
    matching = [
        x for x in context.floor.exceptions() if status == "all" or x.status is ExceptionStatus(status)
    ]
    following = sorted((x for x in matching if x.id > after), key=lambda x: x.id)
    page = following[:limit]
    more = len(following) > limit
    _page_headers(
        request,
        response,
        total=len(matching),
        next_after=str(page[-1].id) if more else None,
        limit=limit,
    )
    return [exception_view(x) for x in page]


class ResolveBody(BaseModel):
    model_config = BODY_CONFIG
    note: str | None = Field(default=None, max_length=500)
    resolved_by: str | None = Field(default=None, max_length=64)
    """Who resolved it, for a token without a name (a shared one); a named token's name is recorded instead."""


def _resolver(caller: Caller, body: ResolveBody) -> str:
    # A named token says who it is: the name the site file gives it is what the event records.
    return caller.name or body.resolved_by or caller.role.value


@router.post(
    "/exceptions/{exception_id}/resolve",
    response_model=None,
    responses={**answers(ExceptionView), **WRITE_REFUSALS, **BAD_BODY},
)
async def resolve_exception(
    exception_id: int, context: Context, caller: CanResolve, body: ResolveBody | None = None
) -> dict[str, Any]:
    body = body or ResolveBody()
    await run(
        context,
        cmd.ResolveException(exception_id=exception_id, resolved_by=_resolver(caller, body), note=body.note),
    )
    exception = context.floor.exception(exception_id)
    if exception is None:  # the floor no longer holds it: say so rather than fail
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no exception {exception_id}")
    return exception_view(exception)
