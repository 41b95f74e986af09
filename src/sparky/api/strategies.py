"""POST /strategies/reload (admin): forget cached strategies, settings, plans and credentials.

Also served as POST /api/strategies/reload, the path the dashboard calls."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sparky.api.deps import AdminDep, ServicesDep

router = APIRouter(tags=["operator"])


@router.post("/strategies/reload", summary="Clear strategy, settings and credential caches (admin)")
@router.post("/api/strategies/reload", summary="The same, at the path the dashboard calls (admin)")
async def reload_strategies(services: ServicesDep, _: AdminDep) -> JSONResponse:
    secrets = await services.reload_caches()
    return JSONResponse({"success": True, "message": "Caches cleared", "webhookSecrets": secrets})
