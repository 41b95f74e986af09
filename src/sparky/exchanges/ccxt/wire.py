"""ccxt's world → ours, at the adapter edge: its unified order and position structures → our
`Order` and `Position`, and its exceptions → our error hierarchy.

ccxt has already parsed each venue's reply into its unified shape (floats, lower-case statuses);
here only the meaning is mapped, with amounts converted from contracts to base units.

Errors: CCXT has already turned each venue's error *code* into one of its exception classes (its
per-venue `exceptions.exact` tables), so we choose by class (isinstance, most specific first),
never by message text. The one thing the class cannot say is whether an order request reached the
venue: for order-placing calls every failure that may have happened after sending (timeout, 5xx,
dropped connection, an unreadable reply) is `OutcomeUnknown`, so the caller looks the order up by
client id instead of resending it.
"""

from __future__ import annotations

import decimal
import json
import re
import socket
from collections.abc import Awaitable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import aiohttp
import ccxt.async_support as ccxt
import structlog

from sparky.exchanges import errors
from sparky.exchanges.base import Order, OrderKind, OrderStatus, Position, Side
from sparky.exchanges.ccxt.markets import VenueMarket, dec
from sparky.exchanges.errors import ExchangeError

T = TypeVar("T")

log = structlog.get_logger("sparky.exchanges.ccxt")

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
    amount = dec(raw.get("amount"))
    if raw.get("status") is None and amount and filled >= amount:  # Hyperliquid's fill reply has no status
        return OrderStatus.FILLED
    # a market order that ran out of liquidity ends "expired"/"canceled" with part of it filled:
    # that part is a position and must be protected, so it reads as filled (by filled_quantity)
    if kind is OrderKind.MARKET and status is OrderStatus.CANCELED and filled > 0:
        return OrderStatus.FILLED
    return status


def _timestamp(raw: dict[str, Any], now: datetime) -> str:
    millis = raw.get("lastUpdateTimestamp") or raw.get("lastTradeTimestamp") or raw.get("timestamp")
    moment = datetime.fromtimestamp(millis / 1000, UTC) if isinstance(millis, int | float) and millis else now
    return moment.isoformat()


def order_fee(raw: dict[str, Any], market: VenueMarket) -> Decimal | None:
    """The order's fees (ccxt's unified `fees`, else `fee`) in the market's settlement currency.
    A fee charged in another currency (a spot buy paying in the base asset, a discount token) is
    not converted: None, as for a venue that reports no fee."""
    entries = raw.get("fees") or ([raw["fee"]] if isinstance(raw.get("fee"), dict) else [])
    costs = []
    for fee in entries:
        if not isinstance(fee, dict) or fee.get("cost") is None:
            continue
        if fee.get("currency") not in (None, market.settle):
            return None
        costs.append(dec(fee["cost"]) or Decimal(0))
    return sum(costs, Decimal(0)) if costs else None


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
        fee=order_fee(raw, market),
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


# ------------------------------------------------------------------------------ errors
#: (ccxt class, our class), most specific first: the first isinstance match wins.
_BY_CLASS: tuple[tuple[type[Exception], type[errors.ExchangeError]], ...] = (
    (ccxt.AuthenticationError, errors.AuthenticationError),  # ⊃ PermissionDenied, AccountNotEnabled
    (ccxt.AccountSuspended, errors.AuthenticationError),
    (ccxt.InsufficientFunds, errors.InsufficientFunds),
    (ccxt.BadSymbol, errors.UnknownSymbol),
    (ccxt.OrderNotFound, errors.OrderNotFound),
    (ccxt.InvalidOrder, errors.InvalidOrder),
    (ccxt.BadRequest, errors.InvalidOrder),
    (ccxt.ArgumentsRequired, errors.InvalidOrder),
    # the venue refused by a rule of its own (market closed, restricted location…): not retryable
    (ccxt.OperationRejected, errors.InvalidOrder),
    (ccxt.NotSupported, errors.NotSupported),
    (ccxt.RateLimitExceeded, errors.RateLimited),  # 429, venue "too many requests" codes
    (ccxt.DDoSProtection, errors.RateLimited),  # 418 IP ban, WAF
    # a maintenance reply is an answer: nothing was executed
    (ccxt.OnMaintenance, errors.ExchangeUnavailable),
)


def _never_sent(err: BaseException) -> bool:
    """True when the transport failed before the request left (DNS, connection refused)."""
    cause = err.__cause__
    return isinstance(cause, aiohttp.ClientConnectorError | socket.gaierror)


