"""GET /health/ai-worker through the real app: 200 while the newest heartbeat is at most two cycles
old, 503 with a reason when it is older or when no worker has reported; public, figures only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sparky.store.ai import AiWorkerHeartbeat
from tests.conftest import make_settings, running
from tests.stepped_time import EPOCH

WORKER_FIELDS = {"worker_id", "last_cycle_at", "age_sec", "cycle_duration_ms", "strategies", "decisions", "errors"}


async def test_no_heartbeat_yet_is_a_503_saying_no_worker_has_reported(data_dir: Path) -> None:
    async with running(make_settings(data_dir, ai_cycle_sec=30), clock=lambda: EPOCH) as sparky:
        response = await sparky.client.get("/health/ai-worker")

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["workers"], body["cycle_sec"]) == ("missing", [], 30)
    assert body["reason"].startswith("no AI worker has reported")


async def test_a_fresh_heartbeat_is_200_and_one_older_than_two_cycles_is_503_with_the_same_figures(
        data_dir: Path) -> None:
    now = [EPOCH]
    async with running(make_settings(data_dir, ai_cycle_sec=30), clock=lambda: now[0]) as sparky:
        ended = EPOCH - timedelta(seconds=12)
        await sparky.services.store.record_ai_worker_heartbeat(AiWorkerHeartbeat(
            "worker-a", last_cycle_at=ended, cycle_duration_ms=4210, strategies=7, decisions=6, errors=1))
        await sparky.services.store.record_ai_worker_heartbeat(AiWorkerHeartbeat(
            "worker-old", last_cycle_at=EPOCH - timedelta(hours=3), cycle_duration_ms=900, strategies=1,
            decisions=1, errors=0))
        fresh = await sparky.client.get("/health/ai-worker")
        now[0] = EPOCH + timedelta(seconds=48)  # 60 s since the cycle ended: exactly two cycles
        edge = await sparky.client.get("/health/ai-worker")
        now[0] = EPOCH + timedelta(seconds=48.5)
        late = await sparky.client.get("/health/ai-worker")

    assert fresh.status_code == 200, fresh.text
    body = fresh.json()
    assert (body["status"], body["last_cycle_at"], body["age_sec"], body["max_age_sec"]) == (
        "ok", "2026-01-05T08:59:48+00:00", 12.0, 60)
    assert "reason" not in body
    assert [set(w) for w in body["workers"]] == [WORKER_FIELDS, WORKER_FIELDS]  # figures only, no user data
    assert body["workers"][0] == {"worker_id": "worker-a", "last_cycle_at": "2026-01-05T08:59:48+00:00",
                                  "age_sec": 12.0, "cycle_duration_ms": 4210, "strategies": 7, "decisions": 6,
                                  "errors": 1}
    assert (body["workers"][1]["worker_id"], body["workers"][1]["age_sec"]) == ("worker-old", 10_800.0)
    assert edge.status_code == 200 and edge.json()["age_sec"] == 60.0
    assert late.status_code == 503
    stale = late.json()
    assert (stale["status"], stale["age_sec"], stale["workers"][0]["strategies"]) == ("late", 60.5, 7)
    assert "60.5 s ago" in stale["reason"] and "stuck or stopped" in stale["reason"]


async def test_the_ai_worker_health_is_public_and_the_same_with_the_admin_token(data_dir: Path) -> None:
    async with running(make_settings(data_dir), clock=lambda: EPOCH) as sparky:
        await sparky.services.store.record_ai_worker_heartbeat(AiWorkerHeartbeat(
            "worker-a", last_cycle_at=EPOCH, cycle_duration_ms=10, strategies=0, decisions=0, errors=0))
        public = await sparky.client.get("/health/ai-worker")
        admin = await sparky.admin_get("/health/ai-worker")

    assert public.status_code == admin.status_code == 200
    assert public.json() == admin.json()
    assert public.json()["cycle_sec"] == 45  # AI_CYCLE_SEC's default


async def test_a_store_that_does_not_answer_is_a_503_saying_the_state_is_unknown(data_dir: Path) -> None:
    async with running(make_settings(data_dir), clock=lambda: EPOCH) as sparky:
        await sparky.services.store.aclose()
        response = await sparky.client.get("/health/ai-worker")
        await sparky.services.store.open()  # for the app's own shutdown

    assert response.status_code == 503
    assert (response.json()["status"], response.json()["reason"]) == (
        "unavailable", "the store did not answer: the AI worker's state is unknown")
