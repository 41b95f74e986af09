-- Indexes for the queries Sparky runs on every webhook or every loop. Where the original had an
-- index on the same columns, its name is reused so that `if not exists` does not build a twin.

-- Authenticate: the user whose webhook secret this is (bot_credentials rows with exchange = 'webhook').
create index if not exists idx_bot_credentials_webhook_secret
    on public.bot_credentials (webhook_secret)
    where exchange = 'webhook';

-- Credentials of a user on an exchange: the unique key bot_credentials_user_exchange_env_unique.

-- Monthly webhook quota: a user's requests since the first of the month (UTC).
create index if not exists idx_webhook_requests_user_created
    on public.webhook_requests (user_id, created_at desc);

-- Crash recovery scans only the (few) pending rows.
create index if not exists idx_webhook_requests_pending
    on public.webhook_requests (created_at)
    where status = 'pending';

-- One request per (user, idempotency key). NULLS NOT DISTINCT makes single-tenant requests
-- (user_id null) collide too, like the SQLite store's ifnull(user_id, '') expression; a plain
-- column list (not an expression) lets PostgREST name it in on_conflict.
create unique index if not exists webhook_requests_idempotency
    on public.webhook_requests (user_id, idempotency_key) nulls not distinct
    where idempotency_key is not null;

-- Weekly risk limits: trades a user opened on an exchange since Monday (count) and closed since
-- Monday (losses); the dashboard's trade history by exit time.
create index if not exists idx_trades_user_exchange_entry_time
    on public.trades (user_id, exchange, entry_time);
create index if not exists idx_trades_user_exit_time
    on public.trades (user_id, exit_time);

-- Open positions by user (and by user + exchange): the leading columns of the unique key
-- positions_user_exchange_symbol_key serve both.

-- Dashboard lists.
create index if not exists idx_notifications_user_unread
    on public.notifications (user_id, read)
    where read = false;
create index if not exists idx_notifications_user_created
    on public.notifications (user_id, created_at desc);
create index if not exists idx_strategies_user_id_status
    on public.strategies (user_id, status);
create index if not exists idx_tradier_option_trades_status
    on public.tradier_option_trades (status);
create index if not exists idx_tradier_option_trades_user_id
    on public.tradier_option_trades (user_id);
create index if not exists idx_trade_settings_global_user_id
    on public.trade_settings_global (user_id);

-- AI worker: running strategies every cycle; decisions and logs per strategy.
create index if not exists idx_ai_strategies_status
    on public.ai_strategies (status);
create index if not exists idx_decisions_user_strategy
    on public.ai_trade_decisions (user_id, strategy_id);
create index if not exists idx_ai_trade_log_strategy_id
    on public.ai_trade_log (ai_strategy_id);
create index if not exists idx_strategy_validation_log_strategy
    on public.strategy_validation_log (strategy_id, signal_timestamp desc);
