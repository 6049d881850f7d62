"""Items and locations, written by the ERP/WMS."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, ConfigDict, Field

from floorgate.core import commands as cmd
from floorgate.web.commanding import run
from floorgate.web.contract import (
    AUTH_REFUSALS,
    BAD_BODY,
    BODY_CONFIG,
    WRITE_REFUSALS,
    Answer,
    PathId,
    Quantity,
    TopicSafeId,
    answers,
)
from floorgate.web.deps import CanRead, CanWriteMasterData, Context
from floorgate.web.views import LocationView, location_view

router = APIRouter(tags=["master data"], responses=AUTH_REFUSALS)


def upserted(model: Any) -> dict[int | str, dict[str, Any]]:
    """An upsert answers 201 when it created the record and 200 when it changed an existing one."""
    return {
        **answers(model, description="Changed"),
        **answers(model, status_code=status.HTTP_201_CREATED, description="Created"),
        **WRITE_REFUSALS,
        **BAD_BODY,
    }


Code = TopicSafeId


class ItemBody(BaseModel):
    model_config = BODY_CONFIG
    description: str = Field(default="", max_length=500)
    gtins: list[Annotated[str, Field(pattern=r"^\d{8}$|^\d{12,14}$")]] = Field(default_factory=list)
    unit_weight_g: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    weight_tolerance_g: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="Grams each unit may weigh more or less than unit_weight_g (produce, bags of screws); "
        "added per unit picked to the pack station's tolerance.",
    )


class LocationBody(BaseModel):
    model_config = BODY_CONFIG
    zone: PathId
    module: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[^/+#\s]+$")
    sku: TopicSafeId | None = None
    on_hand: Quantity | None = None


class ItemView(Answer):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sku": "SKU-1",
                    "description": "M6 hex bolts, bag of 50",
                    "gtins": ["04012345678901"],
                    "unit_weight_g": 410.0,
                    "weight_tolerance_g": 5.0,
                }
            ]
        }
    )

    sku: str
    description: str
    gtins: list[str]
    unit_weight_g: float | None
    weight_tolerance_g: float | None


@router.put("/items/{sku}", response_model=None, responses=upserted(ItemView))
async def put_item(
    sku: Code, body: ItemBody, context: Context, _role: CanWriteMasterData, response: Response
) -> dict[str, Any]:
    applied = await run(
        context,
        cmd.UpsertItem(
            sku=sku,
            description=body.description,
            gtins=tuple(body.gtins),
            unit_weight_g=body.unit_weight_g,
            weight_tolerance_g=body.weight_tolerance_g,
        ),
    )
    if applied.reply.get("created"):
        response.status_code = status.HTTP_201_CREATED
    return {"sku": sku, **body.model_dump()}


@router.put("/locations/{code}", response_model=None, responses=upserted(LocationView))
async def put_location(
    code: Code, body: LocationBody, context: Context, _role: CanWriteMasterData, response: Response
) -> dict[str, Any]:
    applied = await run(
        context,
        cmd.UpsertLocation(code=code, zone=body.zone, module=body.module, sku=body.sku, on_hand=body.on_hand),
    )
    if applied.reply.get("created"):
        response.status_code = status.HTTP_201_CREATED
    location = context.floor.location(code)
    if location is None:  # only if the location changed again since: tell the client, not a 500
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no location {code!r}")
    return location_view(context.floor, location)


@router.get("/locations", response_model=None, responses=answers(list[LocationView]))
async def list_locations(context: Context, _role: CanRead, zone: str | None = None) -> list[dict[str, Any]]:
    floor = context.floor
    return [location_view(floor, loc) for loc in floor.locations() if zone in (None, loc.zone)]
