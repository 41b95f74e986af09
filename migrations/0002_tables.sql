-- Every table Sparky and the SignalStudio dashboard share, with the original's names and columns
-- (Scribbles678/Sparky docs/schema, d9c7b68; strategy_validation_log from 3791e66).
-- `create table if not exists`: a table the dashboard already created is left as it is here;
-- 0003 brings such tables up to date. Migrations add, never rename.
--
-- Types: money, prices and quantities numeric (no scale cap: sub-satoshi prices fit); times
-- timestamptz; JSON jsonb; closed sets of values text + CHECK, except asset_class, which the
-- original made the enum asset_class_type.
-- positions, trades and webhook_requests mirror src/sparky/store/schema.sql (SQLite) column for
-- column, including Sparky's additions (tests/postgres/test_schema_parity.py).

do $$
begin
    if not exists (
        select 1 from pg_catalog.pg_type t
        join pg_catalog.pg_namespace n on n.oid = t.typnamespace
        where n.nspname = 'public' and t.typname = 'asset_class_type'
    ) then
        create type public.asset_class_type as enum ('forex', 'crypto', 'options', 'futures', 'stocks');
    end if;
end
$$;
-- The dashboard's type started as ('forex', 'crypto', 'options') and gained 'futures'.
alter type public.asset_class_type add value if not exists 'futures';
alter type public.asset_class_type add value if not exists 'stocks';

create table if not exists public.strategies (
    id                      uuid primary key default gen_random_uuid(),
    created_at              timestamptz default now(),
    updated_at              timestamptz default now(),
    name                    text not null,
    description             text,
    asset_class             public.asset_class_type,
    status                  text default 'inactive'
                            constraint strategies_status_check
                            check (status in ('active', 'inactive', 'testing')),
    total_trades            integer default 0,
    winning_trades          integer default 0,
    stop_loss_percent       numeric,
    take_profit_percent     numeric,
    notes                   text,
    user_id                 uuid references auth.users (id) on delete cascade,
    order_config            jsonb default '{}'::jsonb,
    ml_assistance_enabled   boolean default false,
    ml_config               jsonb default '{}'::jsonb
);

create table if not exists public.positions (
    id                      uuid primary key default gen_random_uuid(),
    created_at              timestamptz not null default now(),
    updated_at              timestamptz not null default now(),
    symbol                  text not null,
    side                    text not null,  -- BUY | SELL
    entry_price             numeric not null,
    entry_time              timestamptz not null,
    quantity                numeric not null,
    position_size_usd       numeric not null,
    stop_loss_price         numeric,
    take_profit_price       numeric,
    stop_loss_percent       numeric,
    take_profit_percent     numeric,
    entry_order_id          text,
    stop_loss_order_id      text,
    take_profit_order_id    text,
    current_price           numeric,
    unrealized_pnl_usd      numeric,
    unrealized_pnl_percent  numeric,
    last_price_update       timestamptz,
    notes                   text,
    asset_class             public.asset_class_type not null default 'crypto',
    strategy_id             uuid references public.strategies (id),
    exchange                text not null,
    user_id                 uuid not null references auth.users (id) on delete cascade,
    -- the original had unique (user_id, symbol): the same symbol on two exchanges collided
    constraint positions_user_exchange_symbol_key unique (user_id, exchange, symbol)
);

create table if not exists public.trades (
    id                      uuid primary key default gen_random_uuid(),
    created_at              timestamptz not null default now(),
    symbol                  text not null,
    side                    text not null,  -- side of the position that was closed: BUY | SELL
    entry_price             numeric not null,
    entry_time              timestamptz not null,
    exit_price              numeric not null,
    exit_time               timestamptz not null,
    quantity                numeric not null,
    position_size_usd       numeric not null,
    stop_loss_price         numeric,
    take_profit_price       numeric,
    stop_loss_percent       numeric,
    take_profit_percent     numeric,
    pnl_usd                 numeric not null,
    pnl_percent             numeric not null,
    is_winner               boolean not null,
    exit_reason             text not null,  -- MANUAL | STOP_LOSS | TAKE_PROFIT | REVERSAL | ...
    order_id                text,
    notes                   text,
    asset_class             public.asset_class_type not null default 'crypto',
    strategy_id             uuid references public.strategies (id),
    exchange                text not null,
    user_id                 uuid not null references auth.users (id) on delete cascade
);

create table if not exists public.webhook_requests (
    id                      uuid primary key default gen_random_uuid(),
    -- null only for single-tenant requests (legacy WEBHOOK_SECRET)
    user_id                 uuid references auth.users (id) on delete cascade,
    webhook_secret          text,  -- a fingerprint ("sha256:<12 hex>"), never the secret
    exchange                text,
    action                  text,
    symbol                  text,
    payload                 jsonb,  -- the body as received, secret removed
    status                  text not null default 'pending'
                            constraint webhook_requests_status_check
                            check (status in (
                                -- the original's
                                'pending', 'success', 'failed', 'rate_limited', 'processed',
                                -- Sparky's terminal states (store/base.py RequestStatus)
                                'skipped', 'rejected', 'expired', 'duplicate'
                            )),
    error_message           text,
    processed_at            timestamptz,
    created_at              timestamptz not null default now(),
    strategy_id             uuid references public.strategies (id) on delete set null,
    -- added by Sparky (Python)
    signal                  jsonb,  -- the normalised signal (crash recovery runs from it)
    idempotency_key         text,
    result                  jsonb,
    http_status             integer,
    source_ip               text
);

