-- AI signals at the webhook (docs/AI_WORKER.md, "The webhook side of AI signals").
-- A position opened by an AI strategy's signal, the trade that closes it and a resting limit entry
-- it placed keep the strategy's id (`ai_strategies.id`), apart from `strategy_id` (the `strategies`
-- table). Same columns as src/sparky/store/sqlite/schema.sql (tests/postgres/test_schema_parity.py).
-- No foreign key: a strategy deleted while its position is open must never make the trade's
-- insert fail (the close already happened on the venue); the id then names no strategy.
-- The paper tables get the column too (0021: they keep the live tables' columns); their RPCs copy
-- every column of the row, so only the live tables' RPCs are written again here.

alter table public.positions add column if not exists ai_strategy_id uuid;
alter table public.trades add column if not exists ai_strategy_id uuid;
alter table public.paper_positions add column if not exists ai_strategy_id uuid;
alter table public.paper_trades add column if not exists ai_strategy_id uuid;
alter table public.resting_entries add column if not exists ai_strategy_id uuid;

create index if not exists idx_trades_ai_strategy on public.trades (ai_strategy_id) where ai_strategy_id is not null;
create index if not exists idx_paper_trades_ai_strategy on public.paper_trades (ai_strategy_id)
    where ai_strategy_id is not null;

-- record_close(p_trade jsonb) -> void: as in 0019, and the trade keeps its ai_strategy_id.
create or replace function public.record_close(p_trade jsonb)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    t public.trades;
    inserted uuid;
begin
    t := pg_catalog.jsonb_populate_record(null::public.trades, p_trade);
    if t.strategy_id is not null
       and not exists (select 1 from public.strategies s where s.id = t.strategy_id) then
        t.strategy_id := null;
    end if;
    insert into public.trades (
        id, created_at, symbol, side, entry_price, entry_time, exit_price, exit_time, quantity,
        position_size_usd, stop_loss_price, take_profit_price, stop_loss_percent,
        take_profit_percent, pnl_usd, pnl_percent, is_winner, exit_reason, order_id, notes,
        asset_class, strategy_id, exchange, user_id, fees_usd, ai_strategy_id
    ) values (
        coalesce(t.id, pg_catalog.gen_random_uuid()), coalesce(t.created_at, pg_catalog.now()),
        t.symbol, t.side, t.entry_price, t.entry_time, t.exit_price, t.exit_time, t.quantity,
        t.position_size_usd, t.stop_loss_price, t.take_profit_price, t.stop_loss_percent,
        t.take_profit_percent, t.pnl_usd, t.pnl_percent, t.is_winner, t.exit_reason, t.order_id,
        t.notes, coalesce(t.asset_class, 'crypto'), t.strategy_id, t.exchange, t.user_id, t.fees_usd,
        t.ai_strategy_id
    )
    on conflict (id) do nothing
    returning id into inserted;
    if inserted is not null then
        if t.strategy_id is not null then
            update public.strategies s
               set total_trades = coalesce(s.total_trades, 0) + 1,
                   winning_trades = coalesce(s.winning_trades, 0) + case when t.is_winner then 1 else 0 end
             where s.id = t.strategy_id and s.user_id = t.user_id;
        end if;
        delete from public.positions p
         where p.user_id = t.user_id and p.exchange = t.exchange and p.symbol = t.symbol;
    end if;
end;
$$;

-- record_partial_close(p_trade jsonb, p_position jsonb) -> void
-- Part of a position closed (by hand on the venue, or a close order that filled only in part):
-- inserts the trade of that part and writes what stays open (p_position, keys named like positions
-- columns, matched by (user_id, exchange, symbol); inserted when absent) in one transaction.
-- Idempotent by trade id: a retry after a lost reply inserts nothing and writes nothing. A
-- strategy_id naming no strategy is stored as NULL, as in record_close. As in 0019, and the trade
-- and what stays open keep their ai_strategy_id.
create or replace function public.record_partial_close(p_trade jsonb, p_position jsonb)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    t public.trades;
    p public.positions;
    inserted uuid;
begin
    t := pg_catalog.jsonb_populate_record(null::public.trades, p_trade);
    p := pg_catalog.jsonb_populate_record(null::public.positions, p_position);
    if t.strategy_id is not null
       and not exists (select 1 from public.strategies s where s.id = t.strategy_id) then
        t.strategy_id := null;
    end if;
    if p.strategy_id is not null
       and not exists (select 1 from public.strategies s where s.id = p.strategy_id) then
        p.strategy_id := null;
    end if;
    insert into public.trades (
        id, created_at, symbol, side, entry_price, entry_time, exit_price, exit_time, quantity,
        position_size_usd, stop_loss_price, take_profit_price, stop_loss_percent,
        take_profit_percent, pnl_usd, pnl_percent, is_winner, exit_reason, order_id, notes,
        asset_class, strategy_id, exchange, user_id, fees_usd, ai_strategy_id
    ) values (
        coalesce(t.id, pg_catalog.gen_random_uuid()), coalesce(t.created_at, pg_catalog.now()),
        t.symbol, t.side, t.entry_price, t.entry_time, t.exit_price, t.exit_time, t.quantity,
        t.position_size_usd, t.stop_loss_price, t.take_profit_price, t.stop_loss_percent,
        t.take_profit_percent, t.pnl_usd, t.pnl_percent, t.is_winner, t.exit_reason, t.order_id,
        t.notes, coalesce(t.asset_class, 'crypto'), t.strategy_id, t.exchange, t.user_id, t.fees_usd,
        t.ai_strategy_id
    )
    on conflict (id) do nothing
    returning id into inserted;
    if inserted is null then
        return;
    end if;
    if t.strategy_id is not null then
        update public.strategies s
           set total_trades = coalesce(s.total_trades, 0) + 1,
               winning_trades = coalesce(s.winning_trades, 0) + case when t.is_winner then 1 else 0 end
         where s.id = t.strategy_id and s.user_id = t.user_id;
    end if;
    insert into public.positions as current (
        symbol, side, entry_price, entry_time, quantity, position_size_usd, stop_loss_price,
        take_profit_price, stop_loss_percent, take_profit_percent, entry_order_id,
        stop_loss_order_id, take_profit_order_id, current_price, unrealized_pnl_usd,
        unrealized_pnl_percent, last_price_update, notes, asset_class, strategy_id, exchange,
        user_id, fees_usd, ai_strategy_id
    ) values (
        p.symbol, p.side, p.entry_price, p.entry_time, p.quantity, p.position_size_usd,
        p.stop_loss_price, p.take_profit_price, p.stop_loss_percent, p.take_profit_percent,
        p.entry_order_id, p.stop_loss_order_id, p.take_profit_order_id, p.current_price,
        p.unrealized_pnl_usd, p.unrealized_pnl_percent, p.last_price_update, p.notes,
        coalesce(p.asset_class, 'crypto'), p.strategy_id, p.exchange, p.user_id, p.fees_usd,
        p.ai_strategy_id
    )
    on conflict (user_id, exchange, symbol) do update set
        side = excluded.side, entry_price = excluded.entry_price, entry_time = excluded.entry_time,
        quantity = excluded.quantity, position_size_usd = excluded.position_size_usd,
        stop_loss_price = excluded.stop_loss_price, take_profit_price = excluded.take_profit_price,
        stop_loss_percent = excluded.stop_loss_percent,
        take_profit_percent = excluded.take_profit_percent,
        entry_order_id = excluded.entry_order_id, stop_loss_order_id = excluded.stop_loss_order_id,
        take_profit_order_id = excluded.take_profit_order_id,
        current_price = excluded.current_price, unrealized_pnl_usd = excluded.unrealized_pnl_usd,
        unrealized_pnl_percent = excluded.unrealized_pnl_percent,
        last_price_update = excluded.last_price_update, notes = excluded.notes,
        asset_class = excluded.asset_class, strategy_id = excluded.strategy_id,
        fees_usd = excluded.fees_usd, ai_strategy_id = excluded.ai_strategy_id;
end;
$$;

revoke all on function public.record_partial_close(jsonb, jsonb) from public, anon, authenticated;
grant execute on function public.record_partial_close(jsonb, jsonb) to service_role;

revoke all on function public.record_close(jsonb) from public, anon, authenticated;
grant execute on function public.record_close(jsonb) to service_role;

-- PostgREST (Supabase) caches the schema: have it pick the new columns up now.
notify pgrst, 'reload schema';
