"""The `trades` row of an option exit: what the dashboard sums, in the units a user reads.

`quantity` is in contracts and prices are per share of the underlying (Tradier's premium quote), so
`position_size_usd` and `pnl_usd` are multiplied by the contract size (100). Tradier's order replies
carry no commission: `fees_usd` stays empty (unknown, never guessed) and `pnl_usd` is the price
difference alone, which the trade's note says.
"""

from __future__ import annotations

from datetime import datetime

from sparky.exchanges.tradier_options.api import NAME as EXCHANGE
from sparky.monitor.option_steps import MONEY, Exit, pnl
from sparky.store.base import TradeRecord, decode_time
from sparky.store.option_trades import OptionTradeRecord

NOTE = "option exit on Tradier ({reason}); commission not reported by Tradier, P&L before fees"


def _when(value: str | None, fallback: datetime) -> datetime:
    try:
        return decode_time(value) or fallback
    except (TypeError, ValueError):
        return fallback


def option_trade(row: OptionTradeRecord, sold: Exit, *, now: datetime) -> TradeRecord:
    exit_price = sold.leg.fill_price
    if exit_price is None:
        raise ValueError(f"option exit {sold.leg.id} filled without a price")
    entry, gross, percent = pnl(row, exit_price, sold.quantity)
    entry_leg = (row.entry_order or {})
    opened = _when(entry_leg.get("transaction_date"), row.created_at or now)
    exited = min(max(_when(sold.leg.filled_at, now), opened), now)
    return TradeRecord(
        user_id=row.user_id,
        exchange=EXCHANGE,
        symbol=row.option_symbol,
        side="BUY",  # Sparky buys options to open: the position closed was long
        entry_price=entry,
        entry_time=opened,
        exit_price=exit_price,
        exit_time=exited,
        quantity=sold.quantity,
        position_size_usd=(entry * sold.quantity * row.contract_size).quantize(MONEY),
        pnl_usd=gross,
        pnl_percent=percent,
        is_winner=gross > 0,
        exit_reason=sold.reason,
        stop_loss_price=row.sl_stop_price,
        take_profit_price=row.tp_limit_price,
        order_id=sold.leg.id,
        notes=NOTE.format(reason=sold.reason.replace("_", " ").lower()),
        asset_class="options",
        fees_usd=None,
    )
