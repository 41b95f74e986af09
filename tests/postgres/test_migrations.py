"""migrations/*.sql and `sparky migrate`, against a real PostgreSQL.

The runner (apply, re-apply, --status, append-only, one transaction per file), what the SQL
promises (RPC functions, row-level security, keys), and that it applies over a database the
dashboard and Supabase already populated.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sparky.cli.migrate import main
from sparky.store.migrations import MigrationError, apply_pending, discover
from tests.postgres.conftest import MIGRATIONS, acting_as
from tests.postgres.test_schema_parity import postgres_columns, sqlite_columns

SHARED_TABLES = {
    "positions", "trades", "strategies", "trade_settings_exchange", "trade_settings_global",
    "tradier_option_trades", "webhook_requests", "bot_credentials", "subscriptions", "notifications",
    "notification_preferences", "ai_strategies", "ai_trade_log", "ai_trade_decisions",
    "strategy_validation_log",
}  # fmt: skip


def migrate(url: str, *args: str, capsys: pytest.CaptureFixture[str] | None = None) -> tuple[int, str, str]:
    code = main(["--database-url", url, *args])
    captured = capsys.readouterr() if capsys else None
    return code, captured.out if captured else "", captured.err if captured else ""


def connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True)


def copy_migrations(tmp_path: Path, count: int | None = None) -> Path:
    target = tmp_path / "migrations"
    target.mkdir(exist_ok=True)
    for path in sorted(MIGRATIONS.glob("*.sql"))[:count]:
        shutil.copy(path, target / path.name)
    return target


def table_exists(conn: Any, name: str) -> bool:
    return conn.execute("select to_regclass(%s)", (f"public.{name}",)).fetchone() != (None,)


def sqlstate(call: Callable[[], Any]) -> str | None:
    """Run `call`; the SQLSTATE it failed with, or None when it succeeded."""
    import psycopg

    try:
        call()
    except psycopg.Error as err:
        return err.sqlstate
    return None


# -- the runner -----------------------------------------------------------------------------------


def test_all_migrations_apply_to_an_empty_database(fresh_database, capsys) -> None:
    url = fresh_database()
    code, out, err = migrate(url, capsys=capsys)
    assert (code, err) == (0, "")
    files = discover(MIGRATIONS)
    assert [line.split()[1] for line in out.splitlines()] == [m.name for m in files]
    with connect(url) as conn:
        tables = {r[0] for r in conn.execute(
            "select table_name from information_schema.tables"
            " where table_schema = 'public' and table_type = 'BASE TABLE'"
        )}  # fmt: skip
        assert SHARED_TABLES | {"_migrations", "resting_entries"} <= tables
        assert conn.execute("select to_regclass('public.trade_stats')").fetchone() == ("trade_stats",)
        recorded = conn.execute("select name, checksum from _migrations order by name").fetchall()
        assert recorded == [
            (m.name, hashlib.sha256((MIGRATIONS / m.name).read_bytes()).hexdigest()) for m in files
        ]
        unprotected = conn.execute(
            "select relname from pg_class where relnamespace = 'public'::regnamespace"
            " and relkind = 'r' and not relrowsecurity"
        ).fetchall()
        assert unprotected == []


def test_applying_twice_is_a_no_op(fresh_database, capsys) -> None:
    url = fresh_database()
    assert migrate(url, capsys=capsys)[0] == 0

    def snapshot() -> tuple[Any, ...]:
        with connect(url) as conn:
            return (
                conn.execute("select name, checksum, applied_at from _migrations order by name").fetchall(),
                conn.execute(
                    "select table_name, column_name, data_type, is_nullable, column_default"
                    " from information_schema.columns where table_schema = 'public' order by 1, 2"
                ).fetchall(),
                conn.execute(
                    "select indexname, indexdef from pg_indexes where schemaname = 'public' order by 1"
                ).fetchall(),
                conn.execute("select tablename, policyname, qual from pg_policies order by 1, 2").fetchall(),
            )

    before = snapshot()
    code, out, _ = migrate(url, capsys=capsys)
    assert code == 0
    assert out.strip() == f"nothing to apply: all {len(discover(MIGRATIONS))} migrations are applied"
    assert snapshot() == before


def test_status_lists_applied_and_pending(fresh_database, tmp_path, capsys) -> None:
    url = fresh_database()
    files = [m.name for m in discover(MIGRATIONS)]

    # --status changes nothing, not even the tracking table.
    code, out, _ = migrate(url, "--status", capsys=capsys)
    assert code == 0
    assert out.splitlines() == [f"pending  {name}" for name in files] + [f"0 applied, {len(files)} pending"]
    with connect(url) as conn:
        assert not table_exists(conn, "_migrations")

    assert migrate(url, "--dir", str(copy_migrations(tmp_path, 2)), capsys=capsys)[0] == 0
    code, out, _ = migrate(url, "--status", "--dir", str(copy_migrations(tmp_path)), capsys=capsys)
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[:2] for line in lines[:2]] == [["applied", name] for name in files[:2]]
    for line in lines[:2]:  # applied_at: just now
        assert abs(datetime.now(UTC) - datetime.fromisoformat(line.split()[2])) < timedelta(minutes=5)
    assert lines[2:-1] == [f"pending  {name}" for name in files[2:]]
    assert lines[-1] == f"2 applied, {len(files) - 2} pending"


def test_a_changed_applied_file_is_refused(fresh_database, tmp_path, capsys) -> None:
    url = fresh_database()
    directory = copy_migrations(tmp_path)
    assert migrate(url, "--dir", str(directory), capsys=capsys)[0] == 0

    changed = sorted(directory.glob("*.sql"))[1]
    changed.write_text(changed.read_text() + "\n-- an innocent-looking edit\n")
    (directory / "0999_later.sql").write_text("create table public.later (id int);\n")

    code, out, err = migrate(url, "--dir", str(directory), capsys=capsys)
    assert code == 1
    assert changed.name in err and "append-only" in err
    assert out == ""
    with connect(url) as conn:  # refused before anything ran: the new file is not applied either
        assert not table_exists(conn, "later")
        assert conn.execute("select 1 from _migrations where name = '0999_later.sql'").fetchone() is None

    code, out, _ = migrate(url, "--status", "--dir", str(directory), capsys=capsys)
    assert code == 1
    assert f"CHANGED  {changed.name}" in out
    assert "pending  0999_later.sql" in out
    assert out.splitlines()[-1].endswith("1 changed since applied")


def test_a_failing_file_leaves_nothing_behind(fresh_database, tmp_path, capsys) -> None:
    url = fresh_database()
    directory = copy_migrations(tmp_path)
    (directory / "0998_broken.sql").write_text(
        "create table public.half_done (id int);\ninsert into public.half_done values (1 / 0);\n"
    )
    (directory / "0999_after.sql").write_text("create table public.after_broken (id int);\n")

    code, _, err = migrate(url, "--dir", str(directory), capsys=capsys)
    assert code == 1
    assert "0998_broken.sql failed" in err and "division by zero" in err
    with connect(url) as conn:
        assert not table_exists(conn, "half_done")
        assert not table_exists(conn, "after_broken")
        names = [r[0] for r in conn.execute("select name from _migrations order by name")]
    assert names == [m.name for m in discover(MIGRATIONS)]  # the earlier files stay applied


def test_concurrent_runs_apply_each_file_once(fresh_database) -> None:
    url = fresh_database()
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: apply_pending_at(url), range(3)))
    applied = sorted(name for names in results for name in names)
    assert applied == [m.name for m in discover(MIGRATIONS)]


def apply_pending_at(url: str) -> list[str]:
    with connect(url) as conn:
        return apply_pending(conn, discover(MIGRATIONS))


def test_a_database_owner_that_is_not_a_superuser_can_migrate(server_url, fresh_database, capsys) -> None:
    """Like Supabase's `postgres` role: owns the database, is no superuser; the API roles exist."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    url = fresh_database()
    dbname = conninfo_to_dict(url)["dbname"]
    role, password = f"sparky_owner_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with connect(url) as conn:  # the API roles are cluster-wide: make sure they exist, then drop auth
        conn.execute((MIGRATIONS / "0001_auth_shim.sql").read_text())
        conn.execute("drop schema auth cascade")
    with connect(server_url) as admin:
        admin.execute(f"create role {role} login password '{password}'")
        admin.execute(f'alter database "{dbname}" owner to {role}')
        try:
            code, _, err = migrate(make_conninfo(url, user=role, password=password), capsys=capsys)
            assert err == ""
            assert code == 0
        finally:
            with connect(url) as conn:
                conn.execute(f"drop owned by {role} cascade")
            admin.execute(f'alter database "{dbname}" owner to current_user')
            admin.execute(f"drop role {role}")


