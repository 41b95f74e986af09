"""What a close's price difference is worth in dollars, for its trade row.

Prices are in the instrument's quote currency, so a P&L computed from them alone is in yen for
USD_JPY and in pounds for EUR_GBP. Two sources, best first:
- the venue's own realised P&L of the fill (`Order.realized_pnl`, OANDA's `pl`: in the account's
  currency, converted at the venue's rate), its share when the trade covers part of the fill;
- the price difference converted at the venue's rate now (`Exchange.quote_value_usd`), for a
  close with no such report (closed outside Sparky, a venue that reports none).
Never raises: the position is closed whatever this says, so a rate that cannot be read leaves the
difference unconverted (logged), as it was recorded before P&L was converted.
"""

from __future__ import annotations

from decimal import Decimal

import structlog

from sparky.exchanges.base import Exchange, Order
from sparky.exchanges.errors import ExchangeError
from sparky.execution.trades import DollarTerms

log = structlog.get_logger("sparky.pnl")


async def dollar_terms(exchange: Exchange, symbol: str, exit_price: Decimal, quantity: Decimal,
                       fill: Order | None = None) -> DollarTerms:
    """The conversion of a trade of `quantity` closed at `exit_price` by `fill` (None: no fill known)."""
    venue_pnl = None
    if fill is not None and fill.realized_pnl is not None and fill.filled_quantity > 0:
        venue_pnl = fill.realized_pnl
        if quantity < fill.filled_quantity:
            venue_pnl = venue_pnl * quantity / fill.filled_quantity
    quote_usd = await quote_value(exchange, symbol, exit_price, event="trade.pnl_unconverted")
    return DollarTerms(Decimal(1) if quote_usd is None else quote_usd, venue_pnl)


async def quote_value(exchange: Exchange, symbol: str, price: Decimal, *, event: str) -> Decimal | None:
    """Dollars one unit of `symbol`'s quote currency is worth at `price`; None when the venue cannot
    say right now (logged as `event`). Also what open positions' unrealized P&L is converted with
    (monitor/marks.py)."""
    try:
        return await exchange.quote_value_usd(symbol, price)
    except ExchangeError as err:
        log.warning(event, symbol=symbol, error=err.message)
        return None
