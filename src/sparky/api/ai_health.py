"""GET /health/ai-worker: is an AI worker running its cycles? Public, like /health.

It answers from the heartbeats the workers write after every cycle (`ai_worker_heartbeats`): 200
while the newest is at most 2 × AI_CYCLE_SEC old, 503 with the same body and a `reason` when it is
older (the worker is stuck or stopped) or when no worker has reported. The body holds each
worker's figures only (its id, when its last cycle ended, how long it took, how many strategies,
decisions and errors), never a user's or a strategy's data.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sparky.api.deps import ServicesDep
from sparky.store.ai import AiStore, AiWorkerHeartbeat

router = APIRouter(tags=["operator"])

#: the newest heartbeat may be this many cycles old before the worker is reported down
LATE_AFTER_CYCLES = 2


@router.get("/health/ai-worker", summary="AI worker health: 503 when its last cycle is older than 2 cycles")
async def ai_worker_health(services: ServicesDep) -> JSONResponse:
    now = services.clock()
    cycle_sec = services.settings.ai_cycle_sec
    max_age = LATE_AFTER_CYCLES * cycle_sec
    body: dict[str, Any] = {"status": "ok", "cycle_sec": cycle_sec, "max_age_sec": max_age,
                            "timestamp": now.isoformat()}
    store = services.store
    try:
        heartbeats = await store.ai_worker_heartbeats() if isinstance(store, AiStore) else []
    except Exception:  # the store's outage is /health's to report; here the worker's state is unknown
        return _down(body, "unavailable", "the store did not answer: the AI worker's state is unknown")
    workers = [_view(heartbeat, now) for heartbeat in heartbeats]
    body["workers"] = workers
    if not workers:
        return _down(body, "missing", "no AI worker has reported (is `sparky ai-worker` running?)")
    newest = workers[0]
    body.update(last_cycle_at=newest["last_cycle_at"], age_sec=newest["age_sec"])
    if (now - heartbeats[0].last_cycle_at).total_seconds() > max_age:  # unrounded
        return _down(body, "late", f"the last AI worker cycle ended {newest['age_sec']:g} s ago, more than "
                                   f"{max_age:g} s (2 × AI_CYCLE_SEC): the worker is stuck or stopped")
    return JSONResponse(body, status_code=200)


def _view(heartbeat: AiWorkerHeartbeat, now: Any) -> dict[str, Any]:
    return {
        "worker_id": heartbeat.worker_id,
        "last_cycle_at": heartbeat.last_cycle_at.isoformat(),
        "age_sec": round((now - heartbeat.last_cycle_at).total_seconds(), 1),
        "cycle_duration_ms": heartbeat.cycle_duration_ms,
        "strategies": heartbeat.strategies,
        "decisions": heartbeat.decisions,
        "errors": heartbeat.errors,
    }


def _down(body: dict[str, Any], status: str, reason: str) -> JSONResponse:
    return JSONResponse({**body, "status": status, "reason": reason}, status_code=503)
