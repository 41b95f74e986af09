"""GET /health: public liveness; balances and positions only with the admin token.

`/health` answers 200 while the process and its store work, with each venue's state in the body
(a venue not answering is `"status": "degraded"`, not an outage: the dashboard shows 503 as "bot
offline"). `/health/ready` is the strict check for load balancers: 503 unless the store and every
configured venue answer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sparky import __version__
from sparky.api.deps import ServicesDep, is_admin
from sparky.exchanges.base import Exchange
from sparky.execution.outcome import cents, jsonable, position_view
from sparky.services import Services
from sparky.store.base import utcnow

router = APIRouter(tags=["operator"])


def _format_uptime(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h {minutes}m {secs}s"


async def _reachable(check: Any) -> bool:
    try:
        return bool(await asyncio.wait_for(check, timeout=2))
    except Exception:
        return False


async def _balance(exchange: Exchange) -> dict[str, Any] | None:
    try:
        balance = await exchange.balance()
    except Exception:
        return None
    return jsonable({"currency": balance.currency, "total": cents(balance.total),
                     "available": cents(balance.available)})


@router.get("/health", summary="Server health: 200 while the process and its store work")
async def health(request: Request, services: ServicesDep) -> JSONResponse:
    store_ok, body = await _report(request, services)
    return JSONResponse(body, status_code=200 if store_ok else 503)


@router.get("/health/ready", summary="Readiness: 503 unless the store and every venue answer")
async def ready(request: Request, services: ServicesDep) -> JSONResponse:
    store_ok, body = await _report(request, services)
    return JSONResponse(body, status_code=200 if store_ok and body["status"] == "ok" else 503)


async def _report(request: Request, services: Services) -> tuple[bool, dict[str, Any]]:
    """Whether the store answers, and the health body (each venue's state in it)."""
    uptime = time.monotonic() - services.started_at
    store_ok = await _reachable(services.store.ping())
    cache_ok = await _reachable(services.cache.ping())
    exchanges = await services.exchanges.reachable()
    healthy = store_ok and all(exchanges.values())
    body: dict[str, Any] = {
        "status": "ok" if healthy else "degraded",
        "version": __version__,
        "uptime": round(uptime, 1),
        "uptimeFormatted": _format_uptime(uptime),
        "apiStatus": "connected" if all(exchanges.values()) else "disconnected",
        "store": {"ok": store_ok},
        # a Redis outage degrades to the in-process cache: reported, but the server keeps trading
        "cache": {"ok": cache_ok, "backend": "redis" if services.settings.redis_url else "in-process"},
        "exchanges": {name: {"ok": ok} for name, ok in exchanges.items()},
        "inFlight": services.dispatcher.in_flight,
        "timestamp": utcnow().isoformat(),
    }
    if is_admin(request, services):  # the loops' errors are the operator's to read, like balances
        body["background"] = services.background.report()
    if store_ok and is_admin(request, services):  # positions come from the store
        positions = await services.store.list_positions()
        body["balance"] = {ex.name: await _balance(ex) for ex in services.exchanges}
        body["openPositions"] = len(positions)
        body["positions"] = [position_view(p) for p in positions]
    return store_ok, body
