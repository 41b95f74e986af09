"""ccxt's unified order and position structures → our `Order` and `Position`.

ccxt has already parsed each venue's reply into its unified shape (floats, lower-case statuses);
here only the meaning is mapped, with amounts converted from contracts to base units.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sparky.exchanges.base import Order, OrderKind, OrderStatus, Position, Side
from sparky.exchanges.ccxt_markets import VenueMarket, dec
from sparky.exchanges.errors import ExchangeError

_STATUS = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
}


def order_kind(raw: dict[str, Any]) -> OrderKind:
    """What kind of order a ccxt order is. An entry carrying attached SL/TP has stopLossPrice /
    takeProfitPrice too, so only an order with a trigger price of its own is a STOP / TAKE_PROFIT."""
    trigger = raw.get("triggerPrice")
    kind = str(raw.get("type") or "").lower()
    if trigger is not None:
        take_profit = raw.get("takeProfitPrice")
        if "take_profit" in kind or (take_profit is not None and dec(take_profit) == dec(trigger)):
            return OrderKind.TAKE_PROFIT
        return OrderKind.STOP
    return OrderKind.LIMIT if kind == "limit" else OrderKind.MARKET


def order_status(raw: dict[str, Any], kind: OrderKind, filled: Decimal) -> OrderStatus:
    status = _STATUS.get(str(raw.get("status") or "open").lower(), OrderStatus.OPEN)
    # a market order that ran out of liquidity ends "expired"/"canceled" with part of it filled:
    # that part is a position and must be protected, so it reads as filled (by filled_quantity)
    if kind is OrderKind.MARKET and status is OrderStatus.CANCELED and filled > 0:
        return OrderStatus.FILLED
    return status


def _timestamp(raw: dict[str, Any], now: datetime) -> str:
    millis = raw.get("lastUpdateTimestamp") or raw.get("lastTradeTimestamp") or raw.get("timestamp")
    moment = datetime.fromtimestamp(millis / 1000, UTC) if isinstance(millis, int | float) and millis else now
    return moment.isoformat()


def parse_order(
    raw: dict[str, Any],
    market: VenueMarket,
    *,
    client_order_id: str | None,
    now: datetime,
    kind: OrderKind | None = None,
) -> Order:
    kind = kind or order_kind(raw)
    amount = dec(raw.get("amount")) or Decimal(0)
    filled = dec(raw.get("filled")) or Decimal(0)
    side = Side.SELL if str(raw.get("side") or "").lower() == "sell" else Side.BUY
    trigger = dec(raw.get("triggerPrice"))
    return Order(
        id=str(raw.get("id") or ""),
        client_order_id=client_order_id or "",
        symbol=market.symbol,
        side=side,
        kind=kind,
        quantity=market.to_quantity(amount),
        status=order_status(raw, kind, filled),
        price=dec(raw.get("price")) if kind is OrderKind.LIMIT else None,
        trigger_price=trigger if kind in (OrderKind.STOP, OrderKind.TAKE_PROFIT) else None,
        reduce_only=bool(raw.get("reduceOnly")),
        filled_quantity=market.to_quantity(filled),
        average_price=dec(raw.get("average")),
        updated_at=_timestamp(raw, now),
    )


def parse_position(raw: dict[str, Any], market: VenueMarket) -> Position | None:
    """A ccxt position; None when flat (0 contracts)."""
    contracts = abs(dec(raw.get("contracts")) or Decimal(0))
    if contracts == 0:
        return None
    side = str(raw.get("side") or "").lower()
    if side not in ("long", "short"):  # never guess the direction of real money
        raise ExchangeError(f"{market.symbol}: the venue reports a position without a side")
    entry = dec(raw.get("entryPrice")) or Decimal(0)
    return Position(market.symbol, Side.BUY if side == "long" else Side.SELL, market.to_quantity(contracts), entry)
