-- Sparky embedded store (SQLite). Applied on every open: every statement must be idempotent.
-- Table and column names follow the original Supabase schema that the SignalStudio dashboard reads;
-- add columns, never rename them. A column added to a table here is added to older files on open
-- (upgrade.py): it must be nullable or have a default.
-- Types: money and quantities NUMERIC (written as str(Decimal)), times ISO 8601 UTC text,
-- JSON as compact text, booleans INTEGER 0/1.

CREATE TABLE IF NOT EXISTS positions (
    id                      TEXT PRIMARY KEY,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL,
    symbol                  TEXT NOT NULL,
    side                    TEXT NOT NULL,
    entry_price             NUMERIC NOT NULL,
    entry_time              TEXT NOT NULL,
    quantity                NUMERIC NOT NULL,
    position_size_usd       NUMERIC NOT NULL,
    stop_loss_price         NUMERIC,
    take_profit_price       NUMERIC,
    stop_loss_percent       NUMERIC,
    take_profit_percent     NUMERIC,
    entry_order_id          TEXT,
    stop_loss_order_id      TEXT,
    take_profit_order_id    TEXT,
    trailing_stop_order_id  TEXT,
    current_price           NUMERIC,
    unrealized_pnl_usd      NUMERIC,
    unrealized_pnl_percent  NUMERIC,
    last_price_update       TEXT,
    notes                   TEXT,
    asset_class             TEXT NOT NULL DEFAULT 'crypto',
    strategy_id             TEXT,
    exchange                TEXT NOT NULL,
    user_id                 TEXT NOT NULL,
    -- added by Sparky (Python): the entry's fees not yet counted in a trade
    fees_usd                NUMERIC,
    -- added by Sparky (Python): the AI strategy whose signal opened it (ai_strategies.id)
    ai_strategy_id          TEXT,
    -- the original had UNIQUE (user_id, symbol): the same symbol on two exchanges collided
    UNIQUE (user_id, exchange, symbol)
);

CREATE TABLE IF NOT EXISTS trades (
    id                      TEXT PRIMARY KEY,
    created_at              TEXT NOT NULL,
    symbol                  TEXT NOT NULL,
    side                    TEXT NOT NULL,
    entry_price             NUMERIC NOT NULL,
    entry_time              TEXT NOT NULL,
    exit_price              NUMERIC NOT NULL,
    exit_time               TEXT NOT NULL,
    quantity                NUMERIC NOT NULL,
    position_size_usd       NUMERIC NOT NULL,
    stop_loss_price         NUMERIC,
    take_profit_price       NUMERIC,
    stop_loss_percent       NUMERIC,
    take_profit_percent     NUMERIC,
    pnl_usd                 NUMERIC NOT NULL,
    pnl_percent             NUMERIC NOT NULL,
    is_winner               INTEGER NOT NULL,
    exit_reason             TEXT NOT NULL,
    order_id                TEXT,
    notes                   TEXT,
    asset_class             TEXT NOT NULL DEFAULT 'crypto',
    strategy_id             TEXT,
    exchange                TEXT NOT NULL,
    user_id                 TEXT NOT NULL,
    -- added by Sparky (Python): entry + exit fees of the closed quantity; pnl_usd is net of them
    fees_usd                NUMERIC,
    -- added by Sparky (Python): the AI strategy whose signal opened the position (ai_strategies.id)
    ai_strategy_id          TEXT
);

CREATE INDEX IF NOT EXISTS trades_user_exit_time ON trades (user_id, exit_time);
CREATE INDEX IF NOT EXISTS trades_user_entry_time ON trades (user_id, entry_time);

