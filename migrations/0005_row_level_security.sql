-- Row-level security on every shared table.
--   authenticated (a dashboard user, JWT subject = auth.uid()): only rows with user_id = auth.uid().
--     Read-only where a user's own writes would defeat a server-side rule: webhook_requests (the
--     monthly quota counts them) and subscriptions (the plan is set by billing, not by the user).
--   service_role (Sparky, the dashboard's server code): everything. On Supabase it has BYPASSRLS;
--     the explicit allow-all policy keeps that true on a plain PostgreSQL whose service_role could
--     not be given BYPASSRLS (0001).
--   anon: no policy, so no rows.
-- The table owner (the role that runs these migrations, e.g. `postgres`) is not subject to RLS.
-- Policies use `(select auth.uid())` so it is evaluated once per query, not once per row.

grant usage on schema public to anon, authenticated, service_role;

do $$
declare
    t text;
    read_only constant text[] := array['webhook_requests', 'subscriptions'];
begin
    foreach t in array array[
        'positions', 'trades', 'strategies', 'trade_settings_exchange', 'trade_settings_global',
        'tradier_option_trades', 'webhook_requests', 'bot_credentials', 'subscriptions',
        'notifications', 'notification_preferences', 'ai_strategies', 'ai_trade_log',
        'ai_trade_decisions', 'strategy_validation_log'
    ]
    loop
        execute format('alter table public.%I enable row level security', t);
        execute format('grant select, insert, update, delete on public.%I to authenticated, service_role', t);

        execute format('drop policy if exists sparky_service_role_all on public.%I', t);
        execute format(
            'create policy sparky_service_role_all on public.%I as permissive for all to service_role'
            ' using (true) with check (true)', t);

        execute format('drop policy if exists sparky_user_own_rows on public.%I', t);
        if t = any (read_only) then
            execute format(
                'create policy sparky_user_own_rows on public.%I as permissive for select to authenticated'
                ' using (user_id = (select auth.uid()))', t);
        else
            execute format(
                'create policy sparky_user_own_rows on public.%I as permissive for all to authenticated'
                ' using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()))', t);
        end if;
    end loop;
end
$$;

-- Policies are OR-ed: one allow-all policy voids the per-user ones. Earlier dashboard schemas had
-- such policies, meant for the service role but granted to everyone: "Allow read for anon" (every
-- user's trades and positions readable with the public anon key), "Service role can manage
-- subscriptions" (any user could set their own plan), "Service role can insert/update webhook
-- requests". Drop every policy on these tables that allows all rows to anyone but service_role.
-- (The service role needs none of them: it bypasses RLS and has sparky_service_role_all.)
do $$
declare
    p record;
begin
    for p in
        select tablename, policyname
        from pg_catalog.pg_policies
        where schemaname = 'public'
          and tablename in (
              'positions', 'trades', 'strategies', 'trade_settings_exchange', 'trade_settings_global',
              'tradier_option_trades', 'webhook_requests', 'bot_credentials', 'subscriptions',
              'notifications', 'notification_preferences', 'ai_strategies', 'ai_trade_log',
              'ai_trade_decisions', 'strategy_validation_log')
          and permissive = 'PERMISSIVE'
          and roles && array['public', 'anon', 'authenticated']::name[]
          and coalesce(qual, 'true') = 'true'
          and coalesce(with_check, 'true') = 'true'
    loop
        raise notice 'dropping allow-all policy % on %', p.policyname, p.tablename;
        execute format('drop policy %I on public.%I', p.policyname, p.tablename);
    end loop;
end
$$;
