-- Leases on pending webhook requests (src/sparky/execution/leases.py). Several servers share these
-- tables; at start-up each resumes the requests a crash left pending, and must never take one that
-- another, running server is executing. A pending row names the server executing it (lease_owner,
-- the id in that server's data dir) and until when it holds it (lease_expires_at, renewed by the
-- owner while the request runs). A server resumes only its own rows, rows without a lease (written
-- before this migration) and rows whose lease has ended. Both columns mirror schema.sql (SQLite).
alter table public.webhook_requests
    add column if not exists lease_owner text,
    add column if not exists lease_expires_at timestamptz;

-- record_webhook_request as in 0007, now inserting the lease with the row: a request counted
-- against a plan is leased to its server from the moment it is recorded.
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
        processed_at, created_at, strategy_id, signal, idempotency_key, result, http_status, source_ip,
        lease_owner, lease_expires_at
    ) values (
        coalesce(r.id, pg_catalog.gen_random_uuid()), r.user_id, r.webhook_secret, r.exchange,
        r.action, r.symbol, r.payload, coalesce(r.status, 'pending'), r.error_message,
        r.processed_at, r.created_at, r.strategy_id, r.signal,
        r.idempotency_key, r.result, r.http_status, r.source_ip,
        r.lease_owner, r.lease_expires_at
    );
    return pg_catalog.jsonb_build_object(
        'outcome', 'recorded',
        'current_count', used + case when coalesce(r.status, 'pending') = 'rate_limited' then 0 else 1 end,
        'monthly_limit', p_monthly_limit);
end;
$$;

-- PostgREST (Supabase) caches the schema: have it see the new columns now. Nothing listens on a
-- plain PostgreSQL, where this is a no-op.
notify pgrst, 'reload schema';
