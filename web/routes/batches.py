"""Batches and put walls: batches received from the ERP, started in a zone, and read back with their walls."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from floorgate.core import commands as cmd
from floorgate.core.model import BatchStatus
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
from floorgate.web.deps import CanRead, CanWriteOrders, Context
from floorgate.web.routes.orders import Started
from floorgate.web.sorting_views import BATCH_EXAMPLE, BatchView, WallView, batch_view, wall_view, wall_views

router = APIRouter(tags=["batches"], responses=AUTH_REFUSALS)

Name = Annotated[str, Field(min_length=1, max_length=64)]


class BatchBody(BaseModel):
    model_config = BODY_CONFIG
    batch_id: PathId
    order_ids: list[PathId] = Field(min_length=1, max_length=1000)
    """The batch's orders, oldest first: the oldest order needing an item gets it at the wall."""
    wall: PathId


class StartBody(BaseModel):
    model_config = BODY_CONFIG
    zone: PathId
    operator: Name | None = None


class StartedBatch(BatchView):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **BATCH_EXAMPLE,
                    "status": "picking",
                    "started": {"zone": "A", "color": "blue", "already_started": False},
                }
            ]
        }
    )

    started: Started


def _batch(context: Context, batch_id: str) -> dict[str, Any]:
    batch = context.floor.batch(batch_id)
    if batch is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no batch {batch_id!r}")
    return batch_view(batch)


@router.post(
    "/batches",
    status_code=status.HTTP_201_CREATED,
    response_model=None,
    responses={
        **answers(BatchView, status_code=status.HTTP_201_CREATED, description="Received"),
        **answers(BatchView, description="An identical replay"),
        **WRITE_REFUSALS,
        **BAD_BODY,
    },
)
async def post_batch(
    body: BatchBody, context: Context, _role: CanWriteOrders, response: Response
) -> dict[str, Any]:
    applied = await run(
        context, cmd.ReceiveBatch(batch_id=body.batch_id, order_ids=tuple(body.order_ids), wall=body.wall)
    )
    if not applied.reply.get("created"):
        response.status_code = status.HTTP_200_OK  # an identical replay
    return _batch(context, body.batch_id)


@router.get("/batches", response_model=None, responses=answers(list[BatchView]))
async def list_batches(
    context: Context,
    _role: CanRead,
    status_filter: Annotated[BatchStatus | None, Query(alias="status")] = None,
) -> list[dict[str, Any]]:
    return [batch_view(b) for b in context.floor.batches() if status_filter in (None, b.status)]


@router.get(
    "/batches/{batch_id}",
    response_model=None,
    responses={**answers(BatchView), **refusals(status.HTTP_404_NOT_FOUND)},
)
async def get_batch(batch_id: PathId, context: Context, _role: CanRead) -> dict[str, Any]:
    return _batch(context, batch_id)


@router.post(
    "/batches/{batch_id}/start",
    response_model=None,
    responses={**answers(StartedBatch), **WRITE_REFUSALS, **BAD_BODY},
)
async def start_batch(
    batch_id: PathId, body: StartBody, context: Context, _role: CanWriteOrders
) -> dict[str, Any]:
    applied = await run(context, cmd.StartBatch(batch_id=batch_id, zone=body.zone, operator=body.operator))
    return {**_batch(context, batch_id), "started": {"zone": body.zone, **applied.reply}}


@router.get("/walls", response_model=None, responses=answers(list[WallView]))
async def list_walls(context: Context, _role: CanRead) -> list[dict[str, Any]]:
    return wall_views(context.floor)


@router.get(
    "/walls/{wall_id}",
    response_model=None,
    responses={**answers(WallView), **refusals(status.HTTP_404_NOT_FOUND)},
)
async def get_wall(wall_id: PathId, context: Context, _role: CanRead) -> dict[str, Any]:
    wall = context.floor.wall(wall_id)
    if wall is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no wall {wall_id!r}")
    return wall_view(context.floor, wall)
