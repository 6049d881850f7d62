"""The FastAPI application factory: routes, error shapes and the dashboard's static files."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from web.context import WebContext
from web.routes import floor, health, master_data, orders, pages, stations, stream, webhooks

STATIC = Path(__file__).parent / "static"


def create_app(context: WebContext) -> FastAPI:
    app = FastAPI(
        title="FloorGate",
        summary="Real-time edge gateway for warehouse floors",
        version="0.1.0",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.context = context
    for router in (master_data.router, orders.router, floor.router, stream.router, webhooks.router):
        app.include_router(router, prefix="/api/v1")
    app.include_router(stations.router, prefix="/api/v1")
    app.include_router(health.router)
    app.include_router(pages.router)  # /dashboard, /stations/{id}, /zones/{id}
    app.include_router(health.router, prefix="/api/v1")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    return app
