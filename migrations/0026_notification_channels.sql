-- A user's own notification channels (docs/NOTIFICATIONS.md): apprise URLs separated by spaces,
-- kept beside the notify_* preferences they honour. Same column as the SQLite table in
-- src/sparky/store/sqlite/schema.sql (tests/postgres/test_schema_parity.py). The row's existing
-- policies apply: a user reads and writes their own row, the service role (Sparky) every row.

alter table public.notification_preferences
    add column if not exists notify_urls text;

-- PostgREST (Supabase) caches the schema: have it pick the new column up now.
notify pgrst, 'reload schema';
