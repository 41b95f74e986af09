-- RPC functions the original and the dashboard call, the trade_stats view, updated_at triggers.
-- Functions run with the caller's rights (SECURITY INVOKER): an authenticated user can only count
-- their own rows (RLS), the service role and the owner see everyone's. search_path is pinned empty
-- and every name is qualified, so a caller's search_path cannot redirect them.

-- get_user_subscription_plan_safe(p_user_id) -> text
-- The plan of the user's active subscription (newest first), else 'Free'.
create or replace function public.get_user_subscription_plan_safe(p_user_id uuid)
returns text
language sql
stable
set search_path = ''
as $$
    select coalesce(
        (select s.plan
           from public.subscriptions s
          where s.user_id = p_user_id and s.status = 'active'
          order by s.created_at desc
          limit 1),
        'Free'
    );
$$;

-- check_webhook_limit(p_user_id, p_plan) -> one row:
--   allowed        boolean      true when another webhook fits in this month's quota
--   current_count  integer      the user's webhook_requests this UTC month, rate_limited excluded
--   monthly_limit  integer      the plan's limit; NULL = unlimited (Pro)
--   plan           text         the plan the limit was taken from: 'Free' | 'Basic' | 'Premium' | 'Pro'
--   reset_date     timestamptz  the first instant of next month, UTC (when the count restarts)
-- Plans (case-insensitive): Free 5, Basic 75, Premium 300, Pro unlimited; any other name counts as
-- Free. A NULL p_plan means "look it up" (get_user_subscription_plan_safe).
-- Over PostgREST (`rpc/check_webhook_limit`) the row is a JSON object:
--   {"allowed": true, "current_count": 3, "monthly_limit": 5, "plan": "Free",
--    "reset_date": "2026-06-01T00:00:00+00:00"}
-- The dashboard's earlier version returned a bare boolean: a function's result type cannot be
-- changed in place, so it is dropped first.
drop function if exists public.check_webhook_limit(uuid, text);
create function public.check_webhook_limit(
    p_user_id uuid,
    p_plan text default null,
    out allowed boolean,
    out current_count integer,
    out monthly_limit integer,
    out plan text,
    out reset_date timestamptz
)
language plpgsql
stable
set search_path = ''
as $$
declare
    month_start constant timestamptz := pg_catalog.date_trunc('month', pg_catalog.now(), 'UTC');
begin
    reset_date := month_start + interval '1 month';
    plan := case lower(btrim(coalesce(p_plan, public.get_user_subscription_plan_safe(p_user_id))))
                when 'basic' then 'Basic'
                when 'premium' then 'Premium'
                when 'pro' then 'Pro'
                else 'Free'
            end;
    monthly_limit := case plan
                         when 'Basic' then 75
                         when 'Premium' then 300
                         when 'Pro' then null
                         else 5
                     end;
    select count(*)::integer into current_count
      from public.webhook_requests w
     where w.user_id = p_user_id
       and w.created_at >= month_start
       and w.created_at < reset_date
       and w.status <> 'rate_limited';
    allowed := monthly_limit is null or current_count < monthly_limit;
end;
$$;

revoke all on function public.get_user_subscription_plan_safe(uuid) from public, anon;
revoke all on function public.check_webhook_limit(uuid, text) from public, anon;
grant execute on function public.get_user_subscription_plan_safe(uuid) to authenticated, service_role;
grant execute on function public.check_webhook_limit(uuid, text) to authenticated, service_role;

-- trade_stats: the original's columns. security_invoker: the caller's RLS applies, so a dashboard
-- user gets the statistics of their own trades (a plain view would run as its owner and aggregate
-- every user's).
create or replace view public.trade_stats
with (security_invoker = true)
as
select
    count(*) as total_trades,
    sum(case when is_winner then 1 else 0 end) as winning_trades,
    sum(case when not is_winner then 1 else 0 end) as losing_trades,
    round((sum(case when is_winner then 1 else 0 end)::numeric / nullif(count(*), 0)) * 100, 2)
        as win_rate_percent,
    sum(pnl_usd) as total_pnl_usd,
    avg(pnl_usd) as avg_pnl_per_trade,
    max(pnl_usd) as largest_win,
    min(pnl_usd) as largest_loss,
    avg(case when is_winner then pnl_usd end) as avg_win,
    avg(case when not is_winner then pnl_usd end) as avg_loss
from public.trades;

revoke all on public.trade_stats from anon;
grant select on public.trade_stats to authenticated, service_role;

-- updated_at follows every update, whoever writes the row (on the tables that have the column:
-- an older dashboard table may lack it).
create or replace function public.sparky_set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    new.updated_at := pg_catalog.now();
    return new;
end;
$$;

do $$
declare
    t text;
begin
    for t in
        select c.table_name
          from information_schema.columns c
         where c.table_schema = 'public' and c.column_name = 'updated_at'
           and c.table_name in (
               'positions', 'strategies', 'bot_credentials', 'trade_settings_exchange',
               'trade_settings_global', 'tradier_option_trades', 'subscriptions',
               'notification_preferences', 'ai_strategies')
    loop
        execute format(
            'create or replace trigger sparky_set_updated_at before update on public.%I'
            ' for each row execute function public.sparky_set_updated_at()', t);
    end loop;
end
$$;
