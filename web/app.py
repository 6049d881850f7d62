"""The FastAPI application factory: routes, error shapes and the dashboard's static files."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from floorgate.web.access_log import AccessLog
from floorgate.web.context import WebContext
from floorgate.web.contract import integer_bounds, invalid_request, with_shared_schemas
from floorgate.web.guards import API_MAX_BODY_BYTES, ApiGuard
from floorgate.web.ports import StoreUnavailable
from floorgate.web.routes import (
    api_docs,
    batches,
    counts,
    floor,
    health,
    master_data,
    orders,
    pages,
    putaways,
    session,
    stations,
    stream,
    webhooks,
)
from floorgate.web.routes.session import token_redirect

STATIC = Path(__file__).parent / "static"
# What a client is told to wait before trying again while the store cannot write.
STORE_RETRY_AFTER_S = 10


async def store_failing(_request: Request, err: Exception) -> JSONResponse:
    """503 naming the store and the cause ("the store at ... is full"); never a statement or a secret."""
    cause = err.cause if isinstance(err, StoreUnavailable) else "other"
    return JSONResponse(
        {"detail": str(err), "cause": cause},
        status_code=503,
        headers={"Retry-After": str(STORE_RETRY_AFTER_S)},
    )


def create_app(context: WebContext, *, max_body_bytes: int = API_MAX_BODY_BYTES) -> FastAPI:
    app = FastAPI(
        title="FloorGate",
        summary="Real-time edge gateway for warehouse floors",
        version="0.1.0",
        openapi_url="/openapi.json",
        # /docs and /redoc are served from the edge's own files (web/routes/api_docs.py), not FastAPI's CDN.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.context = context
    # Token and body size are checked before the app reads a body (see guards).
    app.add_middleware(ApiGuard, max_body_bytes=max_body_bytes)
    # Added last, so it is outermost: the guard's refusals are logged too.
    app.add_middleware(AccessLog)
    openapi = app.openapi
    app.openapi = lambda: integer_bounds(with_shared_schemas(openapi()))  # type: ignore[method-assign]
    app.add_exception_handler(StoreUnavailable, store_failing)
    app.add_exception_handler(RequestValidationError, invalid_request)
    for router in (master_data.router, orders.router, floor.router, stream.router, webhooks.router):
        app.include_router(router, prefix="/api/v1")
    app.include_router(stations.router, prefix="/api/v1")
    app.include_router(batches.router, prefix="/api/v1")
    app.include_router(putaways.router, prefix="/api/v1")
    app.include_router(counts.router, prefix="/api/v1")
    app.include_router(health.router)
    app.include_router(pages.router)  # /dashboard, /stations/{id}, /zones/{id}
    app.include_router(session.router)  # /session: the dashboard's token into its cookie
    app.include_router(api_docs.router)  # /docs, /redoc
    app.include_router(health.router, prefix="/api/v1")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def root(request: Request) -> Response:
        return token_redirect(request, to="/dashboard") or RedirectResponse("/dashboard")

    return app
