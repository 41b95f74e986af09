-- Atomic writes for SupabaseStore (src/sparky/store/supabase.py). PostgREST runs every request in a
-- transaction of its own and has no multi-statement transactions: what must happen together is a
-- function, called as POST /rest/v1/rpc/<name>. Both functions run with the caller's rights
-- (SECURITY INVOKER), only service_role (Sparky's key) may execute them, and search_path is
-- pinned empty with every name qualified, as in 0006. Re-running this file replaces them.

-- record_webhook_request(p_row jsonb, p_monthly_limit integer) -> jsonb
-- Records one webhook_requests row unless the user's monthly webhook quota is used up, atomically
-- across every server: the duplicate check, the count and the insert run under a transaction-scoped
-- advisory lock per user (keys: 1397771097 = 'SPKY', hashtext(user_id)), so concurrent calls for one
-- user queue up and each one's count sees the rows of those before it (READ COMMITTED: every
-- statement of a volatile function takes a new snapshot; checked below).
--   p_row            the row as JSON, keys named like webhook_requests columns; id and created_at
--                    default to gen_random_uuid() and now(), status to 'pending'
--   p_monthly_limit  webhooks allowed this UTC month; NULL = unlimited
-- Counted like check_webhook_limit: the user's rows created in the UTC month of the new row's
-- created_at (the time Sparky received the webhook; now() when absent), 'rate_limited' excluded.
-- The reply is one JSON object:
--   {"outcome": "recorded", "current_count": 4, "monthly_limit": 5}        the count includes the new row
--   {"outcome": "quota_exceeded", "current_count": 5, "monthly_limit": 5}  nothing inserted
--   {"outcome": "duplicate", "existing_id": "<uuid>"}                      nothing inserted: the user's
--       idempotency_key, or the id, is taken (a duplicate is answered before the quota is checked)
-- A strategy_id naming no strategy is stored as NULL (the payload keeps what the alert said).
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

    -- two statements rather than one with OR, so both use idx_webhook_requests_user_created
    if r.user_id is null then
        select count(*)::integer into used from public.webhook_requests w
         where w.user_id is null
           and w.created_at >= month_start and w.created_at < month_end
           and w.status <> 'rate_limited';
    else
        select count(*)::integer into used from public.webhook_requests w
         where w.user_id = r.user_id
           and w.created_at >= month_start and w.created_at < month_end
           and w.status <> 'rate_limited';
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
        processed_at, created_at, strategy_id, signal, idempotency_key, result, http_status, source_ip
    ) values (
        coalesce(r.id, pg_catalog.gen_random_uuid()), r.user_id, r.webhook_secret, r.exchange,
        r.action, r.symbol, r.payload, coalesce(r.status, 'pending'), r.error_message,
        r.processed_at, r.created_at, r.strategy_id, r.signal,
        r.idempotency_key, r.result, r.http_status, r.source_ip
    );
    return pg_catalog.jsonb_build_object(
        'outcome', 'recorded',
        'current_count', used + case when coalesce(r.status, 'pending') = 'rate_limited' then 0 else 1 end,
        'monthly_limit', p_monthly_limit);
end;
$$;

-- record_close(p_trade jsonb) -> void
-- Inserts the trade (keys named like trades columns) and deletes the position it closed, keyed by
-- (user_id, exchange, symbol), in one transaction. Idempotent by trade id: when a trade with this
-- id exists (a retry after a lost reply) nothing is inserted and nothing is deleted, so a retry can
-- never delete the position a reversal has opened since. A strategy_id naming no strategy is stored
-- as NULL: a close must be recorded even when its strategy was deleted meanwhile.
create or replace function public.record_close(p_trade jsonb)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    t public.trades;
    inserted uuid;
begin
    t := pg_catalog.jsonb_populate_record(null::public.trades, p_trade);
    if t.strategy_id is not null
       and not exists (select 1 from public.strategies s where s.id = t.strategy_id) then
        t.strategy_id := null;
    end if;
    insert into public.trades (
        id, created_at, symbol, side, entry_price, entry_time, exit_price, exit_time, quantity,
        position_size_usd, stop_loss_price, take_profit_price, stop_loss_percent,
        take_profit_percent, pnl_usd, pnl_percent, is_winner, exit_reason, order_id, notes,
        asset_class, strategy_id, exchange, user_id
    ) values (
        coalesce(t.id, pg_catalog.gen_random_uuid()), coalesce(t.created_at, pg_catalog.now()),
        t.symbol, t.side, t.entry_price, t.entry_time, t.exit_price, t.exit_time, t.quantity,
        t.position_size_usd, t.stop_loss_price, t.take_profit_price, t.stop_loss_percent,
        t.take_profit_percent, t.pnl_usd, t.pnl_percent, t.is_winner, t.exit_reason, t.order_id,
        t.notes, coalesce(t.asset_class, 'crypto'), t.strategy_id, t.exchange, t.user_id
    )
    on conflict (id) do nothing
    returning id into inserted;
    if inserted is not null then
        delete from public.positions p
         where p.user_id = t.user_id and p.exchange = t.exchange and p.symbol = t.symbol;
    end if;
end;
$$;

revoke all on function public.record_webhook_request(jsonb, integer) from public, anon, authenticated;
revoke all on function public.record_close(jsonb) from public, anon, authenticated;
grant execute on function public.record_webhook_request(jsonb, integer) to service_role;
grant execute on function public.record_close(jsonb) to service_role;

-- PostgREST (Supabase) caches the schema: have it pick the new functions up now. Nothing listens
-- on a plain PostgreSQL, where this is a no-op.
notify pgrst, 'reload schema';
