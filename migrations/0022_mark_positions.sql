-- The background price refresh: every open position's current price and unrealized P&L, written
-- in one request per cycle. PostgREST has no bulk update keyed by several columns, and an upsert
-- would insert a row a close had just deleted, so it is one function, one transaction.
--
-- mark_positions(p_marks jsonb) -> integer: p_marks is an array of objects
--   {id, user_id, exchange, symbol, side, quantity, entry_price,
--    current_price, unrealized_pnl_usd, unrealized_pnl_percent, last_price_update}
-- Each mark updates its row (positions, or paper_positions for the paper venue) only while the row
-- still has the id, side, quantity and entry price the mark was computed from: a position closed,
-- resized or replaced since is left as it is, never written back. Returns the rows written.
create or replace function public.mark_positions(p_marks jsonb)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    live integer;
    paper integer;
begin
    with marks as (
        select * from pg_catalog.jsonb_to_recordset(p_marks) as m (
            id uuid, user_id uuid, exchange text, symbol text, side text, quantity numeric,
            entry_price numeric, current_price numeric, unrealized_pnl_usd numeric,
            unrealized_pnl_percent numeric, last_price_update timestamptz)
    )
    update public.positions p
       set current_price = m.current_price, unrealized_pnl_usd = m.unrealized_pnl_usd,
           unrealized_pnl_percent = m.unrealized_pnl_percent, last_price_update = m.last_price_update
      from marks m
     where m.exchange <> 'paper' and p.id = m.id and p.user_id = m.user_id and p.exchange = m.exchange
       and p.symbol = m.symbol and p.side = m.side and p.quantity = m.quantity and p.entry_price = m.entry_price;
    get diagnostics live = row_count;
    with marks as (
        select * from pg_catalog.jsonb_to_recordset(p_marks) as m (
            id uuid, user_id uuid, exchange text, symbol text, side text, quantity numeric,
            entry_price numeric, current_price numeric, unrealized_pnl_usd numeric,
            unrealized_pnl_percent numeric, last_price_update timestamptz)
    )
    update public.paper_positions p
       set current_price = m.current_price, unrealized_pnl_usd = m.unrealized_pnl_usd,
           unrealized_pnl_percent = m.unrealized_pnl_percent, last_price_update = m.last_price_update
      from marks m
     where m.exchange = 'paper' and p.id = m.id and p.user_id = m.user_id and p.exchange = m.exchange
       and p.symbol = m.symbol and p.side = m.side and p.quantity = m.quantity and p.entry_price = m.entry_price;
    get diagnostics paper = row_count;
    return live + paper;
end;
$$;

revoke all on function public.mark_positions(jsonb) from public, anon, authenticated;
grant execute on function public.mark_positions(jsonb) to service_role;

notify pgrst, 'reload schema';