create table if not exists public.bot_credentials (
    id                      uuid primary key default gen_random_uuid(),
    label                   text not null,
    exchange                text not null,  -- 'webhook' rows hold a user's webhook secret
    environment             text default 'production',
    account_id              text,
    api_key                 text,
    api_secret              text,
    passphrase              text,
    webhook_secret          text,
    extra_metadata          jsonb default '{}'::jsonb,
    created_at              timestamptz default now(),
    updated_at              timestamptz default now(),
    user_id                 uuid references auth.users (id) on delete cascade,
    last_tested             timestamptz,
    constraint bot_credentials_user_exchange_env_unique unique (user_id, exchange, environment)
);

create table if not exists public.trade_settings_exchange (
    id                          uuid primary key default gen_random_uuid(),
    created_at                  timestamptz default now(),
    updated_at                  timestamptz default now(),
    exchange                    text not null,
    trading_hours_preset        text default '24/5',
    trading_window              jsonb default '["00:00", "23:59"]'::jsonb,
    max_trades_per_week         integer default 0,  -- 0 = unlimited
    allow_weekends              boolean default false,
    strike_tolerance_percent    numeric default 1,
    entry_limit_offset_percent  numeric default 1,
    max_signal_age_sec          integer default 10,
    auto_close_outside_window   boolean default true,
    max_open_positions          integer default 3,
    user_id                     uuid references auth.users (id) on delete cascade,
    max_loss_per_week_usd       numeric default 0,  -- 0 = unlimited
    constraint trade_settings_exchange_user_exchange_key unique (user_id, exchange)
);

create table if not exists public.trade_settings_global (
    id                      uuid primary key default gen_random_uuid(),
    created_at              timestamptz default now(),
    updated_at              timestamptz default now(),
    enabled                 boolean default true,
    trading_hours_preset    text default '24/5',
    trading_window          jsonb default '["00:00", "23:59"]'::jsonb,
    max_trades_per_day      integer default 0,
    max_position_size_usd   numeric default 0,
    take_profit_percent     numeric default 0,
    stop_loss_percent       numeric default 0,
    allow_weekends          boolean default false,
    news_filter             boolean default false,
    notes                   text,
    extra_settings          jsonb default '{}'::jsonb,
    user_id                 uuid references auth.users (id) on delete cascade
);

create table if not exists public.tradier_option_trades (
    id                      uuid primary key default gen_random_uuid(),
    created_at              timestamptz default now(),
    updated_at              timestamptz default now(),
    status                  text default 'pending_entry'
                            constraint tradier_option_trades_status_check
                            check (status in (
                                'pending_entry', 'open', 'cancelled', 'closed_tp', 'closed_sl',
                                'closed',
                                'pending'  -- the original's column default
                            )),
    strategy                text,
    underlying_symbol       text not null,
    option_symbol           text not null,
    option_type             text,  -- call | put
    strike_price            numeric,
    expiration_date         date,
    contract_size           integer default 100,
    quantity_contracts      numeric,
    entry_order_id          text,
    tp_order_id             text,
    sl_order_id             text,
    time_exit_order_id      text,
    entry_order             jsonb,
    tp_leg                  jsonb,
    sl_leg                  jsonb,
    time_exit_order         jsonb,
    entry_limit_price       numeric,
    tp_limit_price          numeric,
    sl_stop_price           numeric,
    sl_limit_price          numeric,
    cost_usd                numeric,
    pnl_usd                 numeric,
    pnl_percent             numeric,
    config_snapshot         jsonb default '{}'::jsonb,
    extra_metadata          jsonb default '{}'::jsonb,
    user_id                 uuid references auth.users (id) on delete cascade
);

create table if not exists public.subscriptions (
    id                      uuid primary key default gen_random_uuid(),
    user_id                 uuid not null unique references auth.users (id) on delete cascade,
    plan                    text not null default 'Free',  -- Free | Basic | Premium | Pro
    status                  text not null default 'active',
    stripe_subscription_id  text,
    stripe_customer_id      text,
    stripe_price_id         text,
    current_period_start    timestamptz,
    current_period_end      timestamptz,
    cancel_at_period_end    boolean default false,
    canceled_at             timestamptz,
    trial_start             timestamptz,
    trial_end               timestamptz,
    metadata                jsonb default '{}'::jsonb,
    created_at              timestamptz not null default now(),
    updated_at              timestamptz not null default now()
);

