"""migrations/0025 on a real PostgreSQL: the AI strategy a position was opened for stays on it and
on its trade through the RPCs the Supabase store calls (live and paper, whole and partial closes),
and the ML validation log takes the rows the store writes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.postgres.conftest import acting_as
from tests.postgres.test_record_webhook_request import trade_row

AI = "0b7f8a4e-5b7d-4c1e-9a0e-3f1d2c4b5a60"


@pytest.fixture
def user(new_user: Callable[[], uuid.UUID]) -> uuid.UUID:
    return new_user()


def rpc(db: Any, name: str, *args: dict[str, Any]) -> None:
    with acting_as(db, "service_role"):
        placeholders = ", ".join("%s::jsonb" for _ in args)
        db.execute(f"select public.{name}({placeholders})", tuple(json.dumps(a) for a in args))


def rest_of(user: uuid.UUID, exchange: str) -> dict[str, Any]:
    return {"user_id": str(user), "exchange": exchange, "symbol": "BTCUSDT", "side": "BUY", "entry_price": "27000",
            "entry_time": "2026-01-05T10:00:00+00:00", "quantity": "0.0006", "position_size_usd": "16.2",
            "ai_strategy_id": AI}


@pytest.mark.parametrize(("exchange", "close", "partial", "trades", "positions"), [
    ("aster", "record_close", "record_partial_close", "trades", "positions"),
    ("paper", "record_paper_close", "record_paper_partial_close", "paper_trades", "paper_positions"),
])
def test_the_ai_strategy_stays_on_the_trade_and_what_stays_open(db: Any, user: uuid.UUID, exchange: str, close: str,
                                                                 partial: str, trades: str, positions: str) -> None:
    part = trade_row(user, exchange=exchange, ai_strategy_id=AI, exit_reason="PARTIAL_CLOSE")
    rpc(db, partial, part, rest_of(user, exchange))
    kept = db.execute(f"select ai_strategy_id::text from public.{positions} where user_id = %s", (user,)).fetchall()
    assert kept == [(AI,)]
    whole = trade_row(user, exchange=exchange, ai_strategy_id=AI)
    rpc(db, close, whole)
    found = db.execute(f"select id::text, ai_strategy_id::text from public.{trades} where user_id = %s"
                       " order by exit_reason", (user,)).fetchall()
    assert sorted(found) == sorted([(part["id"], AI), (whole["id"], AI)])
    assert db.execute(f"select count(*) from public.{positions} where user_id = %s", (user,)).fetchone() == (0,)


def test_a_trade_without_an_ai_strategy_keeps_none(db: Any, user: uuid.UUID) -> None:
    trade = trade_row(user, exchange="aster")
    rpc(db, "record_close", trade)
    assert db.execute("select ai_strategy_id from public.trades where id = %s", (trade["id"],)).fetchone() == (None,)


def test_the_validation_log_takes_a_row_and_its_outcome(db: Any, user: uuid.UUID) -> None:
    with acting_as(db, "service_role"):
        row_id = db.execute(
            "insert into public.strategy_validation_log (user_id, symbol, action, price_at_signal, ml_confidence,"
            " confidence_threshold, validation_result, market_context, feature_scores, decision_reasons)"
            " values (%s, 'BTCUSDT', 'buy', 27000, 45, 0.7, 'blocked', '{}', '{}', '[\"low volume\"]') returning id",
            (user,)).fetchone()[0]
        db.execute("update public.strategy_validation_log set trade_executed = false where id = %s", (row_id,))
    found = db.execute("select validation_result, trade_executed, decision_reasons from public.strategy_validation_log"
                       " where id = %s", (row_id,)).fetchone()
    assert found == ("blocked", False, ["low volume"])
