"""migrations/0021 on a real PostgreSQL: the paper venue's trades and positions live in
`paper_trades` / `paper_positions`, closed by the functions the Supabase store calls for them, so
`trade_stats` (what the dashboard shows as the user's results) counts live trading only."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from sparky.store.migrations import apply_pending, discover
from sparky.store.supabase import codec, paper
from tests.postgres.conftest import MIGRATIONS, acting_as
from tests.postgres.test_record_webhook_request import connect, trade_row
from tests.postgres.test_schema_parity import postgres_columns
from tests.store_contract import make_position


@pytest.fixture
def user(new_user: Callable[[], uuid.UUID]) -> uuid.UUID:
    return new_user()


def close_as_the_store_does(db: Any, trade: dict[str, Any]) -> None:
    """The function SupabaseStore.record_close calls for this trade's exchange."""
    rpc = paper.close_rpc(trade["exchange"])
    with acting_as(db, "service_role"):
        db.execute(f"select public.{rpc}(%s::jsonb)", (json.dumps(trade),))


def stats(db: Any, user: uuid.UUID) -> tuple[Any, ...]:
    with acting_as(db, "authenticated", user):
        return db.execute("select total_trades, winning_trades, total_pnl_usd::text from public.trade_stats").fetchone()


def test_trade_stats_counts_live_trades_only(db: Any, user: uuid.UUID) -> None:
    close_as_the_store_does(db, trade_row(user, exchange="paper", pnl_usd="500", strategy_id=None))
    live = trade_row(user, exchange="aster", pnl_usd="-2.5", is_winner=False, strategy_id=None)
    close_as_the_store_does(db, live)
    assert stats(db, user) == (1, 0, "-2.5")
    assert db.execute("select exchange from public.trades where user_id = %s", (user,)).fetchall() == [("aster",)]
    assert db.execute("select exchange, pnl_usd::text from public.paper_trades where user_id = %s",
                      (user,)).fetchall() == [("paper", "500")]


def test_a_paper_close_removes_its_paper_position_once(db: Any, user: uuid.UUID) -> None:
    db.execute("insert into public.paper_positions (symbol, side, entry_price, entry_time, quantity,"
               " position_size_usd, exchange, user_id) values ('BTCUSDT', 'BUY', 27000.1, now(), 0.001, 27,"
               " 'paper', %s)", (user,))
    trade = trade_row(user, exchange="paper")
    close_as_the_store_does(db, trade)
    close_as_the_store_does(db, trade)  # a retry after a lost reply
    assert db.execute("select count(*) from public.paper_positions where user_id = %s", (user,)).fetchone() == (0,)
    assert db.execute("select count(*), max(strategy_id::text) from public.paper_trades where user_id = %s",
                      (user,)).fetchone() == (1, None)  # the unknown strategy dropped, as record_close does


def test_a_paper_partial_close_keeps_the_rest_open_in_paper_positions(db: Any, user: uuid.UUID) -> None:
    rest = codec.position_row(make_position(user_id=str(user), exchange="paper", strategy_id=None,
                                            trailing_stop_order_id="ts-1"))
    trade = trade_row(user, exchange="paper")
    with acting_as(db, "service_role"):
        for _ in range(2):  # idempotent by trade id
            db.execute(f"select public.{paper.partial_close_rpc('paper')}(%s::jsonb, %s::jsonb)",
                       (json.dumps(trade), json.dumps(rest)))
    assert db.execute("select quantity::text, trailing_stop_order_id from public.paper_positions"
                      " where user_id = %s", (user,)).fetchall() == [(rest["quantity"], "ts-1")]
    assert db.execute("select count(*) from public.paper_trades where user_id = %s", (user,)).fetchone() == (1,)
    assert db.execute("select count(*) from public.positions where user_id = %s", (user,)).fetchone() == (0,)
    assert db.execute("select count(*) from public.trades where user_id = %s", (user,)).fetchone() == (0,)


def test_paper_tables_have_the_live_tables_columns_and_rls(db: Any, user: uuid.UUID,
                                                           new_user: Callable[[], uuid.UUID]) -> None:
    assert postgres_columns(db, "paper_trades") == postgres_columns(db, "trades")
    assert postgres_columns(db, "paper_positions") == postgres_columns(db, "positions")
    close_as_the_store_does(db, trade_row(user, exchange="paper", strategy_id=None))
    with acting_as(db, "authenticated", new_user()):
        assert db.execute("select count(*) from public.paper_trades").fetchone() == (0,)  # not theirs
    with acting_as(db, "authenticated", user):
        assert db.execute("select count(*) from public.paper_trades").fetchone() == (1,)
    with acting_as(db, "anon"):
        with pytest.raises(Exception, match="permission denied"):
            db.execute("select count(*) from public.paper_trades")


def test_paper_rows_already_in_the_live_tables_are_moved(fresh_database: Callable[[], str]) -> None:
    url = fresh_database()
    files = discover(MIGRATIONS)
    earlier = [m for m in files if m.name < "0021"]
    with connect(url) as conn:
        apply_pending(conn, earlier)
        user = uuid.uuid4()
        conn.execute("insert into auth.users (id, email) values (%s, 'moved@example.test')", (user,))
        for exchange in ("paper", "aster"):
            conn.execute("select public.record_close(%s::jsonb)",
                         (json.dumps(trade_row(user, exchange=exchange, strategy_id=None)),))
            conn.execute("insert into public.positions (symbol, side, entry_price, entry_time, quantity,"
                         " position_size_usd, exchange, user_id) values ('ETHUSDT', 'BUY', 1, now(), 1, 1, %s, %s)",
                         (exchange, user))
        apply_pending(conn, files)
        for live, simulated in (("trades", "paper_trades"), ("positions", "paper_positions")):
            assert conn.execute(f"select exchange from public.{live}").fetchall() == [("aster",)]
            assert conn.execute(f"select exchange from public.{simulated}").fetchall() == [("paper",)]
