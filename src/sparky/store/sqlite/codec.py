"""Row <-> record conversion for `SqliteStore`, and the SQL text that reads and writes the `Store`
tables (the tenant tables' SQL is in tenant_sql.py).

Column names equal the record field names, so one table of column kinds per record drives both
directions. Encoding: Decimal -> str (the NUMERIC column keeps integers and reals of up to 15
significant digits exactly), datetime -> ISO 8601 UTC text with a fixed microsecond part (so text
order is time order), dict -> compact JSON (Decimals become strings), bool -> 0/1.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import MISSING, fields
from decimal import Decimal
from typing import Any, TypeVar

from sparky.store.base import (
    DuplicateRequest,
    PositionRecord,
    RequestStatus,
    RestingEntryRecord,
    TradeRecord,
    WebhookRequestRecord,
    decode_time,
    encode_time,
)
from sparky.store.tenants import CredentialRecord, NotificationRecord, StrategyRecord, TradeSettings

R = TypeVar("R", PositionRecord, TradeRecord, WebhookRequestRecord, RestingEntryRecord)

_MONEY = frozenset(
    {
        "entry_price",
        "exit_price",
        "limit_price",
        "quantity",
        "position_size_usd",
        "stop_loss_price",
        "take_profit_price",
        "stop_loss_percent",
        "take_profit_percent",
        "current_price",
        "unrealized_pnl_usd",
        "unrealized_pnl_percent",
        "pnl_usd",
        "pnl_percent",
        "fees_usd",
    }
)
_TIMES = frozenset(
    {
        "created_at",
        "updated_at",
        "entry_time",
        "exit_time",
        "last_price_update",
        "processed_at",
        "lease_expires_at",
    }
)
_JSON = frozenset({"payload", "signal", "result"})
_BOOL = frozenset({"is_winner"})


def _columns(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


POSITION_COLUMNS = _columns(PositionRecord)
TRADE_COLUMNS = _columns(TradeRecord)
WEBHOOK_COLUMNS = _columns(WebhookRequestRecord)
RESTING_COLUMNS = _columns(RestingEntryRecord)
_COLUMNS: dict[type, tuple[str, ...]] = {
    PositionRecord: POSITION_COLUMNS,
    TradeRecord: TRADE_COLUMNS,
    WebhookRequestRecord: WEBHOOK_COLUMNS,
    RestingEntryRecord: RESTING_COLUMNS,
}


def encode_decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def decode_decimal(value: int | float | str | None) -> Decimal | None:
    # NUMERIC hands back int, float or str; str(float) is the shortest text that round-trips.
    return None if value is None else Decimal(str(value))


def encode_json(value: dict[str, Any] | None) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=str, separators=(",", ":"))


def decode_json(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def _encode_value(name: str, value: Any) -> Any:
    if name in _MONEY:
        return encode_decimal(value)
    if name in _TIMES:
        return encode_time(value)
    if name in _JSON:
        return encode_json(value)
    if name in _BOOL:
        return None if value is None else int(bool(value))
    if name == "status":
        return RequestStatus(value).value
    return value


def _decode_value(name: str, value: Any) -> Any:
    if name in _MONEY:
        return decode_decimal(value)
    if name in _TIMES:
        return decode_time(value)
    if name in _JSON:
        return decode_json(value)
    if name in _BOOL:
        return None if value is None else bool(value)
    if name == "status":
        return RequestStatus(value)
    return value


def to_row(record: PositionRecord | TradeRecord | WebhookRequestRecord | RestingEntryRecord) -> dict[str, Any]:
    """SQL parameters (named by column) for a record."""
    return {name: _encode_value(name, getattr(record, name)) for name in _COLUMNS[type(record)]}


def from_row(cls: type[R], row: sqlite3.Row) -> R:
    """A new record from a row selected with all of `cls`'s columns."""
    values = {name: _decode_value(name, row[name]) for name in _COLUMNS[cls]}
    if cls is WebhookRequestRecord and values["payload"] is None:
        values["payload"] = {}
    return cls(**values)


# SQL text for those rows (column lists come from the records, table names are constants)


def select_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"SELECT {', '.join(columns)} FROM {table}"  # constant names, no input


