"""Putaways: stock the ERP sends down to put into bins, read back, cancelled."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, Field

from floorgate.core import commands as cmd
from floorgate.core.model import PutawayStatus
from floorgate.web.commanding import run
from floorgate.web.contract import (
    AUTH_REFUSALS,
    BAD_BODY,
    BODY_CONFIG,
    WRITE_REFUSALS,
    JsonInt,
    PathId,
    answers,
    refusals,
)
from floorgate.web.deps import CanRead, CanWriteOrders, Context
from floorgate.web.task_views import PutawayView, putaway_view

router = APIRouter(tags=["putaways"], responses=AUTH_REFUSALS)


class PutawayBody(BaseModel):
    model_config = BODY_CONFIG
    task_id: PathId
    sku: PathId
    qty: JsonInt = Field(ge=1, le=100_000)  # as an order line's (core/bin_tasks.py MAX_QUANTITY)
    location: PathId | None = None
    """The bin to put into; left out: the bin already holding the sku (in `zone`, if given)."""
    zone: PathId | None = None


def _view(context: Context, task_id: str) -> dict[str, Any]:
    putaway = context.floor.putaway(task_id)
    if putaway is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no putaway {task_id!r}")
    return putaway_view(putaway)


@router.post(
    "/putaways",
    status_code=status.HTTP_201_CREATED,
    response_model=None,
    responses={
        **answers(PutawayView, status_code=status.HTTP_201_CREATED, description="Received"),
        **answers(PutawayView, description="An identical replay"),
        **WRITE_REFUSALS,
        **BAD_BODY,
    },
)
async def post_putaway(
    body: PutawayBody, context: Context, _role: CanWriteOrders, response: Response
) -> dict[str, Any]:
    """The bin lights with `qty`; the value the stocker confirms on its module is what was put."""
    applied = await run(
        context,
        cmd.ReceivePutaway(
            task_id=body.task_id, sku=body.sku, qty=body.qty, location=body.location, zone=body.zone
        ),
    )
    if not applied.reply.get("created"):
        response.status_code = status.HTTP_200_OK  # an identical replay
    return _view(context, body.task_id)


@router.get("/putaways", response_model=None, responses=answers(list[PutawayView]))
async def list_putaways(
    context: Context,
    _role: CanRead,
    status_filter: Annotated[PutawayStatus | None, Query(alias="status")] = None,
) -> list[dict[str, Any]]:
    """Every putaway the floor holds, oldest first; `status`: queued, lit, put or cancelled."""
    return [putaway_view(p) for p in context.floor.putaways() if status_filter in (None, p.status)]


@router.get(
    "/putaways/{task_id}",
    response_model=None,
    responses={**answers(PutawayView), **refusals(status.HTTP_404_NOT_FOUND)},
)
async def get_putaway(task_id: PathId, context: Context, _role: CanRead) -> dict[str, Any]:
    return _view(context, task_id)


@router.post(
    "/putaways/{task_id}/cancel", response_model=None, responses={**answers(PutawayView), **WRITE_REFUSALS}
)
async def cancel_putaway(task_id: PathId, context: Context, _role: CanWriteOrders) -> dict[str, Any]:
    """A putaway not yet put leaves its bin: the light goes to the next work waiting there, or dark."""
    await run(context, cmd.CancelPutaway(task_id=task_id))
    return _view(context, task_id)
