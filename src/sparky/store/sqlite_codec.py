"""Row <-> record conversion for `SqliteStore`, and the SQL text that reads and writes those rows.

Column names equal the record field names, so one table of column kinds per record drives both
directions. Encoding: Decimal -> str (the NUMERIC column keeps integers and reals of up to 15
significant digits exactly), datetime -> ISO 8601 UTC text with a fixed microsecond part (so text
order is time order), dict -> compact JSON (Decimals become strings), bool -> 0/1.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sparky.store.base import PositionRecord, RequestStatus, TradeRecord, WebhookRequestRecord

R = TypeVar("R", PositionRecord, TradeRecord, WebhookRequestRecord)

_MONEY = frozenset(
    {
        "entry_price",
        "exit_price",
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
    }
)
_JSON = frozenset({"payload", "signal", "result"})
_BOOL = frozenset({"is_winner"})


def _columns(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


POSITION_COLUMNS = _columns(PositionRecord)
TRADE_COLUMNS = _columns(TradeRecord)
WEBHOOK_COLUMNS = _columns(WebhookRequestRecord)
_COLUMNS: dict[type, tuple[str, ...]] = {
    PositionRecord: POSITION_COLUMNS,
    TradeRecord: TRADE_COLUMNS,
    WebhookRequestRecord: WEBHOOK_COLUMNS,
}


def encode_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the store takes timezone-aware UTC times")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def decode_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:  # written by something else; the store's convention is UTC
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


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


def to_row(record: PositionRecord | TradeRecord | WebhookRequestRecord) -> dict[str, Any]:
    """SQL parameters (named by column) for a record."""
    return {name: _encode_value(name, getattr(record, name)) for name in _COLUMNS[type(record)]}


def from_row(cls: type[R], row: sqlite3.Row) -> R:
    """A new record from a row selected with all of `cls`'s columns."""
    values = {name: _decode_value(name, row[name]) for name in _COLUMNS[cls]}
    if cls is WebhookRequestRecord and values["payload"] is None:
        values["payload"] = {}
    return cls(**values)


# SQL text for those rows (column lists come from the records, table names are constants)


def _select(table: str, columns: tuple[str, ...]) -> str:
    return f"SELECT {', '.join(columns)} FROM {table}"  # constant names, no input


def _insert(table: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(columns)
    values = ", ".join(f":{c}" for c in columns)
    return f"INSERT INTO {table} ({names}) VALUES ({values})"


_KEY = ("user_id", "exchange", "symbol")
SELECT_REQUEST = _select("webhook_requests", WEBHOOK_COLUMNS)
SELECT_POSITION = _select("positions", POSITION_COLUMNS)
SELECT_TRADE = _select("trades", TRADE_COLUMNS)
INSERT_REQUEST = _insert("webhook_requests", WEBHOOK_COLUMNS)
INSERT_TRADE = _insert("trades", TRADE_COLUMNS)
UPSERT_POSITION = (
    _insert("positions", POSITION_COLUMNS)
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


def where(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """` WHERE a = ? AND b = ?` over the filters that are set (keys are our column names)."""
    given = {k: v for k, v in filters.items() if v is not None}
    if not given:
        return "", []
    return " WHERE " + " AND ".join(f"{k} = ?" for k in given), list(given.values())
