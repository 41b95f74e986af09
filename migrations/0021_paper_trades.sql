-- Paper trading apart from live results.
-- Every user has a `paper` (simulated) venue. Its positions and trades were written to `positions`
-- and `trades`, so the dashboard summed simulated P&L into the user's P&L, win rate and
-- `trade_stats`. They now live in `paper_positions` and `paper_trades`: the same columns, keys,
-- defaults and checks as `positions` and `trades` (`like … including all`), the same foreign keys
-- and row-level security. `trades`, `positions` and `trade_stats` hold live trading only (the view
-- is unchanged: it reads `trades`). Paper rows already in the live tables are moved.
-- A column added to `trades` or `positions` by a later migration must be added to these too.

do $$
declare
    missing text;
begin
    -- a table of that name made by something else would not take Sparky's rows: stop and name it
    for missing in
        select format('%s.%s', pair.paper, c.column_name)
          from (values ('paper_trades', 'trades'), ('paper_positions', 'positions')) as pair (paper, live)
          join information_schema.columns c on c.table_schema = 'public' and c.table_name = pair.live
         where exists (select 1 from information_schema.tables t
                        where t.table_schema = 'public' and t.table_name = pair.paper)
           and not exists (select 1 from information_schema.columns p
                            where p.table_schema = 'public' and p.table_name = pair.paper
                              and p.column_name = c.column_name)
    loop
        raise exception 'public.% is missing: an existing paper table has other columns; rename it and migrate again',
            missing;
    end loop;
end
$$;

create table if not exists public.paper_positions (like public.positions including all);
create table if not exists public.paper_trades (like public.trades including all);

do $$
begin
    if not exists (select 1 from pg_catalog.pg_constraint where conname = 'paper_positions_user_id_fkey') then
        alter table public.paper_positions add constraint paper_positions_user_id_fkey
            foreign key (user_id) references auth.users (id) on delete cascade;
    end if;
    if not exists (select 1 from pg_catalog.pg_constraint where conname = 'paper_positions_strategy_id_fkey') then
        alter table public.paper_positions add constraint paper_positions_strategy_id_fkey
            foreign key (strategy_id) references public.strategies (id);
    end if;
    if not exists (select 1 from pg_catalog.pg_constraint where conname = 'paper_trades_user_id_fkey') then
        alter table public.paper_trades add constraint paper_trades_user_id_fkey
            foreign key (user_id) references auth.users (id) on delete cascade;
    end if;
    if not exists (select 1 from pg_catalog.pg_constraint where conname = 'paper_trades_strategy_id_fkey') then
        alter table public.paper_trades add constraint paper_trades_strategy_id_fkey
            foreign key (strategy_id) references public.strategies (id);
    end if;
end
$$;

-- the weekly risk limits' reads, as on trades (0004)
create index if not exists idx_paper_trades_user_exchange_entry_time
    on public.paper_trades (user_id, exchange, entry_time);
create index if not exists idx_paper_trades_user_exit_time on public.paper_trades (user_id, exit_time);

create or replace trigger sparky_set_updated_at before update on public.paper_positions
    for each row execute function public.sparky_set_updated_at();

-- row-level security as on positions and trades (0005): a signed-in user reads and writes their own
-- rows, service_role everything, anon nothing
do $$
declare
    t text;
begin
    foreach t in array array['paper_positions', 'paper_trades']
    loop
        execute format('alter table public.%I enable row level security', t);
        execute format('revoke all on public.%I from anon', t);
        execute format('grant select, insert, update, delete on public.%I to authenticated, service_role', t);
        execute format('drop policy if exists sparky_service_role_all on public.%I', t);
        execute format(
            'create policy sparky_service_role_all on public.%I as permissive for all to service_role'
            ' using (true) with check (true)', t);
        execute format('drop policy if exists sparky_user_own_rows on public.%I', t);
        execute format(
            'create policy sparky_user_own_rows on public.%I as permissive for all to authenticated'
            ' using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()))', t);
    end loop;
end
$$;

-- paper rows already in the live tables move (same columns, in the same order: `like`)
with moved as (delete from public.trades where exchange = 'paper' returning *)
insert into public.paper_trades select * from moved on conflict do nothing;
with moved as (delete from public.positions where exchange = 'paper' returning *)
insert into public.paper_positions select * from moved on conflict do nothing;

-- record_paper_close(p_trade jsonb) -> void: record_close (0011) on the paper tables. Every
-- column of the row is written, so a column both tables gain needs no change here.
create or replace function public.record_paper_close(p_trade jsonb)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    t public.paper_trades;
    inserted uuid;
begin
    t := pg_catalog.jsonb_populate_record(null::public.paper_trades, p_trade);
    if t.strategy_id is not null
       and not exists (select 1 from public.strategies s where s.id = t.strategy_id) then
        t.strategy_id := null;
    end if;
    t.id := coalesce(t.id, pg_catalog.gen_random_uuid());
    t.created_at := coalesce(t.created_at, pg_catalog.now());
    t.asset_class := coalesce(t.asset_class, 'crypto');
    insert into public.paper_trades select (t).*
    on conflict (id) do nothing
    returning id into inserted;
    if inserted is not null then
        delete from public.paper_positions p
         where p.user_id = t.user_id and p.exchange = t.exchange and p.symbol = t.symbol;
    end if;
end;
$$;

-- record_paper_partial_close(p_trade jsonb, p_position jsonb) -> void: record_partial_close (0011)
-- on the paper tables: the trade of the part that closed and what stays open, in one transaction,
-- at most once per trade id. The open row keeps its id and created_at.
create or replace function public.record_paper_partial_close(p_trade jsonb, p_position jsonb)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    t public.paper_trades;
    p public.paper_positions;
    kept public.paper_positions;
    inserted uuid;
begin
    t := pg_catalog.jsonb_populate_record(null::public.paper_trades, p_trade);
    p := pg_catalog.jsonb_populate_record(null::public.paper_positions, p_position);
    if t.strategy_id is not null
       and not exists (select 1 from public.strategies s where s.id = t.strategy_id) then
        t.strategy_id := null;
    end if;
    if p.strategy_id is not null
       and not exists (select 1 from public.strategies s where s.id = p.strategy_id) then
        p.strategy_id := null;
    end if;
    t.id := coalesce(t.id, pg_catalog.gen_random_uuid());
    t.created_at := coalesce(t.created_at, pg_catalog.now());
    t.asset_class := coalesce(t.asset_class, 'crypto');
    insert into public.paper_trades select (t).*
    on conflict (id) do nothing
    returning id into inserted;
    if inserted is null then
        return;
    end if;
    delete from public.paper_positions c
     where c.user_id = p.user_id and c.exchange = p.exchange and c.symbol = p.symbol
    returning * into kept;
    p.id := coalesce(kept.id, pg_catalog.gen_random_uuid());
    p.created_at := coalesce(kept.created_at, pg_catalog.now());
    p.updated_at := pg_catalog.now();
    p.asset_class := coalesce(p.asset_class, 'crypto');
    insert into public.paper_positions select (p).*;
end;
$$;

revoke all on function public.record_paper_close(jsonb) from public, anon, authenticated;
grant execute on function public.record_paper_close(jsonb) to service_role;
revoke all on function public.record_paper_partial_close(jsonb, jsonb) from public, anon, authenticated;
grant execute on function public.record_paper_partial_close(jsonb, jsonb) to service_role;

notify pgrst, 'reload schema';
