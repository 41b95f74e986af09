"""What the store is asked to write apart from a webhook's own row: an execution's position and
trade writes (`Store.record_execution`, in the order they happened) and the prices the monitor marks
open positions with (`Store.mark_positions`). Part of the `Store` port (base.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # base.py imports this module: the records are named here for the types only
    from sparky.store.base import PositionRecord, TradeRecord


@dataclass(frozen=True)
class PriceMark:
    """The market's price on one open position and what the position is worth there, computed from
    the row `position_id` as it was read: written only while that row still holds the same side,
    quantity and entry price (monitor/prices.py), so a position closed or changed meanwhile is left
    as it is and never written back."""

    user_id: str
    exchange: str
    symbol: str
    position_id: str
    side: str
    quantity: Decimal
    entry_price: Decimal
    current_price: Decimal
    unrealized_pnl_usd: Decimal
    unrealized_pnl_percent: Decimal
    last_price_update: datetime


@dataclass(frozen=True)
class PositionWrite:
    """An execution's write: the key's position row inserted or replaced (`Store.upsert_position`)."""

    position: PositionRecord


@dataclass(frozen=True)
class CloseWrite:
    """An execution's write: a close's trade inserted and its position row deleted (`Store.record_close`)."""

    trade: TradeRecord


#: what an execution records about the venue, applied in the order it happened
ExecutionWrite = PositionWrite | CloseWrite
