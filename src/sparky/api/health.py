"""GET /health: public liveness; balances and positions only with the admin token."""

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


@router.get("/health", summary="Server health")
async def health(request: Request, services: ServicesDep) -> JSONResponse:
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
    if is_admin(request, services):
        positions = await services.store.list_positions()
        body["balance"] = {ex.name: await _balance(ex) for ex in services.exchanges}
        body["openPositions"] = len(positions)
        body["positions"] = [position_view(p) for p in positions]
    return JSONResponse(body, status_code=200 if healthy else 503)
