"""The `AiStore` contract: AI strategies, decisions, the trade log and the worker's heartbeat.

`StoreContract` inherits it, so it runs against every adapter's `store` fixture (SQLite on a real
file, Supabase through supabase-py against the in-memory PostgREST). User ids are UUIDs, as in
auth.users.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from sparky.store.ai import AiDecisionRecord, AiStrategyRecord, AiTradeLogRecord, AiWorkerHeartbeat

ALICE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
BOB = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
CYCLE = datetime(2026, 5, 15, 12, 0, 0, 250000, tzinfo=UTC)


def ai_strategy(user_id: str = ALICE, **overrides: Any) -> AiStrategyRecord:
    values: dict[str, Any] = {
        "name": "Momentum", "exchange": "aster", "target_assets": ["BTCUSDT", "ETHUSDT"],
        "risk_profile": "aggressive", "max_drawdown_percent": Decimal("12.5"), "leverage_max": 3,
        "min_position_size_usd": Decimal("25"), "max_position_size_usd": Decimal("250.75"),
    }  # fmt: skip
    values.update(overrides)
    return AiStrategyRecord(user_id=user_id, **values)


def decision(strategy: AiStrategyRecord, **overrides: Any) -> AiDecisionRecord:
    values: dict[str, Any] = {
        "market_snapshot": {"BTCUSDT": {"price": "64000.5"}},
        "technical_indicators": {"BTCUSDT": {"rsi_14": "61.2"}},
        "parsed_decision": {"action": "buy", "symbol": "BTCUSDT", "size_usd": "100"},
        "confidence_final": Decimal("0.72"),
        "model_versions": ["llama-3.1-70b", "gpt-4o-mini"],
        "signal_sent": True,
    }
    values.update(overrides)
    assert strategy.id is not None
    return AiDecisionRecord(user_id=strategy.user_id, strategy_id=strategy.id, **values)


class AiStoreContract:
    """Tests every `AiStore` adapter inherits (through `StoreContract`)."""

    async def test_ai_strategy_round_trip(self, store: Any) -> None:
        added = await store.add_ai_strategy(ai_strategy(is_paper_trading=True))
        assert added.id and added.created_at and added.updated_at
        loaded = await store.get_ai_strategy(added.id)
        assert loaded == added
        assert (loaded.user_id, loaded.name, loaded.exchange, loaded.target_assets, loaded.risk_profile) == (
            ALICE, "Momentum", "aster", ["BTCUSDT", "ETHUSDT"], "aggressive")
        assert (loaded.max_drawdown_percent, loaded.leverage_max) == (Decimal("12.5"), 3)
        assert (loaded.min_position_size_usd, loaded.max_position_size_usd) == (Decimal("25"), Decimal("250.75"))
        assert loaded.is_paper_trading is True
        assert loaded.status == "paused"  # the table's default: nothing trades until resumed
        assert loaded.created_at.tzinfo is not None and loaded.created_at.utcoffset() == timedelta(0)

    async def test_ai_strategy_defaults_are_the_tables(self, store: Any) -> None:
        added = await store.add_ai_strategy(AiStrategyRecord(user_id=ALICE))
        assert (added.name, added.status, added.risk_profile, added.target_assets) == (
            "My AI Strategy", "paused", "balanced", ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
        assert (added.max_drawdown_percent, added.leverage_max, added.is_paper_trading) == (Decimal(20), 10, False)
        assert (added.exchange, added.min_position_size_usd, added.max_position_size_usd) == (None, None, None)

    async def test_unknown_ai_strategy_is_none(self, store: Any) -> None:
        assert await store.get_ai_strategy(str(uuid.uuid4())) is None
        assert await store.set_ai_strategy_status(str(uuid.uuid4()), "running") is None

    @pytest.mark.parametrize("bad", [
        {"status": "active"}, {"risk_profile": "moderate"}, {"target_assets": ["BTCUSDT", ""]},
        {"min_position_size_usd": Decimal(500), "max_position_size_usd": Decimal(100)},
        {"exchange": "paper", "is_paper_trading": False},
    ])  # fmt: skip
    async def test_a_refused_ai_strategy_stores_nothing(self, store: Any, bad: dict[str, Any]) -> None:
        with pytest.raises(ValueError):
            await store.add_ai_strategy(ai_strategy(**bad))
        assert await store.list_ai_strategies() == []

    async def test_running_ai_strategies_are_every_users_running_ones_oldest_first(self, store: Any) -> None:
        first = await store.add_ai_strategy(ai_strategy(ALICE, name="first", status="running"))
        await store.add_ai_strategy(ai_strategy(ALICE, name="paused"))
        second = await store.add_ai_strategy(ai_strategy(BOB, name="second", status="running"))
        await store.add_ai_strategy(ai_strategy(BOB, name="ended", status="terminated"))
        assert [s.id for s in await store.running_ai_strategies()] == [first.id, second.id]

    async def test_list_ai_strategies_filters_by_user_and_status(self, store: Any) -> None:
        a1 = await store.add_ai_strategy(ai_strategy(ALICE, name="a1"))
        a2 = await store.add_ai_strategy(ai_strategy(ALICE, name="a2", status="backtesting"))
        b1 = await store.add_ai_strategy(ai_strategy(BOB, name="b1"))
        assert [s.id for s in await store.list_ai_strategies()] == [a1.id, a2.id, b1.id]
        assert [s.id for s in await store.list_ai_strategies(user_id=ALICE)] == [a1.id, a2.id]
        assert [s.id for s in await store.list_ai_strategies(user_id=BOB, statuses=["paused"])] == [b1.id]
        assert await store.list_ai_strategies(statuses=[]) == []

    async def test_pause_and_resume(self, store: Any) -> None:
        added = await store.add_ai_strategy(ai_strategy())
        resumed = await store.set_ai_strategy_status(added.id, "running")
        assert resumed.status == "running" and resumed.updated_at >= added.updated_at
        assert [s.id for s in await store.running_ai_strategies()] == [added.id]
        paused = await store.set_ai_strategy_status(added.id, "paused")
        assert paused.status == "paused"
        assert await store.running_ai_strategies() == []
        assert (await store.get_ai_strategy(added.id)).status == "paused"

    async def test_set_status_refuses_an_unknown_status(self, store: Any) -> None:
        added = await store.add_ai_strategy(ai_strategy())
        with pytest.raises(ValueError):
            await store.set_ai_strategy_status(added.id, "active")
        assert (await store.get_ai_strategy(added.id)).status == "paused"

    async def test_decision_round_trip(self, store: Any) -> None:
        strategy = await store.add_ai_strategy(ai_strategy())
        recorded = await store.record_ai_decision(decision(strategy, pnl_1h=Decimal("-1.25")))
        assert recorded.id and recorded.decided_at and recorded.created_at
        assert recorded.strategy_id == strategy.id and recorded.user_id == ALICE
        assert recorded.parsed_decision == {"action": "buy", "symbol": "BTCUSDT", "size_usd": "100"}
        assert recorded.confidence_final == Decimal("0.72")
        assert recorded.model_versions == ["llama-3.1-70b", "gpt-4o-mini"]
        assert recorded.portfolio_state == {} and recorded.signal_sent is True
        assert recorded.outcome_label == "negative"  # computed from pnl_1h by the table

    async def test_decision_keeps_its_id_and_the_webhooks_answer(self, store: Any) -> None:
        strategy = await store.add_ai_strategy(ai_strategy())
        decision_id = str(uuid.uuid4())  # the signal's alert_id
        answer = {"success": True, "action": "opened", "request_id": "req-1"}
        recorded = await store.record_ai_decision(decision(strategy, id=decision_id, webhook_status=200,
                                                           webhook_response=answer))
        assert (recorded.id, recorded.webhook_status, recorded.webhook_response) == (decision_id, 200, answer)
        held = await store.record_ai_decision(decision(strategy, signal_sent=False))
        assert (held.webhook_status, held.webhook_response) == (None, None)

    async def test_decision_keeps_its_decided_at(self, store: Any) -> None:
        strategy = await store.add_ai_strategy(ai_strategy())
        recorded = await store.record_ai_decision(decision(strategy, decided_at=CYCLE))
        assert recorded.decided_at == CYCLE

    async def test_decision_for_no_strategy_is_refused(self, store: Any) -> None:
        ghost = ai_strategy(id=str(uuid.uuid4()))
        with pytest.raises(ValueError):
            await store.record_ai_decision(decision(ghost))

    async def test_decision_confidence_is_between_0_and_1(self, store: Any) -> None:
        strategy = await store.add_ai_strategy(ai_strategy())
        with pytest.raises(ValueError):
            await store.record_ai_decision(decision(strategy, confidence_final=Decimal("1.5")))

    async def test_trade_log_round_trip(self, store: Any) -> None:
        strategy = await store.add_ai_strategy(ai_strategy())
        entry = AiTradeLogRecord(
            user_id=ALICE, ai_strategy_id=strategy.id, signal_action="buy", symbol="BTCUSDT",
            decision_json={"action": "buy", "size_usd": Decimal("100")}, confidence_score=Decimal("0.6"),
            size_usd=Decimal("100.5"), reasoning="breakout above the 20-day high",
        )  # fmt: skip
        recorded = await store.record_ai_trade_log(entry)
        assert recorded.id and recorded.created_at
        assert recorded.decision_json == {"action": "buy", "size_usd": "100"}
        assert (recorded.confidence_score, recorded.size_usd, recorded.actual_pnl) == (
            Decimal("0.6"), Decimal("100.5"), None)
        assert (recorded.signal_action, recorded.symbol, recorded.reasoning) == (
            "buy", "BTCUSDT", "breakout above the 20-day high")

    async def test_trade_log_for_no_strategy_is_refused(self, store: Any) -> None:
        entry = AiTradeLogRecord(user_id=ALICE, ai_strategy_id=str(uuid.uuid4()), signal_action="buy",
                                 symbol="BTCUSDT", decision_json={})
        with pytest.raises(ValueError):
            await store.record_ai_trade_log(entry)

    async def test_heartbeat_is_one_row_per_worker_replaced_each_cycle(self, store: Any) -> None:
        assert await store.ai_worker_heartbeats() == []
        beat = AiWorkerHeartbeat(worker_id="host-a", last_cycle_at=CYCLE, cycle_duration_ms=1830,
                                 strategies=4, decisions=3, errors=1)
        await store.record_ai_worker_heartbeat(beat)
        later = AiWorkerHeartbeat(worker_id="host-a", last_cycle_at=CYCLE + timedelta(minutes=5),
                                  cycle_duration_ms=950, strategies=5, decisions=5, errors=0)
        other = AiWorkerHeartbeat(worker_id="host-b", last_cycle_at=CYCLE + timedelta(minutes=1),
                                  cycle_duration_ms=10, strategies=0, decisions=0, errors=0)
        await store.record_ai_worker_heartbeat(other)
        await store.record_ai_worker_heartbeat(later)
        assert await store.ai_worker_heartbeats() == [later, other]

    async def test_heartbeat_counts_are_never_negative(self, store: Any) -> None:
        with pytest.raises(ValueError):
            await store.record_ai_worker_heartbeat(
                AiWorkerHeartbeat(worker_id="w", last_cycle_at=CYCLE, cycle_duration_ms=1, strategies=0,
                                  decisions=-1, errors=0))
        assert await store.ai_worker_heartbeats() == []
