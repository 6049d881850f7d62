"""`/docs` (Swagger UI) and `/redoc` (ReDoc) from the edge's own copies of their files, never a CDN.

A warehouse network usually reaches nothing outside, and FastAPI's own pages load Swagger UI, ReDoc and
their fonts from a CDN: they stay blank there. The files are in `web/static/vendor/` (taken from the npm
registry's tarballs, pinned by version and integrity, by `scripts/vendor-api-docs.sh`) and travel in the
wheel; ReDoc is told not to fetch Google's fonts.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

VENDOR = "/static/vendor"


def _openapi_url(request: Request) -> str:
    url = request.app.openapi_url
    assert url is not None  # the app serves its document (web/app.py)
    return str(url)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
        # No badge from the online validator (swagger.io) under the document: nothing leaves the edge.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
        with_google_fonts=False,
    )
