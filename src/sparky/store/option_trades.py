"""The options half of the store port: one `tradier_option_trades` row per option position Sparky
opened on Tradier (`exchange: "tradier_options"`), from the OTOCO entry until it is closed.

Records mirror the PostgreSQL table the SignalStudio dashboard shares (migrations/0002, `user_id`
from 0003); the SQLite store has the same table and columns (sqlite/schema.sql). The webhook side
writes a row `pending_entry` with the order ids it placed; the options monitor follows it to
`open`, then to `closed_tp`, `closed_sl`, `closed` or `cancelled`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

PENDING_ENTRY = "pending_entry"
OPEN = "open"
CANCELLED = "cancelled"
CLOSED_TP = "closed_tp"
CLOSED_SL = "closed_sl"
CLOSED = "closed"
#: `tradier_option_trades.status` values Sparky writes (the table's CHECK also allows the
#: original's `pending`)
OPTION_TRADE_STATUSES = (PENDING_ENTRY, OPEN, CANCELLED, CLOSED_TP, CLOSED_SL, CLOSED)
#: rows still holding (or about to hold) contracts
ACTIVE_STATUSES = (PENDING_ENTRY, OPEN)
OPTION_TYPES = ("call", "put")


@dataclass
class OptionTradeRecord:
    """A `tradier_option_trades` row. Defaults are the column defaults of migrations/0002."""

    user_id: str
    underlying_symbol: str
    #: the OCC symbol, as Tradier's chain lists it (e.g. SPY240621C00500000)
    option_symbol: str
    #: call | put
    option_type: str
    strike_price: Decimal
    expiration_date: date
    quantity_contracts: Decimal
    status: str = PENDING_ENTRY
    contract_size: int = 100
    strategy: str | None = None
    entry_order_id: str | None = None
    tp_order_id: str | None = None
    sl_order_id: str | None = None
    time_exit_order_id: str | None = None
    #: the last vendor JSON seen for each order or leg
    entry_order: dict[str, Any] | None = None
    tp_leg: dict[str, Any] | None = None
    sl_leg: dict[str, Any] | None = None
    time_exit_order: dict[str, Any] | None = None
    entry_limit_price: Decimal | None = None
    tp_limit_price: Decimal | None = None
    sl_stop_price: Decimal | None = None
    sl_limit_price: Decimal | None = None
    cost_usd: Decimal | None = None
    pnl_usd: Decimal | None = None
    pnl_percent: Decimal | None = None
    #: the settings the entry used (never secrets)
    config_snapshot: dict[str, Any] = field(default_factory=dict)
    #: request id, environment (sandbox/live), fills seen; never secrets
    extra_metadata: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


#: columns `update_option_trade` may change (the row's identity and creation time stay)
UPDATABLE_COLUMNS = frozenset(f.name for f in fields(OptionTradeRecord)) - {"id", "user_id", "created_at", "updated_at"}


def check_status(status: str) -> None:
    if status not in OPTION_TRADE_STATUSES:
        raise ValueError(f"status must be one of {', '.join(OPTION_TRADE_STATUSES)}, not {status!r}")


def check_option_trade(row: OptionTradeRecord) -> None:
    """ValueError naming the column for a value the table (or Sparky) refuses."""
    if not row.user_id:
        raise ValueError("an option trade needs a user_id")
    if not row.underlying_symbol or not row.option_symbol:
        raise ValueError("an option trade needs underlying_symbol and option_symbol")
    if row.option_type not in OPTION_TYPES:
        raise ValueError(f"option_type must be call or put, not {row.option_type!r}")
    check_status(row.status)
    if isinstance(row.expiration_date, datetime) or not isinstance(row.expiration_date, date):
        raise ValueError("expiration_date must be a date")
    if row.quantity_contracts is None or row.quantity_contracts < 0:
        raise ValueError("quantity_contracts must be >= 0")


def check_changes(changes: dict[str, Any]) -> None:
    unknown = set(changes) - UPDATABLE_COLUMNS
    if unknown:
        raise ValueError(f"cannot update tradier_option_trades column(s) {', '.join(sorted(unknown))}")
    if "status" in changes:
        check_status(changes["status"])
    if "option_type" in changes and changes["option_type"] not in OPTION_TYPES:
        raise ValueError(f"option_type must be call or put, not {changes['option_type']!r}")


class OptionTradeStore(ABC):
    """What the options executor and the options monitor read and write. Times are aware UTC."""

    @abstractmethod
    async def add_option_trade(self, row: OptionTradeRecord) -> OptionTradeRecord:
        """Insert a row (a new id unless one is given); returns it as stored. ValueError for a value
        the table refuses (nothing stored)."""

    @abstractmethod
    async def option_trades(
        self,
        *,
        user_id: str | None = None,
        statuses: Collection[str] | None = None,
        underlying: str | None = None,
        option_symbol: str | None = None,
    ) -> list[OptionTradeRecord]:
        """Rows matching every filter given, oldest first (created_at, id)."""

    @abstractmethod
    async def update_option_trade(self, trade_id: str, **changes: Any) -> OptionTradeRecord | None:
        """Change the named columns and stamp updated_at; the row as stored, None when there is
        none. ValueError for a column that is not updatable or a refused value (nothing changed)."""