def test_migration_files_are_named_and_numbered_once(tmp_path) -> None:
    directory = copy_migrations(tmp_path)
    (directory / "0002_again.sql").write_text("select 1;\n")
    with pytest.raises(MigrationError, match="number 0002 is taken"):
        discover(directory)
    (directory / "0002_again.sql").unlink()
    (directory / "7_Bad Name.sql").write_text("select 1;\n")
    with pytest.raises(MigrationError, match=r"NNNN_lowercase_words\.sql"):
        discover(directory)


def test_no_database_url_is_a_usage_error(monkeypatch, capsys) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main([]) == 2
    assert "--database-url" in capsys.readouterr().err


# -- an existing Supabase project ---------------------------------------------------------------

SUPABASE_AUTH = """
create schema auth;
create table auth.users (id uuid primary key, email text, raw_user_meta_data jsonb, instance_id uuid);
create function auth.uid() returns uuid language sql stable as $$
    select nullif(current_setting('request.jwt.claim.sub', true), '')::uuid  -- supabase's own
$$;
"""

# What an earlier dashboard left behind (Scribbles678/Sparky docs/schema and TradeFi schema/).
DASHBOARD_TABLES = """
create type asset_class_type as enum ('forex', 'crypto', 'options');
create table public.strategies (
    id uuid primary key default gen_random_uuid(), created_at timestamptz default now(),
    updated_at timestamptz default now(), name text not null, description text,
    asset_class asset_class_type, status text default 'inactive', total_trades integer default 0,
    winning_trades integer default 0, stop_loss_percent numeric(5, 2), take_profit_percent numeric(5, 2),
    notes text
);
create table public.positions (
    id uuid not null default gen_random_uuid() primary key,
    created_at timestamptz default now(), updated_at timestamptz default now(),
    symbol varchar(20) not null, side varchar(10) not null,
    entry_price numeric(20, 8) not null, entry_time timestamptz not null,
    quantity numeric(20, 8) not null, position_size_usd numeric(20, 2) not null,
    stop_loss_price numeric(20, 8), take_profit_price numeric(20, 8),
    stop_loss_percent numeric(10, 4), take_profit_percent numeric(10, 4),
    entry_order_id varchar(100), stop_loss_order_id varchar(100), take_profit_order_id varchar(100),
    current_price numeric(20, 8), unrealized_pnl_usd numeric(20, 4), unrealized_pnl_percent numeric(10, 4),
    last_price_update timestamptz, notes text,
    constraint positions_user_symbol_unique_legacy unique (symbol)
);
create table public.trades (
    id uuid primary key default gen_random_uuid(), created_at timestamptz default now(),
    symbol varchar(20) not null, side varchar(10) not null,
    entry_price numeric(20, 8) not null, entry_time timestamptz not null,
    exit_price numeric(20, 8) not null, exit_time timestamptz not null,
    quantity numeric(20, 8) not null, position_size_usd numeric(20, 2) not null,
    stop_loss_price numeric(20, 8), take_profit_price numeric(20, 8),
    stop_loss_percent numeric(10, 4), take_profit_percent numeric(10, 4),
    pnl_usd numeric(20, 4) not null, pnl_percent numeric(10, 4) not null, is_winner boolean not null,
    exit_reason varchar(50), order_id varchar(100), notes text
);
-- later migrations of the original: multi-tenancy, exchanges, asset classes, strategies
alter table public.positions add column asset_class asset_class_type,
    add column strategy_id uuid references public.strategies(id), add column exchange text,
    add column user_id uuid references auth.users(id) on delete cascade;
alter table public.trades add column asset_class asset_class_type,
    add column strategy_id uuid references public.strategies(id), add column exchange text,
    add column user_id uuid references auth.users(id) on delete cascade;
alter table public.positions drop constraint positions_user_symbol_unique_legacy,
    add constraint positions_user_symbol_unique unique (user_id, symbol);
create unique index positions_symbol_per_user on public.positions (user_id, symbol);
create table public.webhook_requests (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references auth.users(id) on delete cascade,
    webhook_secret text, exchange text, action text, symbol text, payload jsonb,
    status text not null default 'pending', error_message text, processed_at timestamptz,
    created_at timestamptz not null default now()
);
create table public.subscriptions (
    id uuid primary key default gen_random_uuid(), user_id uuid not null unique references auth.users(id),
    plan text not null default 'Free', status text not null default 'active',
    created_at timestamptz not null default now(), updated_at timestamptz not null default now()
);
alter table public.positions enable row level security;
alter table public.subscriptions enable row level security;
grant select on public.positions to anon;  -- Supabase grants the API roles every table
create policy "Allow read for anon" on public.positions for select to anon using (true);
create policy "Users can view their own subscription" on public.subscriptions
    for select using (auth.uid() = user_id);
create policy "Service role can manage subscriptions" on public.subscriptions
    for all using (true) with check (true);
create function public.check_webhook_limit(p_user_id uuid, p_plan text default 'Free') returns boolean
    language sql as $$ select true $$;
create view public.trade_stats as
    select count(*) as total_trades,
           sum(case when is_winner then 1 else 0 end) as winning_trades,
           sum(case when not is_winner then 1 else 0 end) as losing_trades,
           round((sum(case when is_winner then 1 else 0 end)::decimal / nullif(count(*), 0)) * 100, 2)
               as win_rate_percent,
           sum(pnl_usd) as total_pnl_usd, avg(pnl_usd) as avg_pnl_per_trade,
           max(pnl_usd) as largest_win, min(pnl_usd) as largest_loss,
           avg(case when is_winner then pnl_usd end) as avg_win,
           avg(case when not is_winner then pnl_usd end) as avg_loss
    from public.trades;
"""


