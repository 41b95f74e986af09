-- The columns of trade_settings_exchange that the SignalStudio dashboard's Trade Settings form
-- writes on every save and that earlier migrations did not create: without them a save on a
-- database created by these migrations fails. Add-only; the dashboard's own defaults, in exact
-- `numeric` like every shared amount. Sparky enforces `max_trades_per_day` (entries per UTC day)
-- and `max_position_size_usd` (an entry's size is capped there); 0 or NULL limits nothing.
alter table public.trade_settings_exchange
    add column if not exists enabled boolean default true,
    add column if not exists max_trades_per_day integer default 0,
    add column if not exists max_position_size_usd numeric default 0,
    add column if not exists take_profit_percent numeric default 0,
    add column if not exists stop_loss_percent numeric default 0,
    add column if not exists news_filter boolean default false,
    add column if not exists notes text,
    add column if not exists position_size_percent numeric default 0,
    add column if not exists tp_percent numeric default 5,
    add column if not exists sl_percent numeric default 8,
    add column if not exists extra_settings jsonb default '{}'::jsonb;
