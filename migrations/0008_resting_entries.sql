-- Limit entries resting on a venue, at most one per (user, exchange, symbol). Sparky counts them
-- toward the open-position limits, and the next signal for the key cancels the entry or adopts its
-- fill as the position (src/sparky/execution/resting.py). They are not positions: the dashboard
-- reads `positions` for what is open. Same columns as the SQLite table in
-- src/sparky/store/sqlite/schema.sql (tests/postgres/test_schema_parity.py).
-- request_id and strategy_id carry no foreign key: the entry outlives neither, and a deleted
-- strategy or pruned request must not block recording an order that rests on the venue.

create table if not exists public.resting_entries (
    id                      uuid primary key default gen_random_uuid(),
    created_at              timestamptz not null default now(),
    user_id                 uuid not null references auth.users (id) on delete cascade,
    exchange                text not null,
    symbol                  text not null,
    side                    text not null,  -- BUY | SELL
    quantity                numeric not null,
    limit_price             numeric not null,
    stop_loss_price         numeric,
    take_profit_price       numeric,
    stop_loss_percent       numeric,
    take_profit_percent     numeric,
    client_order_id         text not null,
    order_id                text not null,
    request_id              uuid not null,  -- the webhook_requests row that placed it
    strategy_id             uuid,
    -- also serves "a user's entries" and "a user's entries on an exchange" (leading columns)
    constraint resting_entries_user_exchange_symbol_key unique (user_id, exchange, symbol)
);

-- Row-level security as in 0005: Sparky (service_role) writes; a dashboard user reads their own.
alter table public.resting_entries enable row level security;
grant select on public.resting_entries to authenticated;
grant select, insert, update, delete on public.resting_entries to service_role;

drop policy if exists sparky_service_role_all on public.resting_entries;
create policy sparky_service_role_all on public.resting_entries as permissive for all to service_role
    using (true) with check (true);

drop policy if exists sparky_user_own_rows on public.resting_entries;
create policy sparky_user_own_rows on public.resting_entries as permissive for select to authenticated
    using (user_id = (select auth.uid()));

-- PostgREST (Supabase) caches the schema: have it pick the new table up now.
notify pgrst, 'reload schema';