def test_supabase_auth_is_left_alone(fresh_database, capsys) -> None:
    url = fresh_database()
    with connect(url) as conn:
        conn.execute(SUPABASE_AUTH)
    assert migrate(url, capsys=capsys)[0] == 0
    with connect(url) as conn:
        assert (
            "supabase's own"
            in conn.execute("select pg_get_functiondef('auth.uid()'::regprocedure)").fetchone()[0]
        )
        columns = [r[0] for r in conn.execute(
            "select column_name from information_schema.columns"
            " where table_schema = 'auth' and table_name = 'users' order by ordinal_position"
        )]  # fmt: skip
        assert columns == ["id", "email", "raw_user_meta_data", "instance_id"]


def test_tables_the_dashboard_created_are_brought_up_to_date(fresh_database, capsys) -> None:
    url = fresh_database()
    a, b = uuid.uuid4(), uuid.uuid4()
    with connect(url) as conn:
        conn.execute(SUPABASE_AUTH)
        conn.execute(DASHBOARD_TABLES)
        conn.execute("insert into auth.users (id) values (%s), (%s)", (a, b))
        add_position(conn, a, "BTCUSDT", "aster")
        conn.execute("insert into subscriptions (user_id, plan) values (%s, 'Basic')", (b,))

    code, _, err = migrate(url, capsys=capsys)
    assert err == ""
    assert code == 0

    with connect(url) as conn:
        # the same symbol on a second exchange no longer collides; the same exchange still does
        add_position(conn, a, "BTCUSDT", "binance")
        assert sqlstate(lambda: add_position(conn, a, "BTCUSDT", "aster")) == "23505"
        # Sparky's columns were added; user_id may be null (single-tenant requests)
        conn.execute(
            "insert into webhook_requests (status, idempotency_key, signal, source_ip, http_status)"
            " values ('pending', 'k1', '{}', '203.0.113.7', 200)"
        )
        assert {"futures", "stocks"} <= {
            r[0] for r in conn.execute("select unnest(enum_range(null::asset_class_type))::text")
        }
        # allow-all policies that voided per-user isolation are gone; the dashboard's own per-user one stays
        policies = {(r[0], r[1]) for r in conn.execute("select tablename, policyname from pg_policies")}
        assert ("positions", "Allow read for anon") not in policies
        assert ("subscriptions", "Service role can manage subscriptions") not in policies
        assert ("subscriptions", "Users can view their own subscription") in policies
        with acting_as(conn, "authenticated", b):  # a user sees their plan, and cannot change it
            assert conn.execute("select plan from subscriptions").fetchall() == [("Basic",)]
            assert conn.execute("update subscriptions set plan = 'Pro'").rowcount == 0
        with acting_as(conn, "anon"):
            assert conn.execute("select * from positions").fetchall() == []
        # Sparky's store can write every column it knows
        sqlite = sqlite_columns()
        for table in ("positions", "trades", "webhook_requests"):
            assert sqlite[table] <= postgres_columns(conn, table), table
        # the dashboard's trade_stats now honours the caller's RLS
        options = conn.execute(
            "select reloptions from pg_class where oid = 'trade_stats'::regclass"
        ).fetchone()
        assert options == (["security_invoker=true"],)
        # the RPC has its new shape
        row = conn.execute(
            "select allowed, monthly_limit, plan from check_webhook_limit(%s, 'Basic')", (a,)
        ).fetchone()
        assert row == (True, 75, "Basic")


