"""GET /positions (the original's summary) and POST /positions/sync (reconcile with exchanges)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sparky.api.deps import AdminDep, ServicesDep
from sparky.errors import BadRequest
from sparky.execution.outcome import position_view
from sparky.execution.sync import sync_positions

router = APIRouter(tags=["operator"])


def _user_filter(user_id: str | None) -> str | None:
    """`?user_id=` as stored (a canonical lower-case UUID); a bad one is refused naming the field."""
    if user_id is None:
        return None
    try:
        return str(uuid.UUID(user_id.strip()))
    except ValueError:
        raise BadRequest(f"Invalid query parameter 'user_id': {user_id[:64]!r} is not a user id (a UUID)",
                         field="user_id") from None


@router.get("/positions", summary="Open positions, of every user or of one (?user_id=) (admin)")
async def list_positions(services: ServicesDep, _: AdminDep, user_id: str | None = None) -> JSONResponse:
    positions = await services.store.list_positions(user_id=_user_filter(user_id))
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
