"""The HTML pages: the supervisor view and the station, zone and put-wall screens, plain files that open the
live stream."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from floorgate.web.routes.session import token_redirect

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)

# The pages load only their own scripts and styles from /static and open the stream on the same host, so
# nothing else may load or be framed in (clickjacking a supervisor into resolving an exception, for one).
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
}


def _page(request: Request, file: str) -> Response:
    # A `?token=` is moved into the session cookie first, so it leaves the address bar and history.
    return token_redirect(request) or FileResponse(STATIC / file, headers=PAGE_HEADERS)


@router.get("/dashboard")
async def dashboard(request: Request) -> Response:
    return _page(request, "index.html")


# The id is read by the page's script from its own URL; the server only serves the screen.
@router.get("/stations/{station_id}")
async def pack_station_screen(station_id: str, request: Request) -> Response:
    return _page(request, "station.html")


@router.get("/zones/{zone_id}")
async def zone_screen(zone_id: str, request: Request) -> Response:
    return _page(request, "zone.html")


@router.get("/walls/{wall_id}")
async def wall_screen(wall_id: str, request: Request) -> Response:
    return _page(request, "wall.html")