# -- RPC functions -----------------------------------------------------------------------------


def add_requests(
    db: Any, user_id: uuid.UUID, count: int, *, status: str = "success", at: str = "now()"
) -> None:
    db.execute(
        "insert into webhook_requests (user_id, status, created_at)"
        f" select %s, %s, {at} from generate_series(1, %s)",
        (user_id, status, count),
    )


def limit(db: Any, user_id: uuid.UUID, plan: str | None) -> dict[str, Any]:
    cur = db.execute("select * from check_webhook_limit(%s, %s)", (user_id, plan))
    names = [c.name for c in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))


def test_check_webhook_limit_counts_this_utc_month_without_rate_limited(db, new_user) -> None:
    user, other = new_user(), new_user()
    month_start = "date_trunc('month', now(), 'UTC')"
    add_requests(db, user, 2, status="success")
    add_requests(db, user, 1, status="failed", at=f"{month_start}")  # the first instant counts
    add_requests(db, user, 3, status="rate_limited")
    add_requests(db, user, 4, at=f"{month_start} - interval '1 second'")  # last month
    add_requests(db, user, 1, at=f"{month_start} + interval '1 month'")  # next month
    add_requests(db, other, 2)
    # The month is UTC's, whatever the session's time zone: in UTC+14 the last hour of the previous
    # UTC month is already "this month" locally, and must still not count.
    db.execute("set timezone = 'Pacific/Kiritimati'")
    add_requests(db, user, 1, at=f"{month_start} - interval '1 hour'")

    result = limit(db, user, "Free")

    now = datetime.now(UTC)
    next_month = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    assert result == {
        "allowed": True,
        "current_count": 3,
        "monthly_limit": 5,
        "plan": "Free",
        "reset_date": next_month,
    }


