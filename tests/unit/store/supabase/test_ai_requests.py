"""SupabaseStore's AI tables, exactly as PostgREST receives them (the behaviour is the shared
contract's, tests/ai_contract.py, run in test_store.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
import respx

pytest.importorskip("supabase", reason="supabase-py is not installed (pip install supabase)")

from sparky.store.ai import AiDecisionRecord, AiStrategyRecord, AiWorkerHeartbeat  # noqa: E402
from sparky.store.supabase import ai as ai_queries  # noqa: E402
from sparky.store.supabase.store import SupabaseStore  # noqa: E402
from tests.unit.store.supabase.test_store import KEY, REST, URL, A, assert_keyed, body, error, query, rows  # noqa: E402


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """PostgREST, mocked; after the test: no request went out without the service role key."""
    with respx.mock(base_url=REST, assert_all_called=False) as router:
        yield router
    for call in router.calls:
        assert_keyed(call.request)


@pytest.fixture
async def store(api: respx.MockRouter) -> AsyncIterator[SupabaseStore]:
    store = SupabaseStore(URL, KEY)
    await store.open()
    yield store
    await store.aclose()


STRATEGY_ID = "3f0c2b9e-6a53-4c1e-9d8e-2a7b5c4d1e0f"
STRATEGY_ROW = {
    "id": STRATEGY_ID, "user_id": A, "name": "Momentum", "status": "running", "risk_profile": "aggressive",
    "target_assets": ["BTCUSDT", "ETHUSDT"], "max_drawdown_percent": "12.5", "target_sharpe": "1.6",
    "leverage_max": 3, "performance_fee_percent": "20", "is_prop_allocation": False, "is_paper_trading": True,
    "copy_override_percent": "15", "is_public_leader": False, "verified_badge": False, "copiers_count": 0,
    "exchange": "aster", "min_position_size_usd": "25", "max_position_size_usd": "0.000000000000000001",
    "created_at": "2026-05-15T14:00:00.123456+02:00", "updated_at": "2026-05-15T12:00:00.123456+00:00",
}  # fmt: skip


async def test_running_strategies_one_filtered_ordered_read(store: SupabaseStore, api: respx.MockRouter) -> None:
    route = api.get("/ai_strategies").mock(return_value=rows([STRATEGY_ROW], total=1))
    [strategy] = await store.running_ai_strategies()
    request = route.calls.last.request
    assert query(request) == [
        ("select", ai_queries.SELECT_AI_STRATEGY), ("status", "in.(running)"),
        ("order", "created_at.asc.nullsfirst,id.asc"), ("offset", "0"), ("limit", "1000"),
    ]  # fmt: skip
    assert "max_position_size_usd::text" in ai_queries.SELECT_AI_STRATEGY  # exact Decimals, not floats
    assert strategy.max_position_size_usd == Decimal("0.000000000000000001")
    assert strategy.created_at == datetime(2026, 5, 15, 12, 0, 0, 123456, tzinfo=UTC)
    assert (strategy.target_assets, strategy.is_paper_trading, strategy.exchange) == (
        ["BTCUSDT", "ETHUSDT"], True, "aster")


async def test_add_strategy_lets_the_database_make_id_and_times(store: SupabaseStore,
                                                                api: respx.MockRouter) -> None:
    route = api.post("/ai_strategies").mock(return_value=httpx.Response(201, json=[STRATEGY_ROW]))
    record = AiStrategyRecord(user_id=A, name="Momentum", exchange="aster", target_assets=["BTCUSDT"],
                              max_position_size_usd=Decimal("250.75"), is_paper_trading=True)
    await store.add_ai_strategy(record)
    request = route.calls.last.request
    assert request.headers["prefer"] == "return=representation"
    sent = body(request)
    assert not {"id", "created_at", "updated_at"} & set(sent)
    assert (sent["max_position_size_usd"], sent["max_drawdown_percent"], sent["target_assets"]) == (
        "250.75", "20", ["BTCUSDT"])
    assert (sent["status"], sent["is_paper_trading"], sent["exchange"]) == ("paused", True, "aster")


async def test_pause_is_one_patch_of_the_status(store: SupabaseStore, api: respx.MockRouter) -> None:
    route = api.patch("/ai_strategies").mock(return_value=httpx.Response(200, json=[STRATEGY_ROW]))
    await store.set_ai_strategy_status(STRATEGY_ID, "paused")
    request = route.calls.last.request
    assert query(request) == [("id", f"eq.{STRATEGY_ID}"), ("select", ai_queries.SELECT_AI_STRATEGY)]
    assert body(request) == {"status": "paused"}  # updated_at: the table's trigger


async def test_an_id_that_is_no_uuid_sends_nothing(store: SupabaseStore, api: respx.MockRouter) -> None:
    assert await store.get_ai_strategy("not-a-uuid") is None
    assert await store.set_ai_strategy_status("not-a-uuid", "running") is None
    assert api.calls.call_count == 0


async def test_decision_insert_and_its_missing_strategy(store: SupabaseStore, api: respx.MockRouter) -> None:
    route = api.post("/ai_trade_decisions").mock(return_value=error("foreign_key_violation"))
    decision = AiDecisionRecord(user_id=A, strategy_id=str(uuid.uuid4()), market_snapshot={"p": Decimal("1.5")},
                                technical_indicators={}, parsed_decision={"action": "hold"},
                                confidence_final=Decimal("0.5"), outcome_label="positive")
    with pytest.raises(ValueError, match="no AI strategy"):
        await store.record_ai_decision(decision)
    sent = body(route.calls.last.request)
    assert not {"id", "decided_at", "created_at", "outcome_label"} & set(sent)  # the table's
    assert (sent["market_snapshot"], sent["confidence_final"]) == ({"p": "1.5"}, "0.5")


async def test_heartbeat_is_an_upsert_on_the_worker(store: SupabaseStore, api: respx.MockRouter) -> None:
    route = api.post("/ai_worker_heartbeats").mock(return_value=httpx.Response(201))
    at = datetime(2026, 5, 15, 12, 5, tzinfo=UTC)
    await store.record_ai_worker_heartbeat(AiWorkerHeartbeat(worker_id="host-a", last_cycle_at=at,
                                                             cycle_duration_ms=950, strategies=5, decisions=4,
                                                             errors=1))
    request = route.calls.last.request
    assert query(request) == [("on_conflict", "worker_id")]
    assert request.headers["prefer"] == "return=minimal,resolution=merge-duplicates"
    sent = body(request)
    assert {k: sent[k] for k in ("worker_id", "last_cycle_at", "cycle_duration_ms", "strategies", "decisions",
                                 "errors")} == {"worker_id": "host-a", "last_cycle_at": "2026-05-15T12:05:00.000000+00:00",
                                                "cycle_duration_ms": 950, "strategies": 5, "decisions": 4, "errors": 1}
    assert "updated_at" in sent
