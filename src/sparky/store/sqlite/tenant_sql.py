"""SQL text for the `TenantStore` tables of `SqliteStore` (tenants.py): secrets, credentials, plans
and the monthly count, trade settings, strategies, notifications, local users. Column lists come
from the records (codec.TENANT_COLUMNS); table names are constants.
"""

from __future__ import annotations

from sparky.store.sqlite.codec import TENANT_COLUMNS, select_sql
from sparky.store.tenants import CredentialRecord, NotificationRecord, StrategyRecord, TradeSettings

#: notification_preferences booleans and their column defaults (original-sparky.md §3)
PREFERENCE_DEFAULTS: dict[str, bool] = {
    name: name != "notify_bot_reconnected"
    for name in (
        "notify_trade_success",
        "notify_trade_failed",
        "notify_position_closed_profit",
        "notify_position_closed_loss",
        "notify_take_profit_triggered",
        "notify_stop_loss_triggered",
        "notify_weekly_trade_limit",
        "notify_weekly_loss_limit",
        "notify_webhook_limit_warning",
        "notify_webhook_limit_reached",
        "notify_exchange_api_error",
        "notify_invalid_credentials",
        "notify_bot_disconnected",
        "notify_bot_reconnected",
        "notify_payment_failed",
        "notify_subscription_expiring",
        "notify_subscription_changed",
        "notify_protection_order_placed",
        "notify_ai_ideas",
    )
}


def _upsert(table: str, columns: tuple[str, ...], key: tuple[str, ...]) -> str:
    """INSERT of every column; on a `key` conflict every other column but id and created_at."""
    kept = {"id", "created_at", *key}
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in columns if c not in kept)
    )


_CREDENTIAL_COLUMNS = TENANT_COLUMNS[CredentialRecord]
_SETTINGS_COLUMNS = TENANT_COLUMNS[TradeSettings]
_STRATEGY_COLUMNS = TENANT_COLUMNS[StrategyRecord]
_NOTIFICATION_COLUMNS = TENANT_COLUMNS[NotificationRecord]
_STAMPS = ("created_at", "updated_at")

# Secrets: equality on the partial index bot_credentials_webhook_secret (exchange = 'webhook').
SELECT_SECRET_OWNERS = (
    "SELECT webhook_secret, user_id FROM bot_credentials"
    " WHERE exchange = 'webhook' AND environment = 'production'"
    " AND webhook_secret IS NOT NULL AND webhook_secret <> '' AND user_id IS NOT NULL"
)
FIND_SECRET_OWNER = (
    "SELECT webhook_secret, user_id FROM bot_credentials"
    " WHERE exchange = 'webhook' AND webhook_secret IN (?, ?)"
    " AND environment = 'production' AND user_id IS NOT NULL"
)
SELECT_CREDENTIALS = (
    select_sql("bot_credentials", _CREDENTIAL_COLUMNS)
    + " WHERE user_id = ? AND exchange = ? AND environment = ?"
)
UPSERT_CREDENTIALS = _upsert(
    "bot_credentials", _CREDENTIAL_COLUMNS, ("user_id", "exchange", "environment")
)
SELECT_PLAN = (
    "SELECT plan FROM subscriptions WHERE user_id = ? AND status = 'active'"
    " ORDER BY created_at DESC LIMIT 1"
)
# The requests accepted for execution (RequestStatus.counts_toward_quota), as PostgreSQL counts them
# (migrations/0010); the status condition is spelled exactly as the partial index
# webhook_requests_user_accepted has it, so the count reads that index alone.
COUNT_MONTH_REQUESTS = (
    "SELECT count(*) FROM webhook_requests WHERE user_id = ? AND created_at >= ?"
    " AND created_at < ? AND status NOT IN ('rejected', 'duplicate', 'rate_limited')"
)
SELECT_SETTINGS = (
    select_sql("trade_settings_exchange", _SETTINGS_COLUMNS) + " WHERE user_id = ? AND exchange = ?"
)
UPSERT_SETTINGS = _upsert(
    "trade_settings_exchange", _SETTINGS_COLUMNS + _STAMPS, ("user_id", "exchange")
)
# trades entered this week: closed ones (trades) and those still open (positions)
COUNT_TRADES_SINCE = (
    "SELECT (SELECT count(*) FROM trades WHERE user_id = ? AND exchange = ? AND entry_time >= ?)"
    " + (SELECT count(*) FROM positions WHERE user_id = ? AND exchange = ? AND entry_time >= ?)"
)
# summed in Python, as Decimals: a SQL sum() would add floats
LOSSES_SINCE = (
    "SELECT pnl_usd FROM trades WHERE user_id = ? AND exchange = ? AND exit_time >= ?"
    " AND pnl_usd < 0"
)
SELECT_STRATEGY = select_sql("strategies", _STRATEGY_COLUMNS)
SAME_NAME_STRATEGY = (
    "SELECT id FROM strategies WHERE user_id = :user_id AND name = :name"
    " ORDER BY created_at DESC, rowid DESC LIMIT 1"
)
INSERT_STRATEGY = (
    f"INSERT INTO strategies ({', '.join(_STRATEGY_COLUMNS + _STAMPS)})"
    f" VALUES ({', '.join(':' + c for c in _STRATEGY_COLUMNS + _STAMPS)})"
)
UPDATE_STRATEGY = (
    "UPDATE strategies SET "
    + ", ".join(f"{c} = :{c}" for c in _STRATEGY_COLUMNS if c not in {"id", "user_id"})
    + ", updated_at = :updated_at WHERE id = :id AND user_id = :user_id"
)
SELECT_PREFERENCES = (
    f"SELECT {', '.join(PREFERENCE_DEFAULTS)} FROM notification_preferences WHERE user_id = ?"
)
INSERT_NOTIFICATION = (
    f"INSERT INTO notifications ({', '.join(_NOTIFICATION_COLUMNS)})"
    f" VALUES ({', '.join(':' + c for c in _NOTIFICATION_COLUMNS)})"
)
LIST_NOTIFICATIONS = (
    select_sql("notifications", _NOTIFICATION_COLUMNS)
    + " WHERE user_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?"
)
UPSERT_SUBSCRIPTION = (
    "INSERT INTO subscriptions (id, user_id, plan, status, created_at, updated_at)"
    " VALUES (:id, :user_id, :plan, 'active', :now, :now)"
    " ON CONFLICT (user_id) DO UPDATE SET plan = excluded.plan, status = 'active',"
    " updated_at = excluded.updated_at"
)
LIST_LOCAL_USERS = (
    "SELECT u.id, u.email, u.created_at, s.plan, s.status FROM users u"
    " LEFT JOIN subscriptions s ON s.user_id = u.id ORDER BY u.created_at, u.id"
)
USER_EXISTS = "SELECT 1 FROM users WHERE id = :user_id UNION ALL SELECT 1 FROM subscriptions WHERE user_id = :user_id"
