"""Stations: what each one is doing, a scan as if read there, and a supervisor's weight-check override."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
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
    answers,
)
from floorgate.web.deps import CanRead, CanWriteOrders, Context, require
from floorgate.web.roles import Caller, Permission
from floorgate.web.views import PACK_STATION_EXAMPLE, StationView, station_view, station_views

router = APIRouter(tags=["stations"], responses=AUTH_REFUSALS)

CanOverride = Annotated[Caller, Depends(require(Permission.OVERRIDE))]
StationId = PathId


def _view(context: Context, station_id: str) -> dict[str, Any]:
    station = context.floor.station(station_id)
    if station is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no station {station_id!r}")
    return station_view(station, context.floor.pack_state(station_id))


@router.get("/stations", response_model=None, responses=answers(list[StationView]))
async def list_stations(context: Context, _role: CanRead) -> list[dict[str, Any]]:
    return station_views(context.floor)


class OverrideBody(BaseModel):
    model_config = BODY_CONFIG
    order_id: PathId
    reason: str = Field(min_length=1, max_length=500)


class Overridden(Answer):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "station": {
                        **PACK_STATION_EXAMPLE,
                        "state": "overridden",
                        "verdict": "overridden",
                        "message": "order SO-1001 accepted by supervisor: carton checked by hand",
                        "updated_at": "2026-03-02T08:16:03.500Z",
                        "overridable": False,
                    },
                    "events": ["pack.overridden"],
                }
            ]
        }
    )

    station: StationView
    events: list[str] = Field(description="the types of the events the override committed")


@router.post(
    "/stations/{station_id}/override",
    response_model=None,
    responses={**answers(Overridden), **WRITE_REFUSALS, **BAD_BODY},
)
async def override_weight_check(
    station_id: StationId, body: OverrideBody, context: Context, caller: CanOverride
) -> dict[str, Any]:
    """A supervisor accepts a failed weight check: the order is packed, the reason is recorded."""
    applied = await run(
        context,
        cmd.OverrideWeightCheck(station=station_id, order_id=body.order_id, reason=body.reason, by=caller.by),
    )
    return {"station": _view(context, station_id), "events": list(applied.event_types)}


class ScanBody(BaseModel):
    model_config = BODY_CONFIG
    data: str = Field(min_length=1, max_length=512)


@router.post(
    "/stations/{station_id}/scan",
    response_model=None,
    responses={**answers(StationView), **WRITE_REFUSALS, **BAD_BODY},
)
async def scan_at_station(
    station_id: StationId, body: ScanBody, context: Context, _role: CanWriteOrders
) -> dict[str, Any]:
    """The same as a scanner at the station reading `data` (for a station screen without a scanner)."""
    if context.floor.station(station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no station {station_id!r}")
    await run(context, cmd.RecordScan(station=station_id, data=body.data, scanner=None))
    return _view(context, station_id)