@pytest.mark.parametrize(
    ("plan", "expected_plan", "expected_limit"),
    [
        ("Free", "Free", 5),
        ("Basic", "Basic", 75),
        ("Premium", "Premium", 300),
        ("premium", "Premium", 300),
        ("Pro", "Pro", None),
        ("Platinum", "Free", 5),  # unknown plan = Free limits
        ("", "Free", 5),
    ],
)
def test_check_webhook_limit_plans(db, new_user, plan, expected_plan, expected_limit) -> None:
    user = new_user()
    add_requests(db, user, 4)
    under = limit(db, user, plan)
    assert (under["plan"], under["monthly_limit"], under["allowed"]) == (expected_plan, expected_limit, True)

    add_requests(db, user, 1 if expected_limit is None else expected_limit - 4)
    at_limit = limit(db, user, plan)
    assert at_limit["current_count"] == (5 if expected_limit is None else expected_limit)
    assert at_limit["allowed"] is (expected_limit is None)


def test_pro_is_unlimited(db, new_user) -> None:
    user = new_user()
    add_requests(db, user, 1000)
    assert limit(db, user, "Pro") | {"reset_date": None} == {
        "allowed": True,
        "current_count": 1000,
        "monthly_limit": None,
        "plan": "Pro",
        "reset_date": None,
    }


