-- What Supabase provides and plain PostgreSQL lacks: the `auth` schema with `auth.users` and
-- `auth.uid()`, and the API roles `anon`, `authenticated`, `service_role`.
-- Every object is created ONLY when absent (checked in the catalogs, inside DO blocks), so on a
-- Supabase project nothing is replaced and nothing is touched that the migrating role may not own.
--
-- auth.uid() reads the JWT subject the way Supabase (PostgREST) sets it:
--   request.jwt.claim.sub (GUC), else the `sub` of request.jwt.claims (JSON).
-- To act as a user in plain SQL:  set role authenticated;
--                                 select set_config('request.jwt.claim.sub', '<uuid>', false);

do $$
begin
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'service_role') then
        -- Supabase's service role bypasses row-level security; BYPASSRLS needs a superuser, so a
        -- non-superuser migrator gets a plain role (0004 also gives it explicit allow-all policies).
        begin
            create role service_role nologin noinherit bypassrls;
        exception when insufficient_privilege then
            create role service_role nologin noinherit;
        end;
    end if;
end
$$;

do $$
begin
    if not exists (select 1 from pg_catalog.pg_namespace where nspname = 'auth') then
        create schema auth;
        grant usage on schema auth to anon, authenticated, service_role;
    end if;

    if not exists (
        select 1 from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'auth' and c.relname = 'users'
    ) then
        create table auth.users (
            id    uuid primary key default gen_random_uuid(),
            email text
        );
    end if;

    if not exists (
        select 1 from pg_catalog.pg_proc p
        join pg_catalog.pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'auth' and p.proname = 'uid'
    ) then
        create function auth.uid() returns uuid
            language sql stable
            as $uid$
                select coalesce(
                    nullif(current_setting('request.jwt.claim.sub', true), ''),
                    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
                )::uuid
            $uid$;
    end if;
end
$$;
