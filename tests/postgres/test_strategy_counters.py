"""migrations/0019 on a real PostgreSQL: every trade `record_close` and `record_partial_close` record
counts on its strategy (`strategies.total_trades` / `winning_trades`, the dashboard's strategy
pages), exactly, however many closes run at once; a retried call counts nothing."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.postgres.conftest import acting_as
from tests.postgres.test_record_webhook_request import close, connect, trade_row


@pytest.fixture
def user(new_user: Callable[[], uuid.UUID]) -> uuid.UUID:
    return new_user()


def strategy(db: Any, user: uuid.UUID) -> str:
    return str(db.execute("insert into public.strategies (name, status, user_id) values ('Breakout', 'active', %s)"
                          " returning id", (user,)).fetchone()[0])


def counters(db: Any, strategy_id: str) -> tuple[int, int]:
    return db.execute("select total_trades, winning_trades from public.strategies where id = %s",
                      (strategy_id,)).fetchone()


def partial_rest(user: uuid.UUID, symbol: str) -> dict[str, Any]:
    return {"user_id": str(user), "exchange": "paper", "symbol": symbol, "side": "BUY", "entry_price": "100",
            "entry_time": "2026-01-01T00:00:00+00:00", "quantity": "1", "position_size_usd": "100"}


def test_concurrent_closes_and_partial_closes_each_count_once(db: Any, migrated_url: str, user: uuid.UUID) -> None:
    breakout = strategy(db, user)
    calls = 24  # half full closes, half partial; two in three winners
    start = threading.Barrier(calls)

    def call(n: int) -> None:
        trade = trade_row(user, symbol=f"SYM{n}", strategy_id=breakout, is_winner=n % 3 != 0)
        with connect(migrated_url) as conn:
            start.wait(timeout=30)
            with acting_as(conn, "service_role"):
                if n % 2:
                    conn.execute("select public.record_close(%s::jsonb)", (json.dumps(trade),))
                else:
                    conn.execute("select public.record_partial_close(%s::jsonb, %s::jsonb)",
                                 (json.dumps(trade), json.dumps(partial_rest(user, f"SYM{n}"))))

    with ThreadPoolExecutor(max_workers=calls) as pool:
        list(pool.map(call, range(calls)))
    assert counters(db, breakout) == (calls, 16)


def test_a_retried_close_counts_nothing(db: Any, user: uuid.UUID) -> None:
    breakout = strategy(db, user)
    trade = trade_row(user, strategy_id=breakout, is_winner=False)
    close(db, trade)
    close(db, trade)  # the reply was lost: PostgREST sends the same trade again
    assert counters(db, breakout) == (1, 0)


def test_another_users_strategy_is_never_counted(db: Any, user: uuid.UUID, new_user: Callable[[], uuid.UUID]) -> None:
    theirs = strategy(db, new_user())
    close(db, trade_row(user, strategy_id=theirs))
    assert counters(db, theirs) == (0, 0)


def test_the_dashboards_notification_settings_exist(db: Any, user: uuid.UUID) -> None:
    db.execute("insert into public.notification_preferences (user_id) values (%s)", (user,))
    row = db.execute("select notify_protection_order_placed, notify_ai_ideas from public.notification_preferences"
                     " where user_id = %s", (user,)).fetchone()
    assert row == (True, True)