def test_a_null_plan_is_looked_up(db, new_user) -> None:
    user, free = new_user(), new_user()
    db.execute("insert into subscriptions (user_id, plan) values (%s, 'Premium')", (user,))
    assert (limit(db, user, None)["plan"], limit(db, user, None)["monthly_limit"]) == ("Premium", 300)
    assert (limit(db, free, None)["plan"], limit(db, free, None)["monthly_limit"]) == ("Free", 5)


def test_get_user_subscription_plan_safe_falls_back_to_free(db, new_user) -> None:
    none, active, cancelled = new_user(), new_user(), new_user()
    db.execute(
        "insert into subscriptions (user_id, plan, status)"
        " values (%s, 'Basic', 'active'), (%s, 'Pro', 'canceled')",
        (active, cancelled),
    )

    def plan(user_id: uuid.UUID | None) -> str:
        return db.execute("select get_user_subscription_plan_safe(%s)", (user_id,)).fetchone()[0]

    assert plan(none) == "Free"
    assert plan(cancelled) == "Free"
    assert plan(active) == "Basic"
    assert plan(None) == "Free"


# -- row-level security --------------------------------------------------------------------------


def add_position(db: Any, user_id: uuid.UUID, symbol: str = "BTCUSDT", exchange: str = "aster") -> None:
    db.execute(
        "insert into positions"
        " (symbol, side, entry_price, entry_time, quantity, position_size_usd, exchange, user_id)"
        " values (%s, 'BUY', 100, now(), 0.5, 50, %s, %s)",
        (symbol, exchange, user_id),
    )


def add_trade(db: Any, user_id: uuid.UUID, pnl: str) -> None:
    db.execute(
        "insert into trades (symbol, side, entry_price, entry_time, exit_price, exit_time, quantity,"
        " position_size_usd, pnl_usd, pnl_percent, is_winner, exit_reason, exchange, user_id)"
        " values ('ETHUSDT', 'BUY', 100, now(), 110, now(), 1, 100, %s, 10, %s, 'MANUAL', 'aster', %s)",
        (Decimal(pnl), Decimal(pnl) > 0, user_id),
    )


def add_notification(db: Any, user_id: uuid.UUID) -> None:
    db.execute(
        "insert into notifications (user_id, type, title, message) values (%s, 'trade', 't', 'm')", (user_id,)
    )


@pytest.fixture
def two_users(db, new_user) -> tuple[uuid.UUID, uuid.UUID]:
    a, b = new_user(), new_user()
    for user, pnls in ((a, ["12.5", "-2.5"]), (b, ["-100", "-100", "7"])):
        add_position(db, user)
        add_notification(db, user)
        for pnl in pnls:
            add_trade(db, user, pnl)
    return a, b


def owners(db: Any, table: str) -> set[uuid.UUID]:
    return {r[0] for r in db.execute(f"select user_id from {table}")}


def test_a_user_sees_only_their_own_rows(db, two_users, as_role) -> None:
    a, b = two_users
    with as_role(db, "authenticated", a):
        for table in ("positions", "trades", "notifications"):
            assert owners(db, table) == {a}, table
        stats = db.execute("select total_trades, winning_trades, total_pnl_usd from trade_stats").fetchone()
        assert stats == (2, 1, Decimal("10.0"))
        assert db.execute("select current_count from check_webhook_limit(%s, 'Free')", (b,)).fetchone() == (
            0,
        )
    with as_role(db, "authenticated", None):  # a token without a subject sees nothing
        assert owners(db, "positions") == set()


def test_a_user_cannot_write_rows_for_another(db, two_users, as_role) -> None:
    a, b = two_users
    with as_role(db, "authenticated", a):
        assert sqlstate(lambda: add_position(db, b, "SOLUSDT")) == "42501"
        assert sqlstate(lambda: add_notification(db, b)) == "42501"
        assert db.execute("update positions set notes = 'mine now' where user_id = %s", (b,)).rowcount == 0
        assert db.execute("delete from trades where user_id = %s", (b,)).rowcount == 0
        assert (
            sqlstate(lambda: db.execute("update positions set user_id = %s where user_id = %s", (b, a)))
            == "42501"
        )
        add_position(db, a, "SOLUSDT")  # their own rows they may write
        # the quota counts webhook_requests: not even their own may be written or removed
        assert sqlstate(lambda: add_requests(db, a, 1)) == "42501"
        assert db.execute("delete from webhook_requests").rowcount == 0
    assert owners(db, "positions") >= {a, b}
    assert db.execute("select count(*) from trades where user_id = %s", (b,)).fetchone() == (3,)