CREATE TABLE IF NOT EXISTS webhook_requests (
    id                      TEXT PRIMARY KEY,
    user_id                 TEXT,
    webhook_secret          TEXT,  -- a fingerprint ("sha256:<12 hex>"), never the secret
    exchange                TEXT,
    action                  TEXT,
    symbol                  TEXT,
    payload                 TEXT,  -- JSON
    status                  TEXT NOT NULL,
    error_message           TEXT,
    processed_at            TEXT,
    created_at              TEXT NOT NULL,
    strategy_id             TEXT,
    -- added by Sparky (Python)
    signal                  TEXT,  -- JSON
    idempotency_key         TEXT,
    result                  TEXT,  -- JSON
    http_status             INTEGER,
    source_ip               TEXT,
    -- the server executing a pending request and until when (execution/leases.py); a file made
    -- before these columns existed gets them from upgrade.py
    lease_owner             TEXT,
    lease_expires_at        TEXT
);

-- One request per (user, idempotency key). ifnull() makes single-tenant requests (user_id NULL)
-- collide too: a plain (user_id, idempotency_key) index treats every NULL user as distinct.
CREATE UNIQUE INDEX IF NOT EXISTS webhook_requests_idempotency
    ON webhook_requests (ifnull(user_id, ''), idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Crash recovery scans only the (few) pending rows.
CREATE INDEX IF NOT EXISTS webhook_requests_pending
    ON webhook_requests (created_at)
    WHERE status = 'pending';

-- Quota counts: a user's requests this month.
CREATE INDEX IF NOT EXISTS webhook_requests_user_created
    ON webhook_requests (user_id, created_at);

-- Quota counts read only this partial index: it covers the query (status included, so no row is
-- read), and the refusals (rejected, duplicate, rate_limited: never executed, never counted) a user
-- over quota keeps sending are not in it. It replaces webhook_requests_user_counted, which left out
-- only rate_limited rows.
DROP INDEX IF EXISTS webhook_requests_user_counted;
CREATE INDEX IF NOT EXISTS webhook_requests_user_accepted
    ON webhook_requests (user_id, created_at, status)
    WHERE status NOT IN ('rejected', 'duplicate', 'rate_limited');

-- Weekly risk limits: trades a user opened (count) and closed (losses) on an exchange since Monday.
CREATE INDEX IF NOT EXISTS trades_user_exchange_entry_time
    ON trades (user_id, exchange, entry_time);
CREATE INDEX IF NOT EXISTS trades_user_exchange_exit_time
    ON trades (user_id, exchange, exit_time);

-- Limit entries resting on a venue, at most one per key (execution/resting.py). Not positions: the
-- dashboard reads `positions` for what is open. Counted toward the open-position limits; the next
-- signal for the key cancels the entry or adopts its fill. Same columns as
-- migrations/0008_resting_entries.sql.
CREATE TABLE IF NOT EXISTS resting_entries (
    id                      TEXT PRIMARY KEY,
    created_at              TEXT NOT NULL,
    user_id                 TEXT NOT NULL,
    exchange                TEXT NOT NULL,
    symbol                  TEXT NOT NULL,
    side                    TEXT NOT NULL,
    quantity                NUMERIC NOT NULL,
    limit_price             NUMERIC NOT NULL,
    stop_loss_price         NUMERIC,
    take_profit_price       NUMERIC,
    stop_loss_percent       NUMERIC,
    take_profit_percent     NUMERIC,
    client_order_id         TEXT NOT NULL,
    order_id                TEXT NOT NULL,
    request_id              TEXT NOT NULL,
    strategy_id             TEXT,
    ai_strategy_id          TEXT,
    UNIQUE (user_id, exchange, symbol)
);

-- Multi-tenant tables (store/tenants.py). Same table and column names, in the same order, as
-- migrations/0002_tables.sql; a column is NOT NULL here only where it is NOT NULL in PostgreSQL.

CREATE TABLE IF NOT EXISTS strategies (
    id                      TEXT PRIMARY KEY NOT NULL,
    created_at              TEXT,
    updated_at              TEXT,
    name                    TEXT NOT NULL,
    description             TEXT,
    asset_class             TEXT
                            CHECK (asset_class IN ('forex', 'crypto', 'options', 'futures', 'stocks')),
    status                  TEXT DEFAULT 'inactive'
                            CHECK (status IN ('active', 'inactive', 'testing')),
    total_trades            INTEGER DEFAULT 0,
    winning_trades          INTEGER DEFAULT 0,
    stop_loss_percent       NUMERIC,
    take_profit_percent     NUMERIC,
    notes                   TEXT,
    user_id                 TEXT,
    order_config            TEXT DEFAULT '{}',  -- JSON
    ml_assistance_enabled   INTEGER DEFAULT 0,
    ml_config               TEXT DEFAULT '{}'   -- JSON
);

CREATE INDEX IF NOT EXISTS strategies_user_status ON strategies (user_id, status);

-- ML pre-trade validation of entries on strategies with ml_assistance_enabled (docs/ML_VALIDATION.md,
-- execution/ml_screen.py): one row per entry asked about. Same columns as migrations/0002_tables.sql.
CREATE TABLE IF NOT EXISTS strategy_validation_log (
    id                      TEXT PRIMARY KEY NOT NULL,
    created_at              TEXT NOT NULL,
    strategy_id             TEXT REFERENCES strategies (id) ON DELETE CASCADE,
    user_id                 TEXT NOT NULL,
    signal_timestamp        TEXT NOT NULL,
    symbol                  TEXT,
    action                  TEXT,
    price_at_signal         NUMERIC,
    ml_confidence           NUMERIC,
    confidence_threshold    NUMERIC,
    validation_result       TEXT NOT NULL CHECK (validation_result IN ('allowed', 'blocked')),
    market_context          TEXT,  -- JSON
    feature_scores          TEXT,  -- JSON
    decision_reasons        TEXT,  -- JSON list of strings
    trade_executed          INTEGER
);

CREATE INDEX IF NOT EXISTS strategy_validation_log_strategy
    ON strategy_validation_log (strategy_id, signal_timestamp);

CREATE TABLE IF NOT EXISTS bot_credentials (
    id                      TEXT PRIMARY KEY NOT NULL,
    label                   TEXT NOT NULL,
    exchange                TEXT NOT NULL,  -- 'webhook' rows hold a user's webhook secret
    environment             TEXT DEFAULT 'production',
    account_id              TEXT,
    api_key                 TEXT,
    api_secret              TEXT,
    passphrase              TEXT,
    webhook_secret          TEXT,  -- plain (dashboard) or 'sha256:<64 hex>' (sparky users add)
    extra_metadata          TEXT DEFAULT '{}',  -- JSON
    created_at              TEXT,
    updated_at              TEXT,
    user_id                 TEXT,
    last_tested             TEXT,
    UNIQUE (user_id, exchange, environment)
);

-- Authenticate: the user whose webhook secret this is (by equality, never by scanning).
CREATE INDEX IF NOT EXISTS bot_credentials_webhook_secret
    ON bot_credentials (webhook_secret)
    WHERE exchange = 'webhook';

CREATE TABLE IF NOT EXISTS trade_settings_exchange (
    -- a NULL limit was never set and limits nothing (older files kept column defaults, which
    -- nothing relies on: every write names every column)
    id                          TEXT PRIMARY KEY NOT NULL,
    created_at                  TEXT,
    updated_at                  TEXT,
    exchange                    TEXT NOT NULL,
    trading_hours_preset        TEXT,
    trading_window              TEXT,  -- JSON ["HH:MM","HH:MM"] (custom preset)
    max_trades_per_week         INTEGER,  -- 0 = unlimited
    allow_weekends              INTEGER,
    strike_tolerance_percent    NUMERIC,
    entry_limit_offset_percent  NUMERIC,
    max_signal_age_sec          INTEGER,  -- 0 = not checked
    auto_close_outside_window   INTEGER,
    max_open_positions          INTEGER,  -- 0 = unlimited
    user_id                     TEXT,
    max_loss_per_week_usd       NUMERIC,  -- 0 = unlimited
    -- the dashboard's columns (migrations/0020): Sparky reads the first two and the options sizing
    enabled                     INTEGER,
    max_trades_per_day          INTEGER,  -- entries per UTC day; 0 = unlimited
    max_position_size_usd       NUMERIC,  -- an entry's size is capped here; 0 = no cap
    take_profit_percent         NUMERIC,
    stop_loss_percent           NUMERIC,
    news_filter                 INTEGER,
    notes                       TEXT,
    position_size_percent       NUMERIC,  -- options: share of buying power
    tp_percent                  NUMERIC,
    sl_percent                  NUMERIC,
    extra_settings              TEXT,  -- JSON
    UNIQUE (user_id, exchange)
);

CREATE TABLE IF NOT EXISTS subscriptions (
    id                      TEXT PRIMARY KEY NOT NULL,
    user_id                 TEXT NOT NULL UNIQUE,
    plan                    TEXT NOT NULL DEFAULT 'Free',  -- Free | Basic | Premium | Pro
    status                  TEXT NOT NULL DEFAULT 'active',
    stripe_subscription_id  TEXT,
    stripe_customer_id      TEXT,
    stripe_price_id         TEXT,
    current_period_start    TEXT,
    current_period_end      TEXT,
    cancel_at_period_end    INTEGER DEFAULT 0,
    canceled_at             TEXT,
    trial_start             TEXT,
    trial_end               TEXT,
    metadata                TEXT DEFAULT '{}',  -- JSON
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS notifications (
    id                      TEXT PRIMARY KEY NOT NULL,
    user_id                 TEXT NOT NULL,
    type                    TEXT NOT NULL CHECK (type IN ('info', 'success', 'warning', 'error',
                                                          'trade', 'position', 'limit', 'system')),
    title                   TEXT NOT NULL,
    message                 TEXT NOT NULL,
    metadata                TEXT DEFAULT '{}',  -- JSON
    read                    INTEGER DEFAULT 0,
    read_at                 TEXT,
    created_at              TEXT,
    expires_at              TEXT
);

CREATE INDEX IF NOT EXISTS notifications_user_created ON notifications (user_id, created_at);

CREATE TABLE IF NOT EXISTS notification_preferences (
    id                              TEXT PRIMARY KEY NOT NULL,
    user_id                         TEXT NOT NULL UNIQUE,
    notify_trade_success            INTEGER DEFAULT 1,
    notify_trade_failed             INTEGER DEFAULT 1,
    notify_position_closed_profit   INTEGER DEFAULT 1,
    notify_position_closed_loss     INTEGER DEFAULT 1,
    notify_take_profit_triggered    INTEGER DEFAULT 1,
    notify_stop_loss_triggered      INTEGER DEFAULT 1,
    notify_weekly_trade_limit       INTEGER DEFAULT 1,
    notify_weekly_loss_limit        INTEGER DEFAULT 1,
    notify_webhook_limit_warning    INTEGER DEFAULT 1,
    notify_webhook_limit_reached    INTEGER DEFAULT 1,
    notify_exchange_api_error       INTEGER DEFAULT 1,
    notify_invalid_credentials      INTEGER DEFAULT 1,
    notify_bot_disconnected         INTEGER DEFAULT 1,
    notify_bot_reconnected          INTEGER DEFAULT 0,
    notify_payment_failed           INTEGER DEFAULT 1,
    notify_subscription_expiring    INTEGER DEFAULT 1,
    notify_subscription_changed     INTEGER DEFAULT 1,
    created_at                      TEXT,
    updated_at                      TEXT,
    notify_protection_order_placed  INTEGER DEFAULT 1,
    notify_ai_ideas                 INTEGER DEFAULT 1,
    notify_urls                     TEXT  -- apprise URLs separated by spaces (docs/NOTIFICATIONS.md)
);

-- Embedded mode only (`sparky users add`): on Supabase, users live in auth.users.
CREATE TABLE IF NOT EXISTS users (
    id                      TEXT PRIMARY KEY NOT NULL,
    email                   TEXT,
    created_at              TEXT NOT NULL
);

-- AI strategies and what the AI worker records for them (store/ai.py, docs/AI_WORKER.md). Same
-- table and column names, in the same order, as migrations/0002_tables.sql and 0023: uuid -> TEXT,
-- text[] -> JSON array text, jsonb -> JSON text, boolean -> INTEGER 0/1, timestamptz -> ISO text.

CREATE TABLE IF NOT EXISTS ai_strategies (
    id                      TEXT PRIMARY KEY NOT NULL,
    user_id                 TEXT NOT NULL,
    name                    TEXT NOT NULL DEFAULT 'My AI Strategy',
    status                  TEXT DEFAULT 'paused'
                            CHECK (status IN ('running', 'paused', 'backtesting', 'terminated')),
    risk_profile            TEXT DEFAULT 'balanced'
                            CHECK (risk_profile IN ('conservative', 'balanced', 'aggressive')),
    target_assets           TEXT DEFAULT '["BTCUSDT","ETHUSDT","SOLUSDT"]',  -- JSON array
    max_drawdown_percent    NUMERIC DEFAULT 20,
    target_sharpe           NUMERIC DEFAULT 1.6,
    leverage_max            INTEGER DEFAULT 10,
    performance_fee_percent NUMERIC DEFAULT 20,
    is_prop_allocation      INTEGER DEFAULT 0,
    is_paper_trading        INTEGER DEFAULT 0,
    created_at              TEXT,
    updated_at              TEXT,
    copy_override_percent   NUMERIC DEFAULT 15,
    is_public_leader        INTEGER DEFAULT 0,
    verified_badge          INTEGER DEFAULT 0,
    copiers_count           INTEGER DEFAULT 0,
    -- added by Sparky (migrations/0023): the venue and the size of one position in USD
    exchange                TEXT,
    min_position_size_usd   NUMERIC,
    max_position_size_usd   NUMERIC
);

-- The worker reads the running strategies every cycle.
CREATE INDEX IF NOT EXISTS ai_strategies_status ON ai_strategies (status);

CREATE TABLE IF NOT EXISTS ai_trade_log (
    id                      TEXT PRIMARY KEY NOT NULL,
    ai_strategy_id          TEXT REFERENCES ai_strategies (id) ON DELETE CASCADE,
    user_id                 TEXT NOT NULL,
    decision_json           TEXT NOT NULL,  -- JSON
    confidence_score        NUMERIC CHECK (confidence_score >= 0 AND confidence_score <= 1),
    signal_action           TEXT NOT NULL,
    symbol                  TEXT NOT NULL,
    size_usd                NUMERIC,
    actual_pnl              NUMERIC,
    reasoning               TEXT,
    created_at              TEXT
);

CREATE INDEX IF NOT EXISTS ai_trade_log_strategy_id ON ai_trade_log (ai_strategy_id);

CREATE TABLE IF NOT EXISTS ai_trade_decisions (
    id                      TEXT PRIMARY KEY NOT NULL,
    user_id                 TEXT NOT NULL,
    strategy_id             TEXT NOT NULL REFERENCES ai_strategies (id) ON DELETE CASCADE,
    decided_at              TEXT,
    market_snapshot         TEXT NOT NULL,  -- JSON
    orderbook_snapshot      TEXT,  -- JSON
    onchain_snapshot        TEXT,  -- JSON
    technical_indicators    TEXT NOT NULL,  -- JSON
    portfolio_state         TEXT NOT NULL DEFAULT '{}',  -- JSON
    model_versions          TEXT NOT NULL DEFAULT '["llama-3.1-70b"]',  -- JSON array
    raw_responses           TEXT,  -- JSON
    parsed_decision         TEXT NOT NULL,  -- JSON
    confidence_final        NUMERIC CHECK (confidence_final >= 0 AND confidence_final <= 1),
    signal_sent             INTEGER DEFAULT 0,
    pnl_1h                  NUMERIC,
    pnl_24h                 NUMERIC,
    max_favorable_excursion NUMERIC,
    max_adverse_excursion   NUMERIC,
    webhook_status          INTEGER,  -- migrations/0024: the webhook's answer to the signal sent
    webhook_response        TEXT,  -- JSON
    outcome_label           TEXT GENERATED ALWAYS AS (
                                CASE WHEN pnl_1h > 0 THEN 'positive'
                                     WHEN pnl_1h < 0 THEN 'negative'
                                     ELSE 'neutral' END
                            ) VIRTUAL,
    created_at              TEXT
);

CREATE INDEX IF NOT EXISTS ai_trade_decisions_user_strategy ON ai_trade_decisions (user_id, strategy_id);

-- The AI worker's heartbeat (migrations/0023): one row per worker, replaced after every cycle.
CREATE TABLE IF NOT EXISTS ai_worker_heartbeats (
    worker_id               TEXT PRIMARY KEY NOT NULL,
    last_cycle_at           TEXT NOT NULL,
    cycle_duration_ms       INTEGER NOT NULL,
    strategies              INTEGER NOT NULL DEFAULT 0,
    decisions               INTEGER NOT NULL DEFAULT 0,
    errors                  INTEGER NOT NULL DEFAULT 0,
    updated_at              TEXT NOT NULL
);

-- Option positions opened on Tradier (`exchange: "tradier_options"`, store/option_trades.py). Same
-- table and column names, in the same order, as migrations/0002_tables.sql (user_id from 0003):
-- uuid -> TEXT, date -> ISO text, jsonb -> JSON text, timestamptz -> ISO text.
CREATE TABLE IF NOT EXISTS tradier_option_trades (
    id                      TEXT PRIMARY KEY NOT NULL,
    created_at              TEXT,
    updated_at              TEXT,
    status                  TEXT DEFAULT 'pending_entry'
                            CHECK (status IN ('pending_entry', 'open', 'cancelled', 'closed_tp', 'closed_sl',
                                              'closed', 'pending')),
    strategy                TEXT,
    underlying_symbol       TEXT NOT NULL,
    option_symbol           TEXT NOT NULL,
    option_type             TEXT,  -- call | put
    strike_price            NUMERIC,
    expiration_date         TEXT,  -- YYYY-MM-DD
    contract_size           INTEGER DEFAULT 100,
    quantity_contracts      NUMERIC,
    entry_order_id          TEXT,
    tp_order_id             TEXT,
    sl_order_id             TEXT,
    time_exit_order_id      TEXT,
    entry_order             TEXT,  -- JSON
    tp_leg                  TEXT,  -- JSON
    sl_leg                  TEXT,  -- JSON
    time_exit_order         TEXT,  -- JSON
    entry_limit_price       NUMERIC,
    tp_limit_price          NUMERIC,
    sl_stop_price           NUMERIC,
    sl_limit_price          NUMERIC,
    cost_usd                NUMERIC,
    pnl_usd                 NUMERIC,
    pnl_percent             NUMERIC,
    config_snapshot         TEXT DEFAULT '{}',  -- JSON
    extra_metadata          TEXT DEFAULT '{}',  -- JSON
    user_id                 TEXT
);

-- The monitor reads the rows still pending or open; closes look a user's rows up.
CREATE INDEX IF NOT EXISTS tradier_option_trades_status ON tradier_option_trades (status);
CREATE INDEX IF NOT EXISTS tradier_option_trades_user_id ON tradier_option_trades (user_id);
