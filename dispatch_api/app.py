"""The FastAPI application factory: settings -> database -> routers -> workers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

import crm.routes
import fieldwork.routes
import orders.routes
import stock.routes
import tickets.routes
from core.db import Database
from core.errors import install_error_handlers
from core.events import EventBus
from core.inflight import InFlightLimit, pool_capacity
from core.settings import DEV_SECRET_KEY, Settings, get_settings
from dispatch_api import board, stream
from fieldwork.fastlane import EventFastLane
from workforce import routes as workforce_routes
from workforce.runs import make_runner

log = logging.getLogger(__name__)


class FieldplanAPI(FastAPI):
    """The application, with the status-event lane (``fieldwork.fastlane``) in front of
    everything FastAPI does per request (telemetry checks, middleware, routing) when the
    database is PostgreSQL. The lane hands every other request to FastAPI unchanged."""

    fast_lane: EventFastLane | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fast_lane is not None:  # it passes on whatever is not its request
            await self.fast_lane(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; tests pass their own settings (database URL, secret...)."""
    settings = settings or get_settings()
    if settings.secret_key == DEV_SECRET_KEY:
        log.warning("FWS_SECRET_KEY is the development default: set it outside a demo")
    database = Database(settings.database_url)
    bus = EventBus()
    bus.attach(database)
    runner = make_runner(settings, database)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        bus.start()
        runner.start()
        try:
            yield
        finally:
            runner.stop()
            bus.stop()
            if database.is_postgres:
                await bus.flush()
                await database.dispose_async()
            database.dispose()

    app = FieldplanAPI(
        title="Fieldplan dispatch API",
        version="1.0",
        description="Field workforce scheduling: technicians, jobs, optimised routes. "
        "Contract: docs/api.md.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.events = bus
    app.state.runner = runner
    install_error_handlers(app)
    # Queue API requests beyond the connection pool instead of deadlocking on it.
    if (limit := pool_capacity(database.engine)) is not None:
        app.add_middleware(InFlightLimit, limit=limit, exclude=("/api/v1/events/stream",))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["ETag", "X-Total-Count", "Idempotent-Replay"],
        )
    if database.is_postgres:  # the busiest write skips the whole stack
        app.fast_lane = EventFastLane(partial(FastAPI.__call__, app), state=app.state)

    @app.get("/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(fieldwork.routes.events_router, prefix="/api/v1")  # hot path first
    app.include_router(workforce_routes.router, prefix="/api/v1")
    app.include_router(stock.routes.router, prefix="/api/v1")
    app.include_router(fieldwork.routes.router, prefix="/api/v1")
    app.include_router(crm.routes.router, prefix="/api/v1")
    app.include_router(tickets.routes.router, prefix="/api/v1")
    app.include_router(orders.routes.router, prefix="/api/v1")
    app.include_router(stream.router, prefix="/api/v1")
    app.include_router(board.router)
    return app
