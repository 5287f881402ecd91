"""The app factory: nothing reads the environment at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from api import errors
from api.limits import RequestLimits, upload_routes
from api.routers import (
    accounts,
    audit,
    auth,
    collections,
    credit,
    entities,
    grids,
    health,
    maps,
    patrols,
    plots,
    reports,
    sampling,
    testing,
    townships,
)
from api.security import SecurityHeaders
from georeg import __version__
from georeg.clock import Clock, system_clock
from georeg.config import Settings
from georeg.database import make_engine
from georeg.keys import pii_cipher
from georeg.sessions import trusted_networks
from maps.pages import tile_origins

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None, clock: Clock = system_clock) -> FastAPI:
    """The app; `clock` (Asia/Shanghai) decides today's date for grids and tokens."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.engine.dispose()

    app = FastAPI(title="georeg 农产品质量安全网格化监管", version=__version__,
                  description="生产主体、农户与地块的空间登记；坐标为 WGS 84（EPSG:4326）。",
                  lifespan=lifespan)
    app.state.settings = settings
    app.state.clock = clock
    app.state.engine = make_engine(settings.api_url(), pool_size=settings.pool_size,
                                   pool_timeout=settings.pool_timeout,
                                   statement_timeout_s=settings.statement_timeout_s)
    app.state.cipher = pii_cipher(settings)
    app.state.trusted_proxies = trusted_networks(settings.trusted_proxies)
    errors.register(app)
    app.add_middleware(RequestLimits)  # bodies bounded while read, file limits per request
    routers = (health.router, auth.router, accounts.router, townships.router,
               entities.producers, entities.smallholders, plots.router, collections.router,
               reports.router, grids.router, patrols.router, credit.router, sampling.router,
               testing.router, testing.reports, audit.router)
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)
    app.state.upload_routes = upload_routes(routers, API_PREFIX)  # their own body limits
    maps.install(app, settings, API_PREFIX)  # /maps/ pages, their layers, tiles and assets
    # CSP (nonces for the pages' inline scripts), frame denial, nosniff, HSTS on HTTPS; around
    # the whole stack, so that the 500s of Starlette's outermost error middleware get them too
    build_stack, origins = app.build_middleware_stack, tile_origins(settings)
    app.build_middleware_stack = lambda: SecurityHeaders(build_stack(), origins)  # type: ignore[method-assign]

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/docs")

    return app
