-- Nothing in `public` may read past row-level security on a user's behalf.
--
-- 0005 gives every shared table per-user policies, but two kinds of objects an earlier dashboard
-- created run with their owner's rights, and the owner (`postgres`) is not subject to RLS:
-- * views: `todays_trades` and `positions_summary` (and any other) showed every user's rows, and
--   every user's aggregate, to whoever could select from them, the public anon key included;
-- * SECURITY DEFINER functions: `get_active_ai_strategies()` (every user's running AI
--   strategies) and `get_top_strategies_30d()`, executable by PUBLIC and without a fixed
--   search_path, so a caller could also redirect the names they use.
-- This file walks over what is there rather than naming it, so objects this file does not know
-- get the same treatment. Objects that belong to an extension are left to the extension.

-- Views run with the caller's rights (security_invoker, PostgreSQL 15+): the caller's RLS applies,
-- so a signed-in user sees their own rows through any view, and anon sees none. anon keeps no
-- privilege on any view. A materialized view holds what its owner could read when it was
-- refreshed, RLS cannot filter it: only service_role may read one.
do $$
declare
    v record;
begin
    for v in
        select c.oid::regclass as name, c.relkind
          from pg_catalog.pg_class c
         where c.relnamespace = 'public'::regnamespace
           and c.relkind in ('v', 'm')
           and not exists (
               select 1 from pg_catalog.pg_depend d
                where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
    loop
        if v.relkind = 'v' then
            execute format('alter view %s set (security_invoker = true)', v.name);
            execute format('revoke all on %s from public, anon', v.name);
        else
            raise notice 'materialized view %: readable by service_role only', v.name;
            execute format('revoke all on %s from public, anon, authenticated', v.name);
            execute format('grant select on %s to service_role', v.name);
        end if;
    end loop;
end
$$;

-- SECURITY DEFINER functions and procedures: only service_role (the servers: Sparky, the
-- dashboard's server code, the AI worker) may call them, and each gets a fixed search_path
-- unless it has one. pg_catalog first, pg_temp last: a caller's temporary objects can never stand
-- in for the names the function uses; public stays, as the dashboard's functions use unqualified
-- names there. A trigger function keeps working: triggers do not check EXECUTE.
-- To let signed-in users call one of them again, review it (does it return other users' rows?)
-- and `grant execute on function public.<name>(<args>) to authenticated`.
do $$
declare
    f record;
begin
    for f in
        select p.oid::regprocedure as signature, p.proconfig
          from pg_catalog.pg_proc p
         where p.pronamespace = 'public'::regnamespace
           and p.prosecdef
           and not exists (
               select 1 from pg_catalog.pg_depend d
                where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
    loop
        if not exists (select 1 from pg_catalog.unnest(f.proconfig) s where s like 'search_path=%') then
            execute format('alter routine %s set search_path = pg_catalog, public, pg_temp', f.signature);
        end if;
        execute format('revoke all on routine %s from public, anon, authenticated', f.signature);
        execute format('grant execute on routine %s to service_role', f.signature);
        raise notice 'security definer routine %: executable by service_role only', f.signature;
    end loop;
end
$$;
