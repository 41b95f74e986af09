"""The FastAPI app factory. The lifespan builds every shared client and closes it at shutdown."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from sparky import __version__
from sparky.api import ai_health, exchanges, health, metrics, positions, strategies, webhook
from sparky.config import Settings
from sparky.errors import SparkyError
from sparky.execution.renames import rename_positions_to_venue_spelling
from sparky.logging import configure_logging
from sparky.observability.access_log import AccessLog
from sparky.services import build_services
from sparky.signals.source_ips import SourceAllowlist
from sparky.store.base import utcnow

log = structlog.get_logger("sparky.app")

#: how long shutdown waits for in-flight executions before closing clients
DRAIN_SECONDS = 20.0


def create_app(settings: Settings | None = None, *, clock: Callable[[], datetime] = utcnow,
               monotonic: Callable[[], float] = time.monotonic) -> FastAPI:
    """`clock`: the time leases and recovery go by; `monotonic`: the clock cached store reads
    expire by (tests move them)."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.effective_log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(settings, clock=clock, monotonic=monotonic)
        app.state.services = services
        await rename_positions_to_venue_spelling(services.store, services.accounts)  # before any signal runs
        recovered = await services.dispatcher.recover()
        if recovered:
            log.warning("startup.recovered", requests=[{"id": i, "status": s.value} for i, s in recovered])
        services.background.start()  # after recovery: no loop runs beside start-up work
        log.info("startup.ready", version=__version__, exchanges=services.exchanges.names(),
                 data_dir=str(settings.sparky_data_dir))
        try:
            yield
        finally:
            still_running = await services.dispatcher.drain(DRAIN_SECONDS)
            if still_running:
                log.error("shutdown.in_flight_left_pending", count=still_running)
            await services.aclose()
            log.info("shutdown.complete")

    app = FastAPI(title="Sparky", version=__version__, lifespan=lifespan)
    # rate limits live in the pipeline (per user once authenticated, per address for failures)
    app.include_router(webhook.build_router(SourceAllowlist.parse(settings.allowed_ips)))
    app.include_router(health.router)
    app.include_router(ai_health.router)
    app.include_router(positions.router)
    app.include_router(exchanges.router)
    app.include_router(strategies.router)
    app.include_router(metrics.router)
    _install_error_handlers(app)
    if settings.access_log:
        app.add_middleware(AccessLog)  # method, path (no query), status, duration, client
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SparkyError)
    async def sparky_error(request: Request, exc: SparkyError) -> JSONResponse:
        if exc.status_code >= 500:
            log.error("request.failed", path=request.url.path, error=exc.message)
        return JSONResponse(exc.body(), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # only reachable before a webhook is recorded (executions catch their own errors)
        log.exception("request.crashed", path=request.url.path)
        text = "Internal error; nothing was executed"
        return JSONResponse({"success": False, "action": "failed", "error": text, "message": text},
                            status_code=500)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ()))
        text = f"Invalid request: {field}: {first.get('msg')}"
        return JSONResponse({"success": False, "action": "rejected", "error": text, "message": text},
                            status_code=400)