create table if not exists public.notifications (
    id                      uuid primary key default gen_random_uuid(),
    user_id                 uuid not null references auth.users (id) on delete cascade,
    type                    text not null
                            constraint notifications_type_check
                            check (type in ('info', 'success', 'warning', 'error', 'trade',
                                            'position', 'limit', 'system')),
    title                   text not null,
    message                 text not null,
    metadata                jsonb default '{}'::jsonb,
    read                    boolean default false,
    read_at                 timestamptz,
    created_at              timestamptz default now(),
    expires_at              timestamptz
);

create table if not exists public.notification_preferences (
    id                              uuid primary key default gen_random_uuid(),
    user_id                         uuid not null unique references auth.users (id) on delete cascade,
    notify_trade_success            boolean default true,
    notify_trade_failed             boolean default true,
    notify_position_closed_profit   boolean default true,
    notify_position_closed_loss     boolean default true,
    notify_take_profit_triggered    boolean default true,
    notify_stop_loss_triggered      boolean default true,
    notify_weekly_trade_limit       boolean default true,
    notify_weekly_loss_limit        boolean default true,
    notify_webhook_limit_warning    boolean default true,
    notify_webhook_limit_reached    boolean default true,
    notify_exchange_api_error       boolean default true,
    notify_invalid_credentials      boolean default true,
    notify_bot_disconnected         boolean default true,
    notify_bot_reconnected          boolean default false,
    notify_payment_failed           boolean default true,
    notify_subscription_expiring    boolean default true,
    notify_subscription_changed     boolean default true,
    created_at                      timestamptz default now(),
    updated_at                      timestamptz default now()
);

create table if not exists public.ai_strategies (
    id                      uuid primary key default gen_random_uuid(),
    user_id                 uuid not null references auth.users (id) on delete cascade,
    name                    text not null default 'My AI Strategy',
    status                  text default 'paused'
                            constraint ai_strategies_status_check
                            check (status in ('running', 'paused', 'backtesting', 'terminated')),
    risk_profile            text default 'balanced'
                            constraint ai_strategies_risk_profile_check
                            check (risk_profile in ('conservative', 'balanced', 'aggressive')),
    target_assets           text[] default '{BTCUSDT,ETHUSDT,SOLUSDT}'::text[],
    max_drawdown_percent    numeric default 20,
    target_sharpe           numeric default 1.6,
    leverage_max            integer default 10,
    performance_fee_percent numeric default 20,
    is_prop_allocation      boolean default false,
    is_paper_trading        boolean default false,
    created_at              timestamptz default now(),
    updated_at              timestamptz default now(),
    copy_override_percent   numeric default 15,
    is_public_leader        boolean default false,
    verified_badge          boolean default false,
    copiers_count           integer default 0
);

create table if not exists public.ai_trade_log (
    id                      uuid primary key default gen_random_uuid(),
    ai_strategy_id          uuid references public.ai_strategies (id) on delete cascade,
    user_id                 uuid not null references auth.users (id) on delete cascade,
    decision_json           jsonb not null,
    confidence_score        numeric
                            constraint ai_trade_log_confidence_score_check
                            check (confidence_score >= 0 and confidence_score <= 1),
    signal_action           text not null,
    symbol                  text not null,
    size_usd                numeric,
    actual_pnl              numeric,
    reasoning               text,
    created_at              timestamptz default now()
);

create table if not exists public.ai_trade_decisions (
    id                      uuid primary key default gen_random_uuid(),
    user_id                 uuid not null references auth.users (id) on delete cascade,
    strategy_id             uuid not null references public.ai_strategies (id) on delete cascade,
    decided_at              timestamptz default now(),
    market_snapshot         jsonb not null,
    orderbook_snapshot      jsonb,
    onchain_snapshot        jsonb,
    technical_indicators    jsonb not null,
    portfolio_state         jsonb not null default '{}'::jsonb,
    model_versions          text[] not null default '{llama-3.1-70b}'::text[],
    raw_responses           jsonb,
    parsed_decision         jsonb not null,
    confidence_final        numeric
                            constraint ai_trade_decisions_confidence_final_check
                            check (confidence_final >= 0 and confidence_final <= 1),
    signal_sent             boolean default false,
    pnl_1h                  numeric,
    pnl_24h                 numeric,
    max_favorable_excursion numeric,
    max_adverse_excursion   numeric,
    outcome_label           text generated always as (
                                case
                                    when pnl_1h > 0 then 'positive'
                                    when pnl_1h < 0 then 'negative'
                                    else 'neutral'
                                end
                            ) stored,
    created_at              timestamptz default now()
);

create table if not exists public.strategy_validation_log (
    id                      uuid primary key default gen_random_uuid(),
    created_at              timestamptz not null default now(),
    strategy_id             uuid references public.strategies (id) on delete cascade,
    user_id                 uuid not null references auth.users (id) on delete cascade,
    signal_timestamp        timestamptz not null default now(),
    symbol                  text,
    action                  text,
    price_at_signal         numeric,
    ml_confidence           numeric,
    confidence_threshold    numeric,
    validation_result       text not null
                            constraint strategy_validation_log_validation_result_check
                            check (validation_result in ('allowed', 'blocked')),
    market_context          jsonb,
    feature_scores          jsonb,
    decision_reasons        jsonb,  -- list of strings
    trade_executed          boolean
);
