"""Cycle counts: started by the ERP or a supervisor, read back, recounted by a supervisor, cancelled."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, Field

from floorgate.core import commands as cmd
from floorgate.core.model import CountStatus
from floorgate.web.commanding import run
from floorgate.web.contract import (
    AUTH_REFUSALS,
    BAD_BODY,
    BODY_CONFIG,
    WRITE_REFUSALS,
    PathId,
    answers,
    refusals,
)
from floorgate.web.deps import CanRead, Context, require
from floorgate.web.roles import Caller, Permission
from floorgate.web.task_views import CountView, count_view

router = APIRouter(tags=["counts"], responses=AUTH_REFUSALS)

CanStartCounts = Annotated[Caller, Depends(require(Permission.START_COUNTS))]
CanRecount = Annotated[Caller, Depends(require(Permission.RECOUNT))]
# A count of more bins than this is a zone's work: count the zone.
MAX_LOCATIONS = 1000


class CountBody(BaseModel):
    model_config = BODY_CONFIG
    count_id: PathId
    zone: PathId | None = None
    """Count every bin of this zone that has a module; or name `locations` instead."""
    locations: list[PathId] = Field(default_factory=list, max_length=MAX_LOCATIONS)
    blind: bool = True
    """A blind count shows 0 on each bin, never the record."""


class RecountBody(BaseModel):
    model_config = BODY_CONFIG
    locations: list[PathId] = Field(default_factory=list, max_length=MAX_LOCATIONS)
    """The counted bins to count again; left empty: every bin whose count differed from its record."""


def _view(context: Context, count_id: str) -> dict[str, Any]:
    count = context.floor.count(count_id)
    if count is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no count {count_id!r}")
    return count_view(count)


@router.post(
    "/counts",
    status_code=status.HTTP_201_CREATED,
    response_model=None,
    responses={
        **answers(CountView, status_code=status.HTTP_201_CREATED, description="Started"),
        **answers(CountView, description="An identical replay"),
        **WRITE_REFUSALS,
        **BAD_BODY,
    },
)
async def post_count(
    body: CountBody, context: Context, caller: CanStartCounts, response: Response
) -> dict[str, Any]:
    """Each bin lights for counting, or waits for the work lit there; the counter confirms what is there."""
    applied = await run(
        context,
        cmd.StartCount(
            count_id=body.count_id,
            zone=body.zone,
            locations=tuple(body.locations),
            blind=body.blind,
            by=caller.by,
        ),
    )
    if not applied.reply.get("created"):
        response.status_code = status.HTTP_200_OK  # an identical replay
    return _view(context, body.count_id)


@router.get("/counts", response_model=None, responses=answers(list[CountView]))
async def list_counts(
    context: Context,
    _role: CanRead,
    status_filter: Annotated[CountStatus | None, Query(alias="status")] = None,
) -> list[dict[str, Any]]:
    """Every count the floor holds, oldest first; `status`: counting, completed or cancelled."""
    return [count_view(c) for c in context.floor.counts() if status_filter in (None, c.status)]


@router.get(
    "/counts/{count_id}",
    response_model=None,
    responses={**answers(CountView), **refusals(status.HTTP_404_NOT_FOUND)},
)
async def get_count(count_id: PathId, context: Context, _role: CanRead) -> dict[str, Any]:
    return _view(context, count_id)


@router.post(
    "/counts/{count_id}/recount",
    response_model=None,
    responses={**answers(CountView), **WRITE_REFUSALS, **BAD_BODY},
)
async def recount(
    count_id: PathId, body: RecountBody, context: Context, caller: CanRecount
) -> dict[str, Any]:
    """A supervisor asks for counted bins again: they light (blind if the count is), and are recorded anew."""
    await run(context, cmd.RecountBins(count_id=count_id, locations=tuple(body.locations), by=caller.by))
    return _view(context, count_id)


@router.post(
    "/counts/{count_id}/cancel", response_model=None, responses={**answers(CountView), **WRITE_REFUSALS}
)
async def cancel_count(count_id: PathId, context: Context, caller: CanStartCounts) -> dict[str, Any]:
    """The bins not yet counted leave the count; their lights go to the work waiting there, or dark."""
    await run(context, cmd.CancelCount(count_id=count_id, by=caller.by))
    return _view(context, count_id)
