"""`/docs` (Swagger UI) and `/redoc` (ReDoc) from the edge's own copies of their files, never a CDN.

A warehouse network usually reaches nothing outside, and FastAPI's own pages load Swagger UI, ReDoc and
their fonts from a CDN: they stay blank there. The files are in `web/static/vendor/` (taken from the npm
registry's tarballs, pinned by version and integrity, by `scripts/vendor-api-docs.sh`) and travel in the
wheel; ReDoc is told not to fetch Google's fonts. What the bundles would still fetch from outside (ReDoc's
sidebar shows Redocly's logo from their CDN, whatever its options say) the pages' Content-Security-Policy
stops in the browser, before any request leaves it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

VENDOR = "/static/vendor"
# Only the edge's own files. Inline script and style: FastAPI's page starts Swagger UI with an inline script,
# and both bundles style their components inline; ReDoc runs its search in a worker made from a blob.
DOCS_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


def _own_files_only(page: HTMLResponse) -> HTMLResponse:
    page.headers.update(DOCS_HEADERS)
    return page


def _openapi_url(request: Request) -> str:
    url = request.app.openapi_url
    assert url is not None  # the app serves its document (web/app.py)
    return str(url)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    page = get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
        # No badge from the online validator (swagger.io) under the document: nothing leaves the edge.
        swagger_ui_parameters={"validatorUrl": None},
    )
    return _own_files_only(page)


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    page = get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
        with_google_fonts=False,
    )
    return _own_files_only(page)
