"""Record <-> PostgREST JSON for `SupabaseStore`.

Writes: Decimal -> JSON string (PostgreSQL parses it into `numeric` exactly; a JSON number would
pass through a float somewhere), datetime -> ISO 8601 UTC string, dict -> JSON object with any
Decimal inside turned into a string (as the SQLite store does).
Reads: every `numeric` column is selected as `col::text` (PostgREST keeps the key `col`), because
supabase-py decodes JSON numbers into floats; a float cannot carry a price like
0.000012345678901234567. Timestamps come back as ISO 8601 strings in the session's time zone and
are converted to aware UTC.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import MISSING, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sparky.store.base import (
    PositionRecord,
    PriceMark,
    RequestStatus,
    RestingEntryRecord,
    TradeRecord,
    WebhookRequestRecord,
    decode_time,
    encode_time,
)
from sparky.store.tenants import (
    CredentialRecord,
    NotificationRecord,
    StrategyRecord,
    TradeSettings,
)

R = TypeVar("R")

#: `numeric` columns of every table the store reads (selected as `col::text`)
NUMERIC = frozenset({
    "entry_price", "exit_price", "limit_price", "quantity", "position_size_usd", "stop_loss_price",
    "take_profit_price", "stop_loss_percent", "take_profit_percent", "current_price",
    "unrealized_pnl_usd", "unrealized_pnl_percent", "pnl_usd", "pnl_percent", "fees_usd",
    "max_loss_per_week_usd", "strike_tolerance_percent", "entry_limit_offset_percent",
    "max_position_size_usd", "position_size_percent",
    # AI strategies, decisions and trade log (store/ai.py)
    "max_drawdown_percent", "target_sharpe", "performance_fee_percent", "copy_override_percent",
    "min_position_size_usd", "confidence_final", "pnl_1h", "pnl_24h", "max_favorable_excursion",
    "max_adverse_excursion", "confidence_score", "size_usd", "actual_pnl",
    # ML pre-trade validation (store/validation_log.py)
    "price_at_signal", "ml_confidence", "confidence_threshold",
    # option trades (store/option_trades.py)
    "strike_price", "quantity_contracts", "entry_limit_price", "tp_limit_price", "sl_stop_price",
    "sl_limit_price", "cost_usd",
})  # fmt: skip
TIMES = frozenset({
    "created_at", "updated_at", "entry_time", "exit_time", "last_price_update", "processed_at",
    "lease_expires_at", "decided_at", "last_cycle_at", "signal_timestamp",
})  # fmt: skip
#: `date` columns (ISO YYYY-MM-DD both ways)
DATES = frozenset({"expiration_date"})
JSON_OBJECTS = frozenset({"payload", "signal", "result", "extra_metadata", "order_config", "metadata", "ml_config"})


def logic_value(value: str) -> str:
    """A value inside a PostgREST logic tree (`or=(…)`): double-quoted, `\\` and `"` escaped, so
    commas, dots, colons and parentheses in it are data (PostgREST's pQuotedValue)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def columns(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def select_list(cls: type) -> str:
    """PostgREST `select=` for a record: its columns, numeric ones cast to text."""
    return ",".join(f"{c}::text" if c in NUMERIC else c for c in columns(cls))


def is_uuid(value: object) -> bool:
    """True for a canonical UUID string (what a PostgreSQL `uuid` column can hold)."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True




def like_literal(value: str) -> str:
    """`value` as a LIKE pattern matching itself: `\\`, `%` and `_` escaped."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# values






def encode_decimal(value: Decimal | int | None) -> str | None:
    return None if value is None else str(value)


def decode_decimal(value: str | float | None) -> Decimal | None:
    # `col::text` hands back the exact text; str() keeps an int exact and a float's shortest form
    return None if value is None else Decimal(str(value))


def encode_json(value: Any) -> Any:
    """A JSON-ready copy: Decimals (and anything else json cannot take) become strings."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str, separators=(",", ":")))


def encode_value(name: str, value: Any) -> Any:
    if isinstance(value, Decimal):
        return encode_decimal(value)
    if isinstance(value, datetime):
        return encode_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if name in JSON_OBJECTS or isinstance(value, dict | list):
        return encode_json(value)
    if isinstance(value, RequestStatus):
        return value.value
    return value


def decode_value(name: str, value: Any) -> Any:
    if name in NUMERIC:
        return decode_decimal(value)
    if name in TIMES:
        return decode_time(value)
    if name in DATES and isinstance(value, str):
        return date.fromisoformat(value)
    return value


# rows


def to_row(record: Any, *, omit: frozenset[str] = frozenset()) -> dict[str, Any]:
    """JSON body for a record: every field (named like its column) except `omit`."""
    return {
        name: encode_value(name, getattr(record, name))
        for name in columns(type(record))
        if name not in omit
    }


def from_row(cls: type[R], row: dict[str, Any]) -> R:
    """A record from a row selected with `select_list(cls)`. A NULL in a column whose record field
    has a default (the dashboard may leave those columns empty) takes the default."""
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        value = decode_value(f.name, row.get(f.name))
        defaulted = f.default is not MISSING and f.default is not None
        if value is not None or not (defaulted or f.default_factory is not MISSING):
            values[f.name] = value
    if cls is WebhookRequestRecord:
        values["status"] = RequestStatus(values["status"])
        values.setdefault("payload", {})
    return cls(**values)


def _strategy_ref(row: dict[str, Any]) -> dict[str, Any]:
    """`strategy_id` columns are uuids referencing strategies, but the value comes from a webhook,
    which may name anything: one that is not a uuid is written as NULL (the request's payload keeps
    what the alert said) rather than failing the write."""
    if row.get("strategy_id") is not None and not is_uuid(row["strategy_id"]):
        row["strategy_id"] = None
    return row


def webhook_row(record: WebhookRequestRecord) -> dict[str, Any]:
    return _strategy_ref(to_row(record))


def position_row(position: PositionRecord) -> dict[str, Any]:
    # id, created_at: the database's on insert, untouched on update; updated_at: its trigger
    return _strategy_ref(to_row(position, omit=frozenset({"id", "created_at", "updated_at"})))


def mark_rows(marks: Sequence[PriceMark]) -> list[dict[str, Any]]:
    """`mark_positions`' argument (migrations/0022); a mark for a row whose id is no uuid names no row."""
    return [{
        "id": m.position_id, "user_id": m.user_id, "exchange": m.exchange, "symbol": m.symbol, "side": m.side,
        "quantity": encode_decimal(m.quantity), "entry_price": encode_decimal(m.entry_price),
        "current_price": encode_decimal(m.current_price), "unrealized_pnl_usd": encode_decimal(m.unrealized_pnl_usd),
        "unrealized_pnl_percent": encode_decimal(m.unrealized_pnl_percent),
        "last_price_update": encode_time(m.last_price_update),
    } for m in marks if is_uuid(m.position_id)]  # fmt: skip


def trade_row(trade: TradeRecord) -> dict[str, Any]:
    return _strategy_ref(to_row(trade))


def resting_entry_row(entry: RestingEntryRecord) -> dict[str, Any]:
    # id: the database's on insert, kept when a new entry replaces the key's old one
    return _strategy_ref(to_row(entry, omit=frozenset({"id"})))


def credential_row(record: CredentialRecord) -> dict[str, Any]:
    row = to_row(record, omit=frozenset({"id", "created_at", "updated_at"}))
    row["label"] = record.label or record.exchange  # NOT NULL in bot_credentials
    row["extra_metadata"] = encode_json(record.extra_metadata or {})
    return row


def settings_row(settings: TradeSettings) -> dict[str, Any]:
    return to_row(settings, omit=frozenset({"id"}))


def strategy_row(strategy: StrategyRecord) -> dict[str, Any]:
    return to_row(strategy, omit=frozenset({"id"}))


def notification_row(notification: NotificationRecord) -> dict[str, Any]:
    omit = {name for name in ("id", "created_at") if getattr(notification, name) is None}
    return to_row(notification, omit=frozenset(omit))


SELECT_REQUEST = select_list(WebhookRequestRecord)
SELECT_POSITION = select_list(PositionRecord)
SELECT_TRADE = select_list(TradeRecord)
SELECT_RESTING = select_list(RestingEntryRecord)
SELECT_CREDENTIAL = select_list(CredentialRecord)
SELECT_SETTINGS = select_list(TradeSettings)
SELECT_STRATEGY = select_list(StrategyRecord)
SELECT_NOTIFICATION = select_list(NotificationRecord)
