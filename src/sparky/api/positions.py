"""GET /positions (the original's summary) and POST /positions/sync (reconcile with exchanges)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sparky.api.deps import AdminDep, ServicesDep
from sparky.execution.outcome import position_view
from sparky.execution.sync import sync_positions

router = APIRouter(tags=["operator"])


@router.get("/positions", summary="Open positions (admin)")
async def list_positions(services: ServicesDep, _: AdminDep) -> JSONResponse:
    positions = await services.store.list_positions()
    views = [position_view(p) for p in positions]
    body: dict[str, Any] = {
        "totalPositions": len(views),
        "longPositions": sum(1 for v in views if v["side"] == "BUY"),
        "shortPositions": sum(1 for v in views if v["side"] == "SELL"),
        "symbols": sorted({v["symbol"] for v in views}),
        "positions": views,
    }
    return JSONResponse(body)


@router.post("/positions/sync", summary="Reconcile stored positions with the exchanges (admin)")
async def sync(services: ServicesDep, _: AdminDep) -> JSONResponse:
    report = await sync_positions(services)
    return JSONResponse({"success": True, **report})