_URL = re.compile(r"\S+://\S*")
#: where a vendor's JSON error keeps its code and its sentence (Binance, Bybit, OKX, Bitget, Gate…)
_CODE_KEYS = ("sCode", "retCode", "code", "errorCode", "error_code", "label")
_MESSAGE_KEYS = ("sMsg", "retMsg", "msg", "message", "errorMessage", "error_description", "error", "response")


def _vendor_fields(body: Any, depth: int = 0) -> tuple[Any, Any]:
    """(code, sentence) of a vendor's JSON error: the innermost object that has a sentence (OKX
    puts the real reason in `data[0].sMsg` under a generic top-level `msg`)."""
    if depth > 3:
        return None, None
    if isinstance(body, list):
        return _vendor_fields(body[0], depth + 1) if body else (None, None)
    if not isinstance(body, dict):
        return None, None
    for value in body.values():
        if isinstance(value, dict | list):
            code, sentence = _vendor_fields(value, depth + 1)
            if sentence:
                return code, sentence
    code = next((body[k] for k in _CODE_KEYS if isinstance(body.get(k), str | int) and str(body[k]).strip()), None)
    sentence = next((body[k] for k in _MESSAGE_KEYS if isinstance(body.get(k), str) and body[k].strip()), None)
    return code, sentence


def short_reason(err: Exception, exchange: str) -> str:
    """What a ccxt error says, made fit for the user who sent the alert. ccxt writes the venue's
    whole reply into its messages (`bybit {"retCode":10001,…}`, or `GET <url> 503 <html…>`): only
    the vendor's code and sentence are kept from a JSON reply, the words before any reply body
    otherwise; no URL (its query may be signed), no markup, bounded."""
    text = str(err).strip()
    text = text[len(exchange):].strip() if text.startswith(exchange) else text
    starts = [i for i in (text.find("{"), text.find("["), text.find("<")) if i >= 0]
    head, raw = (text[: min(starts)], text[min(starts):]) if starts else (text, "")
    parts = [errors.vendor_words(_URL.sub("", head))]
    if raw.startswith(("{", "[")):
        try:
            code, sentence = _vendor_fields(json.loads(raw))
        except ValueError:
            code, sentence = None, None
        if code is not None:
            parts.append(f"code {errors.vendor_words(code, 24)}")
        if sentence:
            parts.append(errors.vendor_words(sentence))
    return ": ".join(part for part in parts if part) or "no reason given"


def translate(err: Exception, *, exchange: str, places_order: bool = False) -> errors.ExchangeError:
    """The error of ours that `err` (raised by a ccxt call) means. Its message carries the short
    reason; ccxt's own text (the venue's whole reply) goes to the server log only."""
    if isinstance(err, errors.ExchangeError):
        return err
    log.info("ccxt.refused", exchange=exchange, error_type=type(err).__name__, reply=errors.logged_reply(str(err)))
    message = f"{exchange}: {type(err).__name__}: {short_reason(err, exchange)}"
    for vendor, ours in _BY_CLASS:
        if isinstance(err, vendor):
            return ours(message, exchange=exchange)
    if isinstance(err, ccxt.OperationFailed):  # NetworkError (timeouts, 5xx, disconnects), BadResponse
        if places_order and not _never_sent(err):
            return errors.OutcomeUnknown(f"{message}; look the order up by client id", exchange=exchange)
        return errors.ExchangeUnavailable(message, exchange=exchange)
    if isinstance(err, ccxt.BaseError):  # a plain ExchangeError: the venue refused, reason unmapped
        return errors.ExchangeError(message, exchange=exchange)
    if places_order:  # a bug while parsing the reply: the order may well exist
        return errors.OutcomeUnknown(f"{message}; look the order up by client id", exchange=exchange)
    return errors.ExchangeError(message, exchange=exchange)


async def call_translated(awaitable: Awaitable[T], *, exchange: str, places_order: bool = False) -> T:
    """Await one ccxt call; anything it raises comes out as our error (`raise … from err`).

    ccxt's number formatting rewrites the current Decimal context (rounding, traps); the local
    context keeps that inside the call, away from the rest of Sparky's money arithmetic.
    """
    try:
        with decimal.localcontext():
            return await awaitable
    except errors.ExchangeError:
        raise
    except Exception as err:
        raise translate(err, exchange=exchange, places_order=places_order) from err
