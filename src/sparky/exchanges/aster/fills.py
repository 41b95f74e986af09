"""What Aster charged for an order: the commission of its fills, from the account's trade list.

Aster's order replies (`/fapi/v1/order`) carry no commission. `GET /fapi/v1/userTrades` with
`symbol` and `orderId` lists the order's fills, each with its `commission` and `commissionAsset`
(docs, 'Account Trade List'; a maker rebate is negative). The order's fee is their sum when every
fill was charged in the symbol's margin asset (USDT for BTCUSDT: the currency its P&L is paid in).
Anything else leaves the fee unknown (None) rather than wrong: a fill charged in another asset (a
discount token) — two currencies are never added —, a list missing some of the order's fills, a
read that fails. The order itself stands either way; only its fee is unknown, and that is logged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import structlog

from sparky.exchanges.aster.rules import SymbolSpec
from sparky.exchanges.aster.wire import MalformedReply, dec, read
from sparky.exchanges.base import Order
from sparky.exchanges.errors import ExchangeError

log = structlog.get_logger("sparky.exchanges.aster")

USER_TRADES = "/fapi/v1/userTrades"


def commission(trades: Any, order: Order, asset: str) -> Decimal | None:
    """The sum of `commission` over the order's fills in `trades`, if all of it is in `asset` and
    the fills add up to what the order filled; else None."""
    if not isinstance(trades, list):
        raise MalformedReply("userTrades reply is not a list")
    fills = [trade for trade in trades if str(trade["orderId"]) == order.id]
    listed = sum((dec(fill["qty"]) for fill in fills), Decimal(0))
    if listed < order.filled_quantity:  # the list does not have every fill (yet): no partial sum
        log.warning("aster.fee.incomplete", order_id=order.id, listed=str(listed), filled=str(order.filled_quantity))
        return None
    others = sorted({str(fill["commissionAsset"]) for fill in fills} - {asset})
    if others:
        log.info("aster.fee.other_asset", order_id=order.id, assets=others, settlement=asset)
        return None
    return sum((dec(fill["commission"]) for fill in fills), Decimal(0))


async def fill_fee(call: Callable[..., Awaitable[Any]], spec: Callable[[str], Awaitable[SymbolSpec]], order: Order,
                   *, default_asset: str) -> Decimal | None:
    """`call` is the adapter's signed transport, `spec` its symbol rules; `default_asset` the
    account's margin asset, for a symbol whose exchangeInfo names none."""
    if order.fee is not None or order.filled_quantity <= 0 or not order.id.isdigit():
        return order.fee
    try:
        asset = (await spec(order.symbol)).margin_asset or default_asset
        body = await call("GET", USER_TRADES, [("symbol", order.symbol), ("orderId", order.id)], signed=True,
                          what="trade list")
        return read(lambda: commission(body, order, asset), what="trade list")
    except ExchangeError as err:
        log.warning("aster.fee.unavailable", order_id=order.id, error=err.message)
        return None
