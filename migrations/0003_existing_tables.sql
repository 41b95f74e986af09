-- Bring tables that an older dashboard (or the original Sparky) created up to the shape of 0002.
-- On a fresh database every statement here is a no-op. Only additions and relaxations: no column
-- is renamed, retyped or removed, and no CHECK is added to existing rows (the dashboard may write
-- values this file does not know).

-- Columns the original's own migrations added over time (multi-tenancy, exchanges, asset classes,
-- strategies, ML) and the columns Sparky (Python) adds.
alter table public.strategies
    add column if not exists user_id uuid references auth.users (id) on delete cascade,
    add column if not exists order_config jsonb default '{}'::jsonb,
    add column if not exists ml_assistance_enabled boolean default false,
    add column if not exists ml_config jsonb default '{}'::jsonb;

alter table public.positions
    add column if not exists asset_class public.asset_class_type default 'crypto',
    add column if not exists strategy_id uuid references public.strategies (id),
    add column if not exists exchange text,
    add column if not exists user_id uuid references auth.users (id) on delete cascade;

alter table public.trades
    add column if not exists asset_class public.asset_class_type default 'crypto',
    add column if not exists strategy_id uuid references public.strategies (id),
    add column if not exists exchange text,
    add column if not exists user_id uuid references auth.users (id) on delete cascade;

alter table public.webhook_requests
    add column if not exists strategy_id uuid references public.strategies (id) on delete set null,
    add column if not exists signal jsonb,
    add column if not exists idempotency_key text,
    add column if not exists result jsonb,
    add column if not exists http_status integer,
    add column if not exists source_ip text;
-- The original required user_id; single-tenant requests (legacy WEBHOOK_SECRET) have none.
alter table public.webhook_requests alter column user_id drop not null;

alter table public.bot_credentials
    add column if not exists environment text default 'production',
    add column if not exists webhook_secret text,
    add column if not exists extra_metadata jsonb default '{}'::jsonb,
    add column if not exists user_id uuid references auth.users (id) on delete cascade,
    add column if not exists last_tested timestamptz;

alter table public.trade_settings_exchange
    add column if not exists max_trades_per_week integer default 0,
    add column if not exists strike_tolerance_percent numeric default 1,
    add column if not exists entry_limit_offset_percent numeric default 1,
    add column if not exists max_signal_age_sec integer default 10,
    add column if not exists auto_close_outside_window boolean default true,
    add column if not exists max_open_positions integer default 3,
    add column if not exists user_id uuid references auth.users (id) on delete cascade,
    add column if not exists max_loss_per_week_usd numeric default 0;

alter table public.trade_settings_global
    add column if not exists user_id uuid references auth.users (id) on delete cascade;

alter table public.tradier_option_trades
    add column if not exists user_id uuid references auth.users (id) on delete cascade;

alter table public.ai_strategies
    add column if not exists is_paper_trading boolean default false,
    add column if not exists copy_override_percent numeric default 15,
    add column if not exists is_public_leader boolean default false,
    add column if not exists verified_badge boolean default false,
    add column if not exists copiers_count integer default 0;

-- positions are keyed by (user_id, exchange, symbol). The original's unique (user_id, symbol)
-- (and the first schema's unique (symbol)) made the same symbol on two exchanges collide: drop
-- every unique key on positions that does not include `exchange`, then add the new one.
do $$
declare
    key record;
begin
    for key in
        select i.indexrelid::regclass as index_name, c.conname
        from pg_catalog.pg_index i
        left join pg_catalog.pg_constraint c on c.conindid = i.indexrelid and c.contype = 'u'
        where i.indrelid = 'public.positions'::regclass
          and i.indisunique and not i.indisprimary
          and not exists (
              select 1 from pg_catalog.pg_attribute a
              where a.attrelid = i.indrelid and a.attnum = any (i.indkey) and a.attname = 'exchange'
          )
    loop
        if key.conname is not null then
            execute format('alter table public.positions drop constraint %I', key.conname);
        else
            execute format('drop index %s', key.index_name);
        end if;
    end loop;

    if not exists (
        select 1 from pg_catalog.pg_constraint
        where conrelid = 'public.positions'::regclass and conname = 'positions_user_exchange_symbol_key'
    ) then
        alter table public.positions
            add constraint positions_user_exchange_symbol_key unique (user_id, exchange, symbol);
    end if;
end
$$;
