-- A row a signed-in user inserts without `user_id` is theirs. The dashboard inserts strategies and
-- trade settings (and other rows of its own) without naming the user; without a default the row
-- had user_id NULL, which the per-user policies (0005: with check user_id = auth.uid()) refuse.
-- `user_id default auth.uid()` fills in the JWT subject (0001 provides auth.uid() on plain
-- PostgreSQL). It changes nothing else: a user still cannot insert a row for someone else, and
-- the service role (no JWT subject) still has to name the user.
-- Only the tables a user may write (0005); webhook_requests and subscriptions are read-only to
-- users, and resting_entries are written by Sparky alone. A table or column a database lacks is
-- skipped.
do $$
declare
    t text;
begin
    foreach t in array array[
        'positions', 'trades', 'strategies', 'trade_settings_exchange', 'trade_settings_global',
        'tradier_option_trades', 'bot_credentials', 'notifications', 'notification_preferences',
        'ai_strategies', 'ai_trade_log', 'ai_trade_decisions', 'strategy_validation_log'
    ]
    loop
        if exists (
            select 1 from pg_catalog.pg_attribute a
            where a.attrelid = pg_catalog.to_regclass(pg_catalog.format('public.%I', t))
              and a.attname = 'user_id' and not a.attisdropped
        ) then
            execute pg_catalog.format('alter table public.%I alter column user_id set default auth.uid()', t);
        end if;
    end loop;
end
$$;