def insert_sql(table: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(columns)
    values = ", ".join(f":{c}" for c in columns)
    return f"INSERT INTO {table} ({names}) VALUES ({values})"


_KEY = ("user_id", "exchange", "symbol")
SELECT_REQUEST = select_sql("webhook_requests", WEBHOOK_COLUMNS)
SELECT_POSITION = select_sql("positions", POSITION_COLUMNS)
SELECT_TRADE = select_sql("trades", TRADE_COLUMNS)
INSERT_REQUEST = insert_sql("webhook_requests", WEBHOOK_COLUMNS)
INSERT_TRADE = insert_sql("trades", TRADE_COLUMNS)
#: a recorded trade counts on its strategy (the dashboard's strategy pages): in the same write job
#: as the trade insert, so the counters are exactly the trades, whatever closes at the same time
COUNT_STRATEGY_TRADE = (
    "UPDATE strategies SET total_trades = COALESCE(total_trades, 0) + 1,"
    " winning_trades = COALESCE(winning_trades, 0) + :won WHERE id = :strategy_id AND user_id = :user_id"
)
UPSERT_POSITION = (
    insert_sql("positions", POSITION_COLUMNS)
    + f" ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET "
    + ", ".join(
        f"{c} = excluded.{c}" for c in POSITION_COLUMNS if c not in {"id", "created_at", *_KEY}
    )
)
FINISH_REQUEST = (
    "UPDATE webhook_requests SET status = :status, error_message = :error_message,"
    " result = :result, http_status = :http_status, processed_at = :processed_at"
    " WHERE id = :id AND status = 'pending'"
)
DELETE_POSITION = "DELETE FROM positions WHERE user_id = ? AND exchange = ? AND symbol = ?"
SELECT_RESTING = select_sql("resting_entries", RESTING_COLUMNS)
# a new entry for the key replaces the old one, row and all (the id stays)
UPSERT_RESTING = (
    insert_sql("resting_entries", RESTING_COLUMNS)
    + f" ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in RESTING_COLUMNS if c not in {"id", *_KEY})
)
DELETE_RESTING = (
    "DELETE FROM resting_entries WHERE user_id = ? AND exchange = ? AND symbol = ? AND client_order_id = ?"
)


def existing_request(conn: sqlite3.Connection, row: dict[str, Any]) -> str | None:
    """The id of the row an insert of `row` collided with (idempotency key first, then id)."""
    if row["idempotency_key"] is not None:
        found = conn.execute(
            "SELECT id FROM webhook_requests WHERE ifnull(user_id, '') = ifnull(:user_id, '')"
            " AND idempotency_key = :idempotency_key",
            row,
        ).fetchone()
        if found is not None:
            return str(found[0])
    found = conn.execute("SELECT id FROM webhook_requests WHERE id = :id", row).fetchone()
    return None if found is None else str(found[0])


def insert_request(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    """Insert a webhook_requests row; DuplicateRequest when its idempotency key or id is taken."""
    try:
        conn.execute(INSERT_REQUEST, row)
    except sqlite3.IntegrityError as err:
        existing = existing_request(conn, row)
        if existing is None:
            raise
        raise DuplicateRequest(existing) from err


def where(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """` WHERE a = ? AND b = ?` over the filters that are set (keys are our column names)."""
    given = {k: v for k, v in filters.items() if v is not None}
    if not given:
        return "", []
    return " WHERE " + " AND ".join(f"{k} = ?" for k in given), list(given.values())


# Tenant records (tenants.py). Their column kinds are listed per record: a name such as
# `status` means a different thing in each table. A NULL column comes back as the record field's
# default (None for every trade setting: a limit nobody set limits nothing).

TR = TypeVar("TR", CredentialRecord, TradeSettings, StrategyRecord, NotificationRecord)

_TENANT_KINDS: dict[type, dict[str, str]] = {
    CredentialRecord: {"extra_metadata": "json", "created_at": "time", "updated_at": "time"},
    TradeSettings: {
        "trading_window": "json",
        "max_loss_per_week_usd": "decimal",
        "strike_tolerance_percent": "decimal",
        "entry_limit_offset_percent": "decimal",
        "max_position_size_usd": "decimal",
        "position_size_percent": "decimal",
        "allow_weekends": "bool",
        "auto_close_outside_window": "bool",
    },
    StrategyRecord: {
        "stop_loss_percent": "decimal",
        "take_profit_percent": "decimal",
        "order_config": "json",
        "ml_assistance_enabled": "bool",
        "ml_config": "json",
    },
    NotificationRecord: {"metadata": "json", "read": "bool", "created_at": "time"},
}
TENANT_COLUMNS: dict[type, tuple[str, ...]] = {cls: _columns(cls) for cls in _TENANT_KINDS}
_ENCODE: dict[str, Callable[[Any], Any]] = {
    "json": encode_json,
    "time": encode_time,
    "decimal": encode_decimal,
    "bool": lambda v: None if v is None else int(bool(v)),
}
_DECODE = {
    "json": decode_json,
    "time": decode_time,
    "decimal": decode_decimal,
    "bool": lambda v: None if v is None else bool(v),
}


def _field_default(cls: type, name: str) -> Any:
    for f in fields(cls):
        if f.name == name:
            if f.default is not MISSING:
                return f.default
            if f.default_factory is not MISSING:
                return f.default_factory()
    return None


def tenant_row(
    record: CredentialRecord | TradeSettings | StrategyRecord | NotificationRecord,
) -> dict[str, Any]:
    """SQL parameters (named by column) for a tenant record."""
    kinds = _TENANT_KINDS[type(record)]
    row: dict[str, Any] = {}
    for name in TENANT_COLUMNS[type(record)]:
        value = getattr(record, name)
        kind = kinds.get(name)
        row[name] = value if kind is None else _ENCODE[kind](value)
    return row


def tenant_from_row(cls: type[TR], row: sqlite3.Row) -> TR:
    """A new tenant record from a row selected with all of `cls`'s columns."""
    kinds = _TENANT_KINDS[cls]
    values: dict[str, Any] = {}
    for name in TENANT_COLUMNS[cls]:
        raw = row[name]
        kind = kinds.get(name)
        value = raw if kind is None or raw is None else _DECODE[kind](raw)
        values[name] = _field_default(cls, name) if value is None else value
    return cls(**values)
