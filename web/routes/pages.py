"""The HTML pages: the supervisor view and the station screens, plain files that open the live stream."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/dashboard")
async def dashboard() -> FileResponse:
    return FileResponse(STATIC / "index.html")


# The id is read by the page's script from its own URL; the server only serves the screen.
@router.get("/stations/{station_id}")
async def pack_station_screen(station_id: str) -> FileResponse:
    return FileResponse(STATIC / "station.html")


@router.get("/zones/{zone_id}")
async def zone_screen(zone_id: str) -> FileResponse:
    return FileResponse(STATIC / "zone.html")
