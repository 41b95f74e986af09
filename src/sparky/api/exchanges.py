"""GET /exchanges: the venues this server trades on, with what each can do."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sparky.api.deps import ServicesDep
from sparky.exchanges.factory import NATIVE

router = APIRouter(tags=["operator"])


@router.get("/exchanges", summary="Configured exchanges and their capabilities")
async def list_exchanges(services: ServicesDep) -> JSONResponse:
    return JSONResponse({
        "exchanges": [{"name": ex.name, "capabilities": asdict(ex.capabilities)} for ex in services.exchanges],
        "supported": {"native": ["paper", *sorted(NATIVE)], "ccxt": "any CCXT exchange id (e.g. binanceusdm, bybit, okx)"},
    })