def test_the_service_role_sees_everything(db, two_users, as_role) -> None:
    a, b = two_users
    with as_role(db, "service_role"):
        for table in ("positions", "trades", "notifications"):
            assert owners(db, table) >= {a, b}, table
        add_position(db, b, "XRPUSDT")
        add_requests(db, b, 1)


def test_anon_sees_nothing(db, two_users, as_role) -> None:
    a, _ = two_users
    with as_role(db, "anon", a):
        # plain PostgreSQL: no table privilege at all; Supabase: privileges but no policy (0 rows)
        assert sqlstate(lambda: db.execute("select * from positions").fetchall()) in {"42501", None}
    with as_role(db, "anon", a):
        assert sqlstate(lambda: db.execute("select * from check_webhook_limit(%s, 'Free')", (a,))) == "42501"


# -- keys ----------------------------------------------------------------------------------------


def test_positions_are_unique_per_user_exchange_and_symbol(db, new_user) -> None:
    a, b = new_user(), new_user()
    add_position(db, a, "BTCUSDT", "aster")
    assert sqlstate(lambda: add_position(db, a, "BTCUSDT", "aster")) == "23505"
    add_position(db, a, "BTCUSDT", "binance")  # same symbol, another exchange
    add_position(db, b, "BTCUSDT", "aster")  # same symbol and exchange, another user
    assert db.execute(
        "select count(*) from positions where symbol = 'BTCUSDT' and user_id in (%s, %s)", (a, b)
    ).fetchone() == (3,)


def test_one_request_per_user_and_idempotency_key(db, new_user) -> None:
    a, b = new_user(), new_user()

    def record(user_id: uuid.UUID | None, key: str | None) -> None:
        db.execute(
            "insert into webhook_requests (user_id, status, idempotency_key) values (%s, 'pending', %s)",
            (user_id, key),
        )

    key = f"alert-{uuid.uuid4().hex}"
    record(a, key)
    assert sqlstate(lambda: record(a, key)) == "23505"
    record(b, key)  # another user's key space
    record(None, key)  # single-tenant requests (no user) collide with each other too
    assert sqlstate(lambda: record(None, key)) == "23505"
    record(a, None)  # no key, no constraint
    record(a, None)


# -- resting limit entries ------------------------------------------------------------------------


def add_resting_entry(db: Any, user_id: uuid.UUID, symbol: str = "BTCUSDT", exchange: str = "paper") -> None:
    db.execute(
        "insert into resting_entries (user_id, exchange, symbol, side, quantity, limit_price,"
        " client_order_id, order_id, request_id)"
        " values (%s, %s, %s, 'BUY', 0.1, 26000, 'sp0123-e', 'P1', gen_random_uuid())",
        (user_id, exchange, symbol),
    )


def test_one_resting_entry_per_user_exchange_and_symbol(db, new_user) -> None:
    a, b = new_user(), new_user()
    add_resting_entry(db, a)
    assert sqlstate(lambda: add_resting_entry(db, a)) == "23505"
    add_resting_entry(db, a, exchange="oanda")
    add_resting_entry(db, b)
    assert db.execute("select count(*) from resting_entries where user_id in (%s, %s)", (a, b)).fetchone() == (3,)


def test_a_user_reads_only_their_own_resting_entries_and_writes_none(db, new_user, as_role) -> None:
    a, b = new_user(), new_user()
    add_resting_entry(db, a)
    add_resting_entry(db, b)
    with as_role(db, "authenticated", a):
        assert owners(db, "resting_entries") == {a}
        # Sparky alone places and cancels them: a dashboard user cannot add, change or drop one
        assert sqlstate(lambda: add_resting_entry(db, a, "ETHUSDT")) == "42501"
        assert sqlstate(lambda: db.execute("delete from resting_entries")) == "42501"
    with as_role(db, "service_role"):
        assert owners(db, "resting_entries") >= {a, b}
        add_resting_entry(db, b, "ETHUSDT")
    with as_role(db, "anon", a):
        assert sqlstate(lambda: db.execute("select * from resting_entries").fetchall()) in {"42501", None}
