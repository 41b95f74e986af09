"""OANDA v20 wire format (pure functions, no I/O): replies → our `Order`, `Position` and prices;
our entry `OrderRequest` → the `order` body; refusals → our error hierarchy.

Shapes: Order / MarketOrder / StopLossOrder …, OrderFillTransaction, Position / PositionSide and
ClientPrice as documented on developer.oanda.com (rest-live-v20 order-df, transaction-df,
position-df, pricing-df) and in `oanda/v20-python`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import structlog

from sparky.exchanges.base import Order, OrderKind, OrderRequest, OrderStatus, Position, Quote, Side
from sparky.exchanges.errors import (
    AuthenticationError,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OutcomeUnknown,
    RateLimited,
    UnknownSymbol,
    vendor_words,
)
from sparky.exchanges.oanda.rules import NAME, TAG, InstrumentSpec, decimal

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


def fill_fee(fill: dict[str, Any]) -> Decimal | None:
    """What an OrderFillTransaction charged besides its price, in the account's home currency:
    `commission` and `guaranteedExecutionFee` (both written positive, both taken from the balance)
    plus the `financing` paid with it (negative when paid; financing received lowers the fee).
    `halfSpreadCost` is not added: the spread is already in the fill price. None when the fill
    names none of them."""
    charged = [decimal(fill[k], k) for k in ("commission", "guaranteedExecutionFee") if fill.get(k) is not None]
    financing = decimal(fill["financing"], "financing") if fill.get("financing") is not None else None
    if not charged and financing is None:
        return None
    return sum(charged, ZERO) - (financing or ZERO)


def fill_pnl(fill: dict[str, Any]) -> Decimal | None:
    """The profit or loss an OrderFillTransaction realised, in the account's home currency and
    before its costs (`fill_fee`): `pl`, else the sum of `tradesClosed[]`/`tradeReduced`
    `realizedPL`. None when the fill names neither (then Sparky converts the price difference)."""
    if fill.get("pl") is not None:
        return decimal(fill["pl"], "pl")
    parts = [p for p in [fill.get("tradeReduced"), *(fill.get("tradesClosed") or [])]
             if isinstance(p, dict) and p.get("realizedPL") is not None]
    if not parts:
        return None
    return sum((decimal(p["realizedPL"], "realizedPL") for p in parts), ZERO)


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
        trailing_stop_order_id=_on_fill_id(data, "trailingStopLossOnFill") if status is OrderStatus.FILLED else None,
        updated_at=data.get("filledTime") or data.get("cancelledTime") or data.get("createTime"),
        fee=fill_fee(fill) if fill else None,
        realized_pnl=fill_pnl(fill) if fill else None,
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


def parse_quotes(data: dict[str, Any], instruments: set[str]) -> dict[str, Quote]:
    """The bid and ask of each of `instruments` in a `GET /pricing` reply: the best of `bids` /
    `asks`, else `closeoutBid` / `closeoutAsk` (what OANDA would close at when it lists no depth)."""
    quotes = {}
    for price in data.get("prices") or []:
        name = price.get("instrument")
        if name not in instruments:
            continue
        bids, asks = price.get("bids") or [], price.get("asks") or []
        bid = bids[0].get("price") if bids else price.get("closeoutBid")
        ask = asks[0].get("price") if asks else price.get("closeoutAsk")
        if bid is None and ask is None:
            continue
        quotes[name] = Quote(name, bid=None if bid is None else decimal(bid, "bid"),
                             ask=None if ask is None else decimal(ask, "ask"))
    return quotes


def dependent_id(reply: dict[str, Any], key: str, order: dict[str, Any], on_fill: str) -> str | None:
    """The stop/take-profit an entry created on fill: its id when the reply names it, else
    `@<its client id>` (an OANDA order specifier), so knowing it costs no extra request."""
    created = reply.get(f"{key}OrderTransaction")
    if isinstance(created, dict) and created.get("id"):
        return str(created["id"])
    details = order.get(on_fill)
    return f"@{details['clientExtensions']['id']}" if details else None


# ------------------------------------------------------------------------------ request bodies
def entry_order(request: OrderRequest, spec: InstrumentSpec, units: Decimal,
                trailing: Decimal | None) -> dict[str, Any]:
    """The `order` of `POST /orders`: MARKET FOK or LIMIT GTC, units signed (negative = sell), the
    bracket and trailing stop attached on fill, each dependent order with its own client id."""
    cid = request.client_order_id
    order: dict[str, Any] = {
        "type": "MARKET", "instrument": spec.name,
        "units": spec.units_text(units, negative=request.side is Side.SELL),
        "timeInForce": "FOK", "positionFill": "REDUCE_ONLY" if request.reduce_only else "DEFAULT",
        "clientExtensions": {"id": cid, "tag": TAG},
    }
    if request.kind is OrderKind.LIMIT:
        if request.price is None:
            raise InvalidOrder("oanda: a limit order needs a price", exchange=NAME)
        order.update(type="LIMIT", price=spec.price_text(request.price), timeInForce="GTC")
    if request.reduce_only:  # nothing to protect: it only shrinks a position
        return order
    bracket = request.bracket
    if bracket is not None and bracket.stop_loss is not None:
        order["stopLossOnFill"] = _on_fill({"price": spec.price_text(bracket.stop_loss)}, f"{cid}-sl")
    if bracket is not None and bracket.take_profit is not None:
        order["takeProfitOnFill"] = _on_fill({"price": spec.price_text(bracket.take_profit)}, f"{cid}-tp")
    if trailing is not None:
        order["trailingStopLossOnFill"] = _on_fill({"distance": spec.price_text(trailing)}, f"{cid}-ts")
    return order


def _on_fill(details: dict[str, str], client_id: str) -> dict[str, Any]:
    return {**details, "timeInForce": "GTC", "clientExtensions": {"id": client_id, "tag": TAG}}


# ------------------------------------------------------------------------------ errors
class DuplicateClientId(InvalidOrder):
    """CLIENT_ORDER_ID_ALREADY_EXISTS: an order with this client id exists; look it up."""


#: codes meaning "no such order" (the spec says ORDER_DOESNT_EXIST, the live API answers NO_SUCH_ORDER)
ORDER_MISSING = frozenset({"NO_SUCH_ORDER", "ORDER_DOESNT_EXIST", "ORDER_ID_UNSPECIFIED"})
_FUNDS = frozenset({"INSUFFICIENT_MARGIN", "INSUFFICIENT_FUNDS", "MARGIN_CLOSEOUT"})
_SYMBOL = frozenset({"INSTRUMENT_UNKNOWN", "INSTRUMENT_MISSING", "INVALID_INSTRUMENT"})
_ACCOUNT = frozenset({
    "ACCOUNT_NOT_ACTIVE", "ACCOUNT_LOCKED", "ACCOUNT_ORDER_CREATION_LOCKED",
    "ACCOUNT_CONFIGURATION_LOCKED", "ACCOUNT_ORDER_CANCEL_LOCKED", "NO_SUCH_ACCOUNT",
    "INVALID_AUTHORIZATION", "INSUFFICIENT_AUTHORIZATION",
})
_SERVER = frozenset({"INTERNAL_SERVER_ERROR"})


def reject_code(body: dict[str, Any]) -> str | None:
    """The machine-readable reason of a refusal: errorCode, else any *Reject/*Cancel transaction's."""
    if isinstance(body.get("errorCode"), str):
        return body["errorCode"]
    for key, value in body.items():
        if not isinstance(value, dict):
            continue
        if key.endswith("RejectTransaction") and value.get("rejectReason"):
            return str(value["rejectReason"])
        if key.endswith("CancelTransaction") and value.get("reason"):
            return str(value["reason"])
    return None


def error_for_code(code: str | None, message: str) -> ExchangeError:
    """A refusal OANDA gave a reason for (reject transaction, FOK cancel, errorCode)."""
    reason = vendor_words(code, 60) if code else "rejected"
    text = f"oanda: {reason}: {message}" if message else f"oanda: {reason}"
    if code in _FUNDS:
        return InsufficientFunds(text, exchange=NAME)
    if code == "CLIENT_ORDER_ID_ALREADY_EXISTS":
        return DuplicateClientId(text, exchange=NAME)
    if code in ORDER_MISSING:
        return OrderNotFound(text, exchange=NAME)
    if code in _SYMBOL:
        return UnknownSymbol(text, exchange=NAME)
    if code in _ACCOUNT:
        return AuthenticationError(text, exchange=NAME)
    if code in _SERVER:
        return ExchangeUnavailable(text, exchange=NAME)
    # *_PRECISION_EXCEEDED, UNITS_*, *_INVALID, *_ON_FILL_LOSS, MARKET_HALTED, INSTRUMENT_NOT_TRADEABLE …
    return InvalidOrder(text, exchange=NAME)


def error_for_reply(status: int, body: dict[str, Any], *, places_order: bool) -> ExchangeError:
    """Translate a non-2xx reply, by status first and then by OANDA's code (never by message text)."""
    message = vendor_words(body.get("errorMessage") or "")  # OANDA's sentence, shortened: never the body
    if status in (401, 403):
        return AuthenticationError(f"oanda: {status}: {message or 'not authorised'}", exchange=NAME)
    if status == 429:
        return RateLimited(f"oanda: rate limited: {message}", exchange=NAME)
    if status >= 500:
        if places_order:  # the order may have reached the engine: look it up, never resend
            return OutcomeUnknown(f"oanda: {status} on an order request; look it up by client id",
                                  exchange=NAME)
        return ExchangeUnavailable(f"oanda: {status}: {message or 'server error'}", exchange=NAME)
    code = reject_code(body)
    if code is None and status == 404:
        return OrderNotFound(f"oanda: 404: {message or 'not found'}", exchange=NAME)
    return error_for_code(code, message)
