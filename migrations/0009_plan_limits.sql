-- Webhooks per UTC month by plan, in the database, so that check_webhook_limit (what the dashboard
-- shows) answers with the limits Sparky enforces. Sparky's PLAN_LIMITS setting is the source: every
-- server writes its limits here at start-up (sparky_publish_plan_limits). Until a server has, the
-- table holds Sparky's defaults. Functions run with the caller's rights, search_path pinned empty
-- and every name qualified, as in 0006.

-- sparky_plan_limits: one row per plan; monthly_limit NULL = unlimited. Names are unique without
-- regard to case ('Basic' and 'basic' are one plan).
create table if not exists public.sparky_plan_limits (
    plan          text primary key check (plan = pg_catalog.btrim(plan) and plan <> ''),
    monthly_limit integer check (monthly_limit is null or monthly_limit >= 0),
    updated_at    timestamptz not null default now()
);
create unique index if not exists sparky_plan_limits_plan_any_case
    on public.sparky_plan_limits (lower(plan));

insert into public.sparky_plan_limits (plan, monthly_limit)
values ('Free', 5), ('Basic', 75), ('Premium', 300), ('Pro', null)
on conflict do nothing;

-- Everyone signed in may read the limits (check_webhook_limit runs with the dashboard user's
-- rights); only the service role (Sparky) writes them.
alter table public.sparky_plan_limits enable row level security;
revoke all on public.sparky_plan_limits from public, anon, authenticated;
grant select on public.sparky_plan_limits to authenticated;
grant select, insert, update, delete on public.sparky_plan_limits to service_role;
drop policy if exists sparky_plan_limits_read on public.sparky_plan_limits;
create policy sparky_plan_limits_read on public.sparky_plan_limits as permissive for select
    to authenticated using (true);
drop policy if exists sparky_service_role_all on public.sparky_plan_limits;
create policy sparky_service_role_all on public.sparky_plan_limits as permissive for all
    to service_role using (true) with check (true);

-- sparky_plan_limit(p_plan) -> (plan, monthly_limit)
-- The plan's row, the name matched without regard to case or surrounding spaces. A plan without a
-- row gets Free's limit (plan = 'Free'); with no Free row, or an unlimited one, the smallest limit
-- (0 when every plan is unlimited): an unknown plan is never unlimited. Sparky's own rule is the
-- same (src/sparky/plan_limits.py).
create or replace function public.sparky_plan_limit(p_plan text, out plan text, out monthly_limit integer)
language plpgsql
stable
set search_path = ''
as $$
begin
    select l.plan, l.monthly_limit into plan, monthly_limit
      from public.sparky_plan_limits l
     where lower(l.plan) = lower(pg_catalog.btrim(coalesce(p_plan, '')));
    if found then
        return;
    end if;
    plan := 'Free';
    select l.monthly_limit into monthly_limit
      from public.sparky_plan_limits l
     where lower(l.plan) = 'free';
    if monthly_limit is null then
        select coalesce(min(l.monthly_limit), 0) into monthly_limit from public.sparky_plan_limits l;
    end if;
end;
$$;

-- check_webhook_limit as in 0006, with the plan and its limit from sparky_plan_limits.
create or replace function public.check_webhook_limit(
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
    select l.plan, l.monthly_limit into plan, monthly_limit
      from public.sparky_plan_limit(coalesce(p_plan, public.get_user_subscription_plan_safe(p_user_id))) l;
    select count(*)::integer into current_count
      from public.webhook_requests w
     where w.user_id = p_user_id
       and w.created_at >= month_start
       and w.created_at < reset_date
       and w.status <> 'rate_limited';
    allowed := monthly_limit is null or current_count < monthly_limit;
end;
$$;

-- sparky_publish_plan_limits(p_limits jsonb) -> void
-- Replaces every row with p_limits, {"<plan>": <webhooks a month> | null, ...}, which must give Free
-- a number. Called by each Sparky server at start-up with its PLAN_LIMITS (the defaults merged with
-- what the operator set), so the table always holds what the last started server enforces.
create or replace function public.sparky_publish_plan_limits(p_limits jsonb)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    if pg_catalog.jsonb_typeof(p_limits) is distinct from 'object'
       or pg_catalog.jsonb_typeof(p_limits -> 'Free') is distinct from 'number' then
        raise exception 'plan limits must be a JSON object giving Free a number, got %', p_limits
            using errcode = '22023';
    end if;
    -- servers starting together write one after the other
    lock table public.sparky_plan_limits in share row exclusive mode;
    delete from public.sparky_plan_limits l where not (p_limits ? l.plan);
    insert into public.sparky_plan_limits as l (plan, monthly_limit, updated_at)
    select e.key, (e.value #>> '{}')::integer, pg_catalog.now()
      from pg_catalog.jsonb_each(p_limits) e
    on conflict (plan) do update
       set monthly_limit = excluded.monthly_limit, updated_at = excluded.updated_at
     where l.monthly_limit is distinct from excluded.monthly_limit;
end;
$$;

revoke all on function public.sparky_plan_limit(text) from public, anon;
revoke all on function public.check_webhook_limit(uuid, text) from public, anon;
revoke all on function public.sparky_publish_plan_limits(jsonb) from public, anon, authenticated;
grant execute on function public.sparky_plan_limit(text) to authenticated, service_role;
grant execute on function public.check_webhook_limit(uuid, text) to authenticated, service_role;
grant execute on function public.sparky_publish_plan_limits(jsonb) to service_role;

notify pgrst, 'reload schema';
