-- AI strategies as Sparky's AI worker runs them (docs/AI_WORKER.md, src/sparky/store/ai.py).
-- ai_strategies gains the venue a strategy trades and the size limits of one position; the
-- worker's heartbeat gets a table of its own. Same columns as the SQLite tables in
-- src/sparky/store/sqlite/schema.sql (tests/postgres/test_schema_parity.py).

-- exchange: 'paper' or an exchange the user has credentials for (NULL: not chosen yet, the worker
-- leaves the strategy alone); sizes in USD, NULL: not limited.
alter table public.ai_strategies
    add column if not exists exchange text,
    add column if not exists min_position_size_usd numeric,
    add column if not exists max_position_size_usd numeric;

-- One row per worker (a server's id, or a name the operator gives), replaced after every cycle:
-- when the last cycle ended (UTC), how long it took, and what it did.
create table if not exists public.ai_worker_heartbeats (
    worker_id               text primary key,
    last_cycle_at           timestamptz not null,
    cycle_duration_ms       integer not null check (cycle_duration_ms >= 0),
    strategies              integer not null default 0 check (strategies >= 0),
    decisions               integer not null default 0 check (decisions >= 0),
    errors                  integer not null default 0 check (errors >= 0),
    updated_at              timestamptz not null default now()
);

-- Server data, no user's rows: only the service role (Sparky) reads and writes it.
alter table public.ai_worker_heartbeats enable row level security;
revoke all on public.ai_worker_heartbeats from public, anon, authenticated;
grant select, insert, update, delete on public.ai_worker_heartbeats to service_role;
drop policy if exists sparky_service_role_all on public.ai_worker_heartbeats;
create policy sparky_service_role_all on public.ai_worker_heartbeats as permissive for all to service_role
    using (true) with check (true);

-- PostgREST (Supabase) caches the schema: have it pick the new columns and table up now.
notify pgrst, 'reload schema';
