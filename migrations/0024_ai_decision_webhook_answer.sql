-- The AI worker keeps, with each decision, the webhook's answer to the signal it sent
-- (docs/AI_WORKER.md): its HTTP status and body (NULL when no signal was sent, e.g. HOLD).
-- Same columns as the SQLite table in src/sparky/store/sqlite/schema.sql.
alter table public.ai_trade_decisions
    add column if not exists webhook_status integer,
    add column if not exists webhook_response jsonb;

-- PostgREST (Supabase) caches the schema: have it pick the new columns up now.
notify pgrst, 'reload schema';
