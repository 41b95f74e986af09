"""The original dashboard's database after `sparky migrate`: nothing reads past row-level security
(views, SECURITY DEFINER functions), and prices, quantities and symbols are stored as Sparky sent
them. The database is filled for two users before it is migrated, as a live one would be."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from sparky.store.base import MAX_SYMBOL_LENGTH
from sparky.store.migrations import apply_pending, discover
from tests.postgres.conftest import MIGRATIONS, acting_as
from tests.postgres.original_dashboard import DashboardUsers, create_original_dashboard
from tests.postgres.test_migrations import SHARED_TABLES, connect, sqlstate

VIEWS = ("todays_trades", "positions_summary", "open_exposure", "trade_stats")


@pytest.fixture(scope="module")
def dashboard(database_url: str) -> tuple[str, DashboardUsers]:
    with connect(database_url) as conn:
        users = create_original_dashboard(conn)
        apply_pending(conn, discover(MIGRATIONS))
    return database_url, users


@pytest.fixture
def conn(dashboard: tuple[str, DashboardUsers]) -> Iterator[Any]:
    with connect(dashboard[0]) as connection:
        yield connection


@pytest.fixture
def users(dashboard: tuple[str, DashboardUsers]) -> DashboardUsers:
    return dashboard[1]


# -- views and functions ---------------------------------------------------------------------------


def test_anon_reads_no_view(conn: Any, users: DashboardUsers) -> None:
    for view in VIEWS:
        with acting_as(conn, "anon", users.alice):
            assert sqlstate(lambda v=view: conn.execute(f"select * from {v}").fetchall()) == "42501", view


def test_through_a_view_a_user_sees_only_their_own_rows(conn: Any, users: DashboardUsers) -> None:
    with acting_as(conn, "authenticated", users.bob):
        assert [r[0] for r in conn.execute("select user_id from todays_trades")] == [users.bob]
        assert conn.execute("select open_positions, total_position_size from positions_summary").fetchone() == (
            1, Decimal(250),
        )  # fmt: skip
        assert conn.execute("select * from open_exposure").fetchone() == (1, Decimal(250))
        assert conn.execute("select total_trades, total_pnl_usd from trade_stats").fetchone() == (1, Decimal(-5))
    with acting_as(conn, "authenticated", users.carol):  # a user without rows
        assert conn.execute("select * from todays_trades").fetchall() == []
        assert conn.execute("select open_positions, total_position_size from positions_summary").fetchone() == (
            0, None,
        )  # fmt: skip


def test_every_view_runs_with_the_callers_rights(conn: Any) -> None:
    owner_rights = conn.execute(
        "select relname from pg_class where relnamespace = 'public'::regnamespace and relkind = 'v'"
        " and not coalesce('security_invoker=true' = any (reloptions), false)"
    ).fetchall()
    assert owner_rights == []


def test_security_definer_functions_are_for_the_service_role_only(conn: Any, users: DashboardUsers) -> None:
    for role in ("anon", "authenticated"):
        for call in ("get_active_ai_strategies()", "get_top_strategies_30d()"):
            with acting_as(conn, role, users.bob):
                assert sqlstate(lambda c=call: conn.execute(f"select * from {c}").fetchall()) == "42501", (role, call)
    with acting_as(conn, "service_role"):  # the AI worker still gets what it asks for
        assert [r[1] for r in conn.execute("select * from get_active_ai_strategies()")] == [users.alice]
        assert [r[2] for r in conn.execute("select * from get_top_strategies_30d()")] == [users.alice]


def test_no_security_definer_routine_is_open_or_without_a_search_path(conn: Any) -> None:
    routines = conn.execute(
        "select p.oid::regprocedure::text, p.proconfig,"
        " has_function_privilege('anon', p.oid, 'execute'),"
        " has_function_privilege('authenticated', p.oid, 'execute'),"
        " exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a where a.grantee = 0)"
        " from pg_proc p where p.pronamespace = 'public'::regnamespace and p.prosecdef order by 1"
    ).fetchall()
    assert [r[0] for r in routines] == ["get_active_ai_strategies()", "get_top_strategies_30d(integer)"]
    for name, config, anon, authenticated, public in routines:
        assert "search_path=pg_catalog, public, pg_temp" in config, name
        assert (anon, authenticated, public) == (False, False, False), name


def test_views_keep_their_comment_and_privileges(conn: Any) -> None:
    assert conn.execute("select obj_description('open_exposure'::regclass, 'pg_class')").fetchone() == (
        "What is at stake right now",
    )
    for view in VIEWS:
        assert conn.execute("select has_table_privilege('authenticated', %s, 'select')", (view,)).fetchone() == (
            True,
        ), view
        assert conn.execute("select has_table_privilege('anon', %s, 'select')", (view,)).fetchone() == (False,)


# -- exact numbers, long symbols ----------------------------------------------------------------------


def test_no_shared_column_rounds_or_truncates(conn: Any) -> None:
    narrow = conn.execute(
        "select c.relname, a.attname, format_type(a.atttypid, a.atttypmod)"
        " from pg_attribute a join pg_class c on c.oid = a.attrelid"
        " where c.relnamespace = 'public'::regnamespace and c.relname = any (%s)"
        " and a.attnum > 0 and not a.attisdropped and a.atttypmod <> -1"
        " and a.atttypid in ('numeric'::regtype, 'varchar'::regtype)",
        (sorted(SHARED_TABLES),),
    ).fetchall()
    assert narrow == []


def test_a_position_keeps_its_price_quantity_and_long_symbol(conn: Any, users: DashboardUsers) -> None:
    symbol = "B" * MAX_SYMBOL_LENGTH
    conn.execute(
        "insert into positions (symbol, side, entry_price, entry_time, quantity, position_size_usd,"
        " stop_loss_price, exchange, user_id)"
        " values (%s, 'SELL', '0.000012345678901', now(), '0.123456789012', '3.333027345', '0.0000123456789019',"
        " 'ccxt', %s)",
        (symbol, users.carol),
    )
    stored = conn.execute(
        "select symbol, entry_price::text, quantity::text, position_size_usd::text, stop_loss_price::text"
        " from positions where user_id = %s and exchange = 'ccxt'",
        (users.carol,),
    ).fetchone()
    assert stored == (symbol, "0.000012345678901", "0.123456789012", "3.333027345", "0.0000123456789019")


def test_a_close_keeps_exact_prices_and_pnl(conn: Any, users: DashboardUsers) -> None:
    now = datetime.now(UTC)
    trade = {
        "id": str(uuid.uuid4()), "user_id": str(users.carol), "exchange": "oanda", "symbol": "C" * 21,
        "side": "BUY", "entry_price": "0.000012345678901", "entry_time": (now - timedelta(hours=1)).isoformat(),
        "exit_price": "0.000012399999999", "exit_time": now.isoformat(), "quantity": "1000000.123456789",
        "position_size_usd": "12.3456789", "pnl_usd": "0.05414321987", "pnl_percent": "0.43740119",
        "is_winner": True, "exit_reason": "TAKE_PROFIT_ON_THE_EXCHANGE_AFTER_A_PARTIAL_FILL_AND_A_RETRY",
    }  # fmt: skip
    with acting_as(conn, "service_role"):
        conn.execute("select public.record_close(%s::jsonb)", (json.dumps(trade),))
    stored = conn.execute(
        "select symbol, entry_price::text, exit_price::text, quantity::text, position_size_usd::text,"
        " pnl_usd::text, pnl_percent::text, exit_reason from trades where id = %s",
        (trade["id"],),
    ).fetchone()
    assert stored == tuple(trade[k] for k in (
        "symbol", "entry_price", "exit_price", "quantity", "position_size_usd", "pnl_usd", "pnl_percent",
        "exit_reason",
    ))  # fmt: skip
    with acting_as(conn, "authenticated", users.carol):  # the recreated view reads the widened column
        assert [r[0] for r in conn.execute("select symbol from todays_trades")] == [trade["symbol"]]


def test_a_materialized_view_on_a_narrow_column_stops_the_migration(fresh_database) -> None:
    import psycopg

    from sparky.store.migrations import MigrationError

    url = fresh_database()
    with connect(url) as conn:
        create_original_dashboard(conn)
        conn.execute("create materialized view public.symbols_traded as select distinct symbol from trades")
        with pytest.raises((MigrationError, psycopg.Error)) as caught:
            apply_pending(conn, discover(MIGRATIONS))
        assert "symbols_traded" in str(caught.value)
        # nothing of that file was applied: the columns are as they were
        assert conn.execute(
            "select character_maximum_length from information_schema.columns"
            " where table_name = 'trades' and column_name = 'symbol'"
        ).fetchone() == (20,)
