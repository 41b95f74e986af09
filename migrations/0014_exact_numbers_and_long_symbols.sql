-- Prices, quantities and amounts are stored exactly, and symbols of any length fit.
--
-- The original schema declared money and prices numeric(20,8), numeric(20,2), numeric(10,4)…
-- and symbols varchar(20): on a database the dashboard created, a price of 0.000012345678901 was
-- stored as 0.00001235, a quantity or P&L was rounded, and a symbol longer than 20 characters
-- failed to insert after its order had been placed. 0002 creates these columns as numeric and
-- text; this file gives the tables an earlier dashboard created the same types. Both changes are
-- lossless (every stored value is kept as it is) and need no table rewrite.
--
-- PostgreSQL refuses to change the type of a column a view reads, so the views that depend on the
-- widened tables (directly or through other views) are dropped first and recreated afterwards
-- exactly as they were: definition, options (security_invoker…), owner, privileges and comment.
-- A materialized view cannot be recreated without its data and indexes: when one depends on these
-- tables, this file stops and says which (drop it, migrate, create it again).
-- On a database 0002 created, nothing here changes anything.

do $$
declare
    shared constant text[] := array[
        'positions', 'trades', 'strategies', 'trade_settings_exchange', 'trade_settings_global',
        'tradier_option_trades', 'webhook_requests', 'bot_credentials', 'subscriptions',
        'notifications', 'notification_preferences', 'ai_strategies', 'ai_trade_log',
        'ai_trade_decisions', 'strategy_validation_log'];
    col record;
    v record;
    privilege record;
    blocked text;
begin
    -- numeric(p,s) -> numeric, varchar(n) -> text
    create temporary table sparky_narrow_columns on commit drop as
    select c.oid as table_oid, n.nspname as table_schema, c.relname as table_name, a.attname as column_name,
           case when a.atttypid = 'pg_catalog.numeric'::regtype then 'numeric' else 'text' end as wide_type
      from pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      join pg_catalog.pg_attribute a on a.attrelid = c.oid
     where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relname = any (shared)
       and a.attnum > 0 and not a.attisdropped and a.atttypmod <> -1
       and a.atttypid in ('pg_catalog.numeric'::regtype, 'pg_catalog.varchar'::regtype);

    if not exists (select 1 from sparky_narrow_columns) then
        return;
    end if;

    -- every view reading those tables, and every view reading such a view; depth = the longest
    -- chain of views down to a table, so they can be dropped deepest first and recreated in order
    create temporary table sparky_dependent_views on commit drop as
    with recursive dependent (oid, depth) as (
        select r.ev_class, 1
          from pg_catalog.pg_depend d
          join pg_catalog.pg_rewrite r on r.oid = d.objid
         where d.classid = 'pg_catalog.pg_rewrite'::regclass
           and d.refclassid = 'pg_catalog.pg_class'::regclass
           and d.refobjid in (select table_oid from sparky_narrow_columns)
           and r.ev_class <> d.refobjid
        union
        select r.ev_class, dependent.depth + 1
          from dependent
          join pg_catalog.pg_depend d
            on d.refclassid = 'pg_catalog.pg_class'::regclass and d.refobjid = dependent.oid
           and d.classid = 'pg_catalog.pg_rewrite'::regclass
          join pg_catalog.pg_rewrite r on r.oid = d.objid
         where r.ev_class <> dependent.oid
    )
    select c.oid, n.nspname as view_schema, c.relname as view_name, c.relkind, deepest.depth,
           pg_catalog.pg_get_viewdef(c.oid) as definition, c.reloptions,
           c.relowner as owner_oid, pg_catalog.pg_get_userbyid(c.relowner) as owner, c.relacl,
           pg_catalog.obj_description(c.oid, 'pg_class') as description
      from (select oid, max(depth) as depth from dependent group by oid) deepest
      join pg_catalog.pg_class c on c.oid = deepest.oid
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('v', 'm');

    select string_agg(format('%I.%I', view_schema, view_name), ', ') into blocked
      from sparky_dependent_views where relkind <> 'v';
    if blocked is not null then
        raise exception 'materialized view % reads columns this migration widens', blocked
            using hint = 'drop it, run sparky migrate again, then create it again';
    end if;

    for v in select * from sparky_dependent_views order by depth desc loop
        execute format('drop view %I.%I', v.view_schema, v.view_name);
    end loop;

    for col in select * from sparky_narrow_columns order by table_name, column_name loop
        raise notice 'widening %.% to %', col.table_name, col.column_name, col.wide_type;
        execute format('alter table %I.%I alter column %I type %s',
                       col.table_schema, col.table_name, col.column_name, col.wide_type);
    end loop;

    for v in select * from sparky_dependent_views order by depth loop
        execute format('create view %I.%I%s as %s', v.view_schema, v.view_name,
                       coalesce(' with (' || pg_catalog.array_to_string(v.reloptions, ', ') || ')', ''),
                       v.definition);
        if v.owner <> current_user then
            execute format('alter view %I.%I owner to %I', v.view_schema, v.view_name, v.owner);
        end if;
        -- the privileges it had, not those a creator's default privileges hand out
        for privilege in
            select distinct a.grantee
              from pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
             where c.oid = format('%I.%I', v.view_schema, v.view_name)::regclass
               and a.grantee <> c.relowner
        loop
            execute format('revoke all on %I.%I from %s', v.view_schema, v.view_name,
                           case when privilege.grantee = 0 then 'public'
                                else quote_ident(pg_catalog.pg_get_userbyid(privilege.grantee)) end);
        end loop;
        for privilege in
            select a.grantee, a.privilege_type, a.is_grantable
              from pg_catalog.aclexplode(v.relacl) a
             where a.grantee <> v.owner_oid
        loop
            execute format('grant %s on %I.%I to %s%s', privilege.privilege_type, v.view_schema, v.view_name,
                           case when privilege.grantee = 0 then 'public'
                                else quote_ident(pg_catalog.pg_get_userbyid(privilege.grantee)) end,
                           case when privilege.is_grantable then ' with grant option' else '' end);
        end loop;
        if v.description is not null then
            execute format('comment on view %I.%I is %L', v.view_schema, v.view_name, v.description);
        end if;
    end loop;
end
$$;
