"""Orders: received from the ERP, started at a zone, cancelled, and read back."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from floorgate.core import commands as cmd
from floorgate.core.model import OrderStatus
from floorgate.web.commanding import run
from floorgate.web.contract import (
    AUTH_REFUSALS,
    BAD_BODY,
    BODY_CONFIG,
    SQL_INT_MAX,
    WRITE_REFUSALS,
    Answer,
    JsonInt,
    PathId,
    answers,
    refusals,
)
from floorgate.web.deps import CanRead, CanWriteOrders, Context
from floorgate.web.views import ORDER_EXAMPLE, OrderView, order_view

router = APIRouter(tags=["orders"], responses=AUTH_REFUSALS)

OrderId = PathId
Name = Annotated[str, Field(min_length=1, max_length=64)]


class LineBody(BaseModel):
    model_config = BODY_CONFIG
    line_id: Name
    sku: PathId
    qty: JsonInt = Field(ge=1, le=100_000)
    location: PathId | None = None


class OrderBody(BaseModel):
    model_config = BODY_CONFIG
    order_id: PathId
    priority: JsonInt = Field(default=0, ge=-SQL_INT_MAX, le=SQL_INT_MAX)
    tote: Name | None = None
    lines: list[LineBody] = Field(min_length=1, max_length=1000)


class StartBody(BaseModel):
    model_config = BODY_CONFIG
    zone: PathId
    operator: Name | None = None
    tote: Name | None = None


class Started(Answer):
    zone: str
    color: str = Field(description="the picker's colour on the zone's modules")
    already_started: bool = Field(description="true when the order was already started there (a replay)")


class StartedOrder(OrderView):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **ORDER_EXAMPLE,
                    "started": {"zone": "A", "color": "green", "already_started": False},
                }
            ]
        }
    )

    started: Started


async def _order(context: Context, order_id: str) -> dict[str, Any]:
    """The order as the floor holds it, or as the store does once the floor has retired it."""
    order = context.floor.order(order_id)
    if order is None:
        order = await context.records.retired_order(order_id)
    if order is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no order {order_id!r}")
    return order_view(order)


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    response_model=None,
    responses={
        **answers(OrderView, status_code=status.HTTP_201_CREATED, description="Received"),
        **answers(OrderView, description="An identical replay"),
        **WRITE_REFUSALS,
        **BAD_BODY,
    },
)
async def post_order(
    body: OrderBody, context: Context, _role: CanWriteOrders, response: Response
) -> dict[str, Any]:
    applied = await run(
        context,
        cmd.ReceiveOrder(
            order_id=body.order_id,
            priority=body.priority,
            tote=body.tote,
            lines=tuple(
                cmd.NewOrderLine(line_id=ln.line_id, sku=ln.sku, qty=ln.qty, location=ln.location)
                for ln in body.lines
            ),
        ),
    )
    if not applied.reply.get("created"):
        response.status_code = status.HTTP_200_OK  # an identical replay
    return await _order(context, body.order_id)


@router.get(
    "/orders/{order_id}",
    response_model=None,
    responses={**answers(OrderView), **refusals(status.HTTP_404_NOT_FOUND)},
)
async def get_order(order_id: OrderId, context: Context, _role: CanRead) -> dict[str, Any]:
    return await _order(context, order_id)


@router.get("/orders", response_model=None, responses=answers(list[OrderView]))
async def list_orders(
    context: Context,
    _role: CanRead,
    status_filter: Annotated[OrderStatus | None, Query(alias="status")] = None,
) -> list[dict[str, Any]]:
    """The orders the floor holds: every unfinished one, and finished ones until they are retired
    (`[edge] retire_finished_orders_after_h`); `GET /orders/{order_id}` still finds a retired one."""
    return [order_view(o) for o in context.floor.orders() if status_filter in (None, o.status)]


@router.post(
    "/orders/{order_id}/start",
    response_model=None,
    responses={**answers(StartedOrder), **WRITE_REFUSALS, **BAD_BODY},
)
async def start_order(
    order_id: OrderId, body: StartBody, context: Context, _role: CanWriteOrders
) -> dict[str, Any]:
    applied = await run(
        context, cmd.StartOrder(order_id=order_id, zone=body.zone, operator=body.operator, tote=body.tote)
    )
    return {**await _order(context, order_id), "started": {"zone": body.zone, **applied.reply}}


@router.post(
    "/orders/{order_id}/cancel", response_model=None, responses={**answers(OrderView), **WRITE_REFUSALS}
)
async def cancel_order(order_id: OrderId, context: Context, _role: CanWriteOrders) -> dict[str, Any]:
    await run(context, cmd.CancelOrder(order_id=order_id))
    return await _order(context, order_id)
