"""What an open position is worth at a quote: its row's current price and unrealized P&L.

- Price: where the position would close now — a long sells at the bid, a short buys back at the
  ask (`Quote.exit_price`); the last trade where the venue quotes no book (Tradier outside hours,
  a ccxt venue without bid/ask).
- P&L in dollars: the price difference times the quantity, converted from the instrument's quote
  currency at the venue's rate (execution/pnl_currency.py, as for trades: 1 / price for USD_JPY,
  GBP_USD for EUR_GBP). A rate that cannot be read leaves the row as it was this cycle: a yen
  figure in a dollar column would be worse than one 30 s older. Gross, like the unrealized P&L
  the venues show: the fees are counted once the position closes (`trades.pnl_usd`).
- Percent: against the position's own cost, entry price × quantity in dollars, leverage left
  out — the dashboard reads it beside `trades.pnl_percent`, which is the same ratio
  (docs/DASHBOARD.md, P&L in dollars), and a leveraged account's margin is not on the row.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sparky.exchanges.base import Exchange, Quote, Side
from sparky.execution.pnl_currency import quote_value
from sparky.execution.trades import PERCENT_QUANT, PNL_QUANT
from sparky.store.base import PositionRecord, PriceMark


async def mark(position: PositionRecord, quote: Quote, exchange: Exchange, now: datetime) -> PriceMark | None:
    """The mark of `position` at `quote`, on its owner's own `exchange`; None when the quote has
    no usable price for its side or the dollar rate cannot be read now."""
    side = Side.BUY if position.side == "BUY" else Side.SELL
    price = quote.exit_price(side)
    if price is None or position.id is None:
        return None
    quote_usd = await quote_value(exchange, position.symbol, price, event="prices.pnl_unconverted")
    if quote_usd is None:
        return None
    direction = 1 if side is Side.BUY else -1
    pnl = ((price - position.entry_price) * position.quantity * direction * quote_usd).quantize(PNL_QUANT)
    cost = position.entry_price * position.quantity * quote_usd
    percent = (pnl / cost * 100).quantize(PERCENT_QUANT) if cost else Decimal(0)
    return PriceMark(
        user_id=position.user_id, exchange=position.exchange, symbol=position.symbol, position_id=position.id,
        side=position.side, quantity=position.quantity, entry_price=position.entry_price,
        current_price=price, unrealized_pnl_usd=pnl, unrealized_pnl_percent=percent, last_price_update=now,
    )
