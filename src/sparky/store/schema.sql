-- Sparky embedded store (SQLite). Applied on every open: every statement must be idempotent.
-- Table and column names follow the original Supabase schema that the SignalStudio dashboard reads;
-- add columns, never rename them.
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
    current_price           NUMERIC,
    unrealized_pnl_usd      NUMERIC,
    unrealized_pnl_percent  NUMERIC,
    last_price_update       TEXT,
    notes                   TEXT,
    asset_class             TEXT NOT NULL DEFAULT 'crypto',
    strategy_id             TEXT,
    exchange                TEXT NOT NULL,
    user_id                 TEXT NOT NULL,
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
    user_id                 TEXT NOT NULL
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
    source_ip               TEXT
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
