-- The monthly webhook quota counts only the requests Sparky accepted for execution, and its
-- month is UTC's whatever the session's time zone.
--
-- Counted: every webhook_requests row of the user in the UTC month except those refused before
-- anything was executed:
--   rejected      bad input (400), an inactive strategy, a risk limit, a stale alert, or refused by
--                 the exchange before any order
--   duplicate     the same alert again
--   rate_limited  over the per-minute/hour limits or over this very quota
-- so pending, success, failed, skipped and expired rows count (and rows of statuses Sparky does not
-- write, to be safe). The embedded SQLite store counts the same rows (store/sqlite/codec.py).
-- Before, every row but rate_limited counted: a Free user who sent one real alert and three
-- refused ones had one webhook left instead of four.
--
-- check_webhook_limit computed the end of the month as month_start + interval '1 month', which
-- PostgreSQL adds in the session's time zone: in a New York session the May window ended on
-- May 31 00:00 UTC, so on May 31 the user's requests counted 0. Both functions now do the month
-- arithmetic on UTC wall-clock time, as record_webhook_request already did.

-- Serves both functions' count (user, month, accepted): the predicate is spelled as they spell it.
create index if not exists idx_webhook_requests_user_accepted
    on public.webhook_requests (user_id, created_at)
    where status not in ('rejected', 'duplicate', 'rate_limited');

-- check_webhook_limit(p_user_id, p_plan, p_at) -> one row, as in 0006 with 0009's plan limits:
--   allowed, current_count (accepted requests in the UTC month), monthly_limit, plan, reset_date
-- p_at: an instant of the month to count, now() when NULL (the dashboard's calls name only
-- p_user_id and p_plan). The signature gains p_at, so the old function is dropped.
drop function if exists public.check_webhook_limit(uuid, text);
create function public.check_webhook_limit(
    p_user_id uuid,
    p_plan text default null,
    p_at timestamptz default null,
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
    month_utc constant timestamp :=
        pg_catalog.date_trunc('month', coalesce(p_at, pg_catalog.now()) at time zone 'UTC');
    month_start constant timestamptz := month_utc at time zone 'UTC';
begin
    reset_date := (month_utc + interval '1 month') at time zone 'UTC';
    -- the plan and its limit as the servers publish them (0009: sparky_plan_limits)
    select l.plan, l.monthly_limit into plan, monthly_limit
      from public.sparky_plan_limit(coalesce(p_plan, public.get_user_subscription_plan_safe(p_user_id))) l;
    select count(*)::integer into current_count
      from public.webhook_requests w
     where w.user_id = p_user_id
       and w.created_at >= month_start
       and w.created_at < reset_date
       and w.status not in ('rejected', 'duplicate', 'rate_limited');
    allowed := monthly_limit is null or current_count < monthly_limit;
end;
$$;

revoke all on function public.check_webhook_limit(uuid, text, timestamptz) from public, anon;
grant execute on function public.check_webhook_limit(uuid, text, timestamptz) to authenticated, service_role;

-- record_webhook_request(p_row, p_monthly_limit): as in 0012 (with the row's lease), counting
-- accepted requests only.
-- The reply's current_count includes the new row when its status is one that counts.
create or replace function public.record_webhook_request(p_row jsonb, p_monthly_limit integer default null)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    r public.webhook_requests;
    month_start timestamptz;
    month_end timestamptz;
    used integer;
    existing uuid;
begin
    if pg_catalog.current_setting('transaction_isolation') <> 'read committed' then
        raise exception 'record_webhook_request needs READ COMMITTED, not %',
            pg_catalog.current_setting('transaction_isolation')
            using errcode = '25000';
    end if;
    r := pg_catalog.jsonb_populate_record(null::public.webhook_requests, p_row);
    r.created_at := coalesce(r.created_at, pg_catalog.now());
    r.status := coalesce(r.status, 'pending');
    -- month arithmetic on UTC wall-clock time: timestamptz + interval would follow the session's
    -- time zone (and its DST changes)
    month_start := pg_catalog.date_trunc('month', r.created_at at time zone 'UTC') at time zone 'UTC';
    month_end := (pg_catalog.date_trunc('month', r.created_at at time zone 'UTC') + interval '1 month')
                 at time zone 'UTC';

    perform pg_catalog.pg_advisory_xact_lock(1397771097, pg_catalog.hashtext(coalesce(r.user_id::text, '')));

    -- duplicates: (user_id, idempotency_key) as the unique index webhook_requests_idempotency has
    -- it (NULLS NOT DISTINCT), then the id (a call retried after its reply was lost)
    if r.idempotency_key is not null then
        if r.user_id is null then
            select w.id into existing from public.webhook_requests w
             where w.user_id is null and w.idempotency_key = r.idempotency_key;
        else
            select w.id into existing from public.webhook_requests w
             where w.user_id = r.user_id and w.idempotency_key = r.idempotency_key;
        end if;
        if found then
            return pg_catalog.jsonb_build_object('outcome', 'duplicate', 'existing_id', existing);
        end if;
    end if;
    if r.id is not null then
        select w.id into existing from public.webhook_requests w where w.id = r.id;
        if found then
            return pg_catalog.jsonb_build_object('outcome', 'duplicate', 'existing_id', existing);
        end if;
    end if;

    -- two statements rather than one with OR, so both use idx_webhook_requests_user_accepted
    if r.user_id is null then
        select count(*)::integer into used from public.webhook_requests w
         where w.user_id is null
           and w.created_at >= month_start and w.created_at < month_end
           and w.status not in ('rejected', 'duplicate', 'rate_limited');
    else
        select count(*)::integer into used from public.webhook_requests w
         where w.user_id = r.user_id
           and w.created_at >= month_start and w.created_at < month_end
           and w.status not in ('rejected', 'duplicate', 'rate_limited');
    end if;
    if p_monthly_limit is not null and used >= p_monthly_limit then
        return pg_catalog.jsonb_build_object(
            'outcome', 'quota_exceeded', 'current_count', used, 'monthly_limit', p_monthly_limit);
    end if;

    if r.strategy_id is not null
       and not exists (select 1 from public.strategies s where s.id = r.strategy_id) then
        r.strategy_id := null;
    end if;
    insert into public.webhook_requests (
        id, user_id, webhook_secret, exchange, action, symbol, payload, status, error_message,
        processed_at, created_at, strategy_id, signal, idempotency_key, result, http_status, source_ip,
        lease_owner, lease_expires_at
    ) values (
        coalesce(r.id, pg_catalog.gen_random_uuid()), r.user_id, r.webhook_secret, r.exchange,
        r.action, r.symbol, r.payload, r.status, r.error_message,
        r.processed_at, r.created_at, r.strategy_id, r.signal,
        r.idempotency_key, r.result, r.http_status, r.source_ip,
        r.lease_owner, r.lease_expires_at
    );
    return pg_catalog.jsonb_build_object(
        'outcome', 'recorded',
        'current_count',
        used + case when r.status in ('rejected', 'duplicate', 'rate_limited') then 0 else 1 end,
        'monthly_limit', p_monthly_limit);
end;
$$;

revoke all on function public.record_webhook_request(jsonb, integer) from public, anon, authenticated;
grant execute on function public.record_webhook_request(jsonb, integer) to service_role;

notify pgrst, 'reload schema';
