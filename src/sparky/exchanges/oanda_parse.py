"""OANDA v20 replies → our `Order`, `Position` and prices (pure functions, no I/O).

Shapes: Order / MarketOrder / StopLossOrder …, OrderFillTransaction, Position / PositionSide and
ClientPrice as documented on developer.oanda.com (rest-live-v20 order-df, transaction-df,
position-df, pricing-df) and in `oanda/v20-python`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import structlog

from sparky.exchanges.base import Order, OrderKind, OrderStatus, Position, Side
from sparky.exchanges.errors import InvalidOrder
from sparky.exchanges.oanda_wire import NAME, InstrumentSpec, decimal

log = structlog.get_logger("sparky.exchanges.oanda")

ZERO = Decimal(0)
#: orders OANDA attaches to a trade; they carry a tradeID instead of an instrument and units
DEPENDENT = {"STOP_LOSS": OrderKind.STOP, "GUARANTEED_STOP_LOSS": OrderKind.STOP,
             "TRAILING_STOP_LOSS": OrderKind.STOP, "TAKE_PROFIT": OrderKind.TAKE_PROFIT}
_KINDS = {"MARKET": OrderKind.MARKET, "LIMIT": OrderKind.LIMIT, "MARKET_IF_TOUCHED": OrderKind.LIMIT,
          "STOP": OrderKind.STOP}
#: TRIGGERED means "being filled", not done yet
_STATUS = {"PENDING": OrderStatus.OPEN, "TRIGGERED": OrderStatus.OPEN, "FILLED": OrderStatus.FILLED,
           "CANCELLED": OrderStatus.CANCELED}


def side_of(units: Decimal) -> Side:
    return Side.BUY if units > 0 else Side.SELL


def fill_summary(fill: dict[str, Any]) -> tuple[Decimal | None, Decimal, Decimal]:
    """(average price, filled quantity, signed units) of an OrderFillTransaction.

    `price` is deprecated in favour of the per-trade prices (tradeOpened, tradeReduced,
    tradesClosed), so the average is weighted over those when they are present."""
    units = decimal(fill.get("units", "0"), "units")
    parts = [p for p in [fill.get("tradeOpened"), fill.get("tradeReduced"), *(fill.get("tradesClosed") or [])]
             if isinstance(p, dict) and p.get("units") is not None and p.get("price") is not None]
    average: Decimal | None = None
    if len(parts) == 1:
        average = decimal(parts[0]["price"], "price")
    elif parts:
        weight = sum((abs(decimal(p["units"], "units")) for p in parts), ZERO)
        if weight > 0:
            total = sum((abs(decimal(p["units"], "units")) * decimal(p["price"], "price") for p in parts), ZERO)
            average = total / weight
    if average is None:
        raw = fill.get("price") or fill.get("fullVWAP")
        average = decimal(raw, "price") if raw is not None else None
    return average, abs(units), units


def status_of(data: dict[str, Any]) -> OrderStatus:
    return _STATUS.get(str(data.get("state", "PENDING")), OrderStatus.OPEN)


def _on_fill_id(data: dict[str, Any], key: str) -> str | None:
    """An on-fill dependent order addressed by its client id (`@id` is an OANDA order specifier)."""
    details = data.get(key)
    if isinstance(details, dict):
        client = (details.get("clientExtensions") or {}).get("id")
        if client:
            return f"@{client}"
    return None


def order_from_venue(
    data: dict[str, Any],
    symbol: str,
    *,
    fill: dict[str, Any] | None = None,
    trade_units: Decimal | None = None,
) -> Order:
    """One OANDA order as our `Order`.

    `fill` is its OrderFillTransaction when it filled; `trade_units` the signed units of the trade a
    dependent order (stop loss, take profit) belongs to, which gives its side and size."""
    kind_name = str(data.get("type"))
    average, filled, fill_units = fill_summary(fill) if fill else (None, ZERO, ZERO)
    price = decimal(data["price"], "price") if data.get("price") is not None else None
    if kind_name in DEPENDENT:
        kind = DEPENDENT[kind_name]
        if fill_units:
            side = side_of(fill_units)
        elif trade_units:
            side = side_of(trade_units).opposite
        else:
            raise InvalidOrder(f"oanda: cannot tell the side of order {data.get('id')}", exchange=NAME)
        quantity = filled or abs(trade_units or ZERO)
        trigger = price if price is not None else (
            decimal(data["trailingStopValue"], "price") if data.get("trailingStopValue") else None)
        limit, reduce_only = None, True
    else:
        kind = _KINDS.get(kind_name, OrderKind.LIMIT)
        side, quantity = _side_and_size(data, fill_units)
        limit = price if kind is OrderKind.LIMIT else None
        trigger = price if kind is OrderKind.STOP else None
        reduce_only = (data.get("positionFill") == "REDUCE_ONLY" or "longPositionCloseout" in data
                       or "shortPositionCloseout" in data or "tradeClose" in data)
    status = status_of(data)
    return Order(
        id=str(data.get("id")),
        client_order_id=(data.get("clientExtensions") or {}).get("id") or "",
        symbol=symbol,
        side=side,
        kind=kind,
        quantity=quantity,
        status=status,
        price=limit,
        trigger_price=trigger,
        reduce_only=reduce_only,
        filled_quantity=filled,
        average_price=average,
        stop_loss_order_id=_on_fill_id(data, "stopLossOnFill") if status is OrderStatus.FILLED else None,
        take_profit_order_id=_on_fill_id(data, "takeProfitOnFill") if status is OrderStatus.FILLED else None,
        updated_at=data.get("filledTime") or data.get("cancelledTime") or data.get("createTime"),
    )


def _side_and_size(data: dict[str, Any], fill_units: Decimal) -> tuple[Side, Decimal]:
    try:
        units = Decimal(str(data.get("units", "")))
    except InvalidOperation:  # position closeouts may carry "ALL": the side comes from which one
        units = None
    if units is None or not units.is_finite():
        if fill_units:
            return side_of(fill_units), abs(fill_units)
        return (Side.SELL if "longPositionCloseout" in data else Side.BUY), ZERO
    return side_of(units), abs(units)


def position_from(data: dict[str, Any], symbol: str) -> Position | None:
    """An openPositions entry as one net `Position` (v20 accounts net unless hedging is enabled)."""
    long_side, short_side = data.get("long") or {}, data.get("short") or {}
    long_units = decimal(long_side.get("units", "0"), "units")
    short_units = decimal(short_side.get("units", "0"), "units")
    if long_units and short_units:  # a hedging account holding both sides: report the bigger one
        log.warning("oanda.position.hedged", instrument=data.get("instrument"),
                    long=str(long_units), short=str(short_units))
    if long_units > 0 and long_units >= abs(short_units):
        return Position(symbol, Side.BUY, long_units, decimal(long_side.get("averagePrice"), "averagePrice"))
    if short_units < 0:
        return Position(symbol, Side.SELL, -short_units, decimal(short_side.get("averagePrice"), "averagePrice"))
    return None


def mid_price(price: dict[str, Any], spec: InstrumentSpec) -> Decimal:
    """Mid of the best bid and ask (bids[0]/asks[0], else closeoutBid/closeoutAsk), at displayPrecision."""
    bids, asks = price.get("bids") or [], price.get("asks") or []
    bid = bids[0].get("price") if bids else price.get("closeoutBid")
    ask = asks[0].get("price") if asks else price.get("closeoutAsk")
    if bid is None or ask is None:
        raise InvalidOrder(f"oanda: no bid/ask quoted for {spec.name}", exchange=NAME)
    mid = (decimal(bid, "bid") + decimal(ask, "ask")) / 2
    return mid.quantize(spec.tick, rounding=ROUND_HALF_UP)


def dependent_id(reply: dict[str, Any], key: str, order: dict[str, Any], on_fill: str) -> str | None:
    """The stop/take-profit an entry created on fill: its id when the reply names it, else
    `@<its client id>` (an OANDA order specifier), so knowing it costs no extra request."""
    created = reply.get(f"{key}OrderTransaction")
    if isinstance(created, dict) and created.get("id"):
        return str(created["id"])
    details = order.get(on_fill)
    return f"@{details['clientExtensions']['id']}" if details else None
