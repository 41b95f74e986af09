"""A database as the original dashboard left it, with every user's data in it, for the migration tests.

`SUPABASE_AUTH` and `DASHBOARD_TABLES` (test_migrations.py) are its auth schema and tables; this
adds what else the original created that reads across users: the helper views of the original
Sparky's docs/schema/supabase-schema.sql, the AI trading tables with their SECURITY DEFINER
helpers (docs/schema/20251211_ai_trading_firm.sql, 20251225_copy_trading.sql), a view the
dashboard built on one of them, and the privileges Supabase gives its API roles on everything in
`public`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tests.postgres.test_migrations import DASHBOARD_TABLES, SUPABASE_AUTH

ORIGINAL_VIEWS_AND_FUNCTIONS = """
create or replace view todays_trades as
select * from trades where date(exit_time) = current_date order by exit_time desc;

create or replace view positions_summary as
select count(*) as open_positions, sum(position_size_usd) as total_position_size,
       sum(unrealized_pnl_usd) as total_unrealized_pnl, avg(unrealized_pnl_percent) as avg_unrealized_pnl_percent
from positions;

-- built by the dashboard on top of another view (a chain of views to drop and recreate in order)
create view open_exposure as select open_positions, total_position_size from positions_summary;
comment on view open_exposure is 'What is at stake right now';

create table public.ai_strategies (
    id uuid primary key default gen_random_uuid(),
    user_id uuid references auth.users(id) on delete cascade not null,
    name text not null default 'My AI Strategy',
    status text default 'paused' check (status in ('running', 'paused', 'backtesting', 'terminated')),
    risk_profile text default 'balanced',
    target_assets text[] default '{BTCUSDT,ETHUSDT,SOLUSDT}',
    max_drawdown_percent numeric(5,2) default 20.00,
    leverage_max integer default 10,
    performance_fee_percent numeric(4,2) default 20.00,
    is_public_leader boolean default false,
    copy_override_percent numeric(4,2) default 15.00,
    verified_badge boolean default false,
    copiers_count integer default 0
);
alter table public.ai_strategies enable row level security;
create policy "Users can manage own AI strategies" on public.ai_strategies
    using (auth.uid() = user_id) with check (auth.uid() = user_id);

create or replace function get_active_ai_strategies()
returns table (id uuid, user_id uuid, name text, status text, risk_profile text, target_assets text[],
               max_drawdown_percent numeric, leverage_max integer, performance_fee_percent numeric) as $$
begin
  return query
  select s.id, s.user_id, s.name, s.status, s.risk_profile, s.target_assets, s.max_drawdown_percent,
         s.leverage_max, s.performance_fee_percent
  from public.ai_strategies s
  where s.status = 'running';
end;
$$ language plpgsql security definer;

create or replace function get_top_strategies_30d(limit_count integer default 50)
returns table (id uuid, name text, user_id uuid, pnl_30d numeric) as $$
begin
  return query
  select s.id, s.name, s.user_id,
         coalesce((select sum(pnl_usd) from trades t where t.strategy_id = s.id
                   and t.exit_time >= now() - interval '30 days'), 0)::numeric as pnl_30d
  from ai_strategies s
  where s.is_public_leader = true and s.status = 'running'
  order by pnl_30d desc
  limit limit_count;
end;
$$ language plpgsql security definer;

-- Supabase: the API roles may use everything in public; RLS is what keeps rows apart
grant select, insert, update, delete on all tables in schema public to anon, authenticated, service_role;
grant execute on all functions in schema public to anon, authenticated, service_role;
"""


@dataclass(frozen=True)
class DashboardUsers:
    """Two users with rows everywhere, and one without any."""

    alice: uuid.UUID
    bob: uuid.UUID
    carol: uuid.UUID


#: the API roles every Supabase project has before any dashboard schema runs (cluster-wide in
#: PostgreSQL: created here when absent, so this works on a fresh test server in any test order)
SUPABASE_ROLES = """
do $$
begin
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
end
$$;
"""


def create_original_dashboard(conn: Any) -> DashboardUsers:
    """Build the original dashboard's schema in `conn`'s (empty) database and fill it for two users:
    Alice's and Bob's trades of today and open positions, and Alice's running AI strategy."""
    conn.execute(SUPABASE_ROLES)
    conn.execute(SUPABASE_AUTH)
    conn.execute(DASHBOARD_TABLES)
    conn.execute(ORIGINAL_VIEWS_AND_FUNCTIONS)
    users = DashboardUsers(uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    conn.execute("insert into auth.users (id) values (%s), (%s), (%s)", (users.alice, users.bob, users.carol))
    for user, symbol, size, pnl in ((users.alice, "BTCUSDT", 1000, 40), (users.bob, "ETHUSDT", 250, -5)):
        conn.execute(
            "insert into positions (symbol, side, entry_price, entry_time, quantity, position_size_usd,"
            " unrealized_pnl_usd, exchange, user_id) values (%s, 'BUY', 100, now(), 1, %s, %s, 'aster', %s)",
            (symbol, size, pnl, user),
        )
        conn.execute(
            "insert into trades (symbol, side, entry_price, entry_time, exit_price, exit_time, quantity,"
            " position_size_usd, pnl_usd, pnl_percent, is_winner, exit_reason, exchange, user_id)"
            " values (%s, 'BUY', 100, now(), 104, now(), 1, %s, %s, 4, %s, 'SIGNAL', 'aster', %s)",
            (symbol, size, pnl, pnl > 0, user),
        )
    conn.execute(
        "insert into ai_strategies (user_id, name, status, is_public_leader) values (%s, 'Alpha', 'running', true)",
        (users.alice,),
    )
    return users
