"""Aster replies into our types: vendor errors into the error hierarchy, orders, positions.

Error codes are from the Aster v1 docs ("Error Codes"); they are the Binance USDⓈ-M codes. We
choose by HTTP status and numeric code, never by the free-text `msg` (codes are universal,
messages vary, says the page).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import structlog

from sparky.exchanges.base import Balance, Order, OrderKind, OrderStatus, Position, Side
from sparky.exchanges.errors import (
    AuthenticationError,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    NotSupported,
    OrderNotFound,
    OutcomeUnknown,
    RateLimited,
    UnknownSymbol,
    vendor_words,
)

log = structlog.get_logger("sparky.exchanges.aster")

T = TypeVar("T")

NAME = "aster"

INVALID_TIMESTAMP = -1021
NO_SUCH_ORDER = -2013
AUTH_CODES = frozenset({-1002, -1022, -2014, -2015, -4056, -4057})
FUNDS_CODES = frozenset({-2018, -2019, -2028, -4050, -4051})
NOT_FOUND_CODES = frozenset({-2011, NO_SUCH_ORDER})
RATE_CODES = frozenset({-1003, -1015})
#: "execution status unknown" in the docs (-1006, -1007) or no telling (-1000)
UNKNOWN_OUTCOME_CODES = frozenset({-1000, -1006, -1007})
#: refused before processing: internal error "please try again", service shutting down
UNAVAILABLE_CODES = frozenset({-1001, -1016, INVALID_TIMESTAMP})

_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
_KINDS = {
    "MARKET": OrderKind.MARKET, "LIMIT": OrderKind.LIMIT,
    "STOP_MARKET": OrderKind.STOP, "STOP": OrderKind.STOP, "TRAILING_STOP_MARKET": OrderKind.STOP,
    "TAKE_PROFIT_MARKET": OrderKind.TAKE_PROFIT, "TAKE_PROFIT": OrderKind.TAKE_PROFIT,
}
WIRE_TYPES = {OrderKind.MARKET: "MARKET", OrderKind.LIMIT: "LIMIT", OrderKind.STOP: "STOP_MARKET",
              OrderKind.TAKE_PROFIT: "TAKE_PROFIT_MARKET"}
_STATUSES = {
    "NEW": OrderStatus.OPEN, "PARTIALLY_FILLED": OrderStatus.OPEN, "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED, "EXPIRED": OrderStatus.CANCELED, "REJECTED": OrderStatus.REJECTED,
}


class MalformedReply(ValueError):
    """A reply we cannot read (not JSON, missing fields)."""


class VendorError(Exception):
    """An error reply as the venue sent it; the cause (`from`) of every translated error."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {str(body)[:300]}")
        self.status = status
        self.body = body


def error_code(body: Any) -> int | None:
    """The vendor error code of an error reply (`{"code": -1121, "msg": ...}`), if any."""
    if isinstance(body, dict) and isinstance(body.get("code"), int | str):
        try:
            code = int(body["code"])
        except ValueError:
            return None
        return code if code < 0 else None
    return None


def translate(status: int, body: Any, *, places_order: bool, what: str) -> ExchangeError:
    """One error reply as our error: by HTTP status where it decides, else by vendor code."""
    code = error_code(body)
    msg = vendor_words(body.get("msg", "")) if isinstance(body, dict) else ""  # never the body itself
    text = f"{NAME}: {what} failed: HTTP {status}" + (f", code {code}: {msg}" if code is not None else "")
    if status in (429, 418):  # 418: IP banned after ignoring 429s
        return RateLimited(text, exchange=NAME)
    if status >= 500 and places_order:
        # docs: 5XX is an error on the venue's side and 503 "NOT a failure": the order may have
        # been taken (a gateway's 502/504 says nothing about the matching engine), whatever the body
        return OutcomeUnknown(text + "; look the order up by client id", exchange=NAME)
    if code is not None:
        return _by_code(code, text, places_order)
    if status >= 500:
        return ExchangeUnavailable(text, exchange=NAME)
    if status == 401:
        return AuthenticationError(text, exchange=NAME)
    if status == 403:  # docs: the WAF limit was violated; the request was not processed
        return RateLimited(text + " (blocked by the venue's firewall)", exchange=NAME)
    return InvalidOrder(text, exchange=NAME)


def _by_code(code: int, text: str, places_order: bool) -> ExchangeError:
    if code in AUTH_CODES:
        return AuthenticationError(text, exchange=NAME)
    if code in FUNDS_CODES:
        return InsufficientFunds(text, exchange=NAME)
    if code == -1121:
        return UnknownSymbol(text, exchange=NAME)
    if code in NOT_FOUND_CODES:
        return OrderNotFound(text, exchange=NAME)
    if code in RATE_CODES:
        return RateLimited(text, exchange=NAME)
    if code in UNKNOWN_OUTCOME_CODES:
        if places_order:
            return OutcomeUnknown(text + "; look the order up by client id", exchange=NAME)
        return ExchangeUnavailable(text, exchange=NAME)
    if code in UNAVAILABLE_CODES:
        return ExchangeUnavailable(text, exchange=NAME)
    # every other -1xxx / -2xxx / -4xxx is a refused parameter, filter or order
    return InvalidOrder(text, exchange=NAME)


def dec(value: Any) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as err:
        raise MalformedReply(f"not a number: {value!r}") from err
    if not number.is_finite():
        raise MalformedReply(f"not a finite number: {value!r}")
    return number


def _positive(value: Any) -> Decimal | None:
    """The venue writes "0" for prices that do not apply (price of a market order…)."""
    if value in (None, ""):
        return None
    number = dec(value)
    return number if number > 0 else None


def _iso(ms: Any) -> str | None:
    if not isinstance(ms, int | float) or ms <= 0:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _average_price(data: dict[str, Any]) -> Decimal | None:
    """`avgPrice`, else the quote filled over the quantity filled: a cancel reply has no `avgPrice`
    (docs, 'Cancel Order'), yet the part that filled before the cancel is a position at that price."""
    average = _positive(data.get("avgPrice"))
    if average is not None:
        return average
    quote, filled = _positive(data.get("cumQuote")), _positive(data.get("executedQty"))
    return quote / filled if quote is not None and filled is not None else None


def parse_order(data: Any) -> Order:
    """An order object of POST/GET/DELETE /fapi/v1/order, openOrders and batchOrders items."""
    if not isinstance(data, dict) or "orderId" not in data:
        raise MalformedReply(f"not an order: {str(data)[:200]}")
    try:
        kind_name = str(data.get("origType") or data["type"])  # `type` changes to MARKET once a stop triggers
        return Order(
            id=str(data["orderId"]),
            client_order_id=str(data.get("clientOrderId", "")),
            symbol=str(data["symbol"]),
            side=_SIDES[str(data["side"])],
            kind=_KINDS[kind_name],
            quantity=dec(data.get("origQty", 0)),
            status=_STATUSES[str(data["status"])],
            price=_positive(data.get("price")),
            trigger_price=_positive(data.get("stopPrice")),
            reduce_only=bool(data.get("reduceOnly", False)) or bool(data.get("closePosition", False)),
            filled_quantity=dec(data.get("executedQty", 0)),
            average_price=_average_price(data),
            updated_at=_iso(data.get("updateTime") or data.get("time")),
        )
    except KeyError as err:
        raise MalformedReply(f"order reply with unknown or missing {err}: {str(data)[:200]}") from err


def parse_positions(rows: Any) -> list[Position]:
    """Open one-way positions of `GET /fapi/v2/positionRisk` (positionAmt signed, 0 = flat)."""
    if not isinstance(rows, list):
        raise MalformedReply("positionRisk reply is not a list")
    positions: list[Position] = []
    for row in rows:
        amount = dec(row.get("positionAmt", 0))
        if amount == 0:
            continue
        if row.get("positionSide", "BOTH") != "BOTH":
            # hedge mode keeps LONG and SHORT legs apart; this adapter speaks one-way mode only
            raise NotSupported(
                f"{NAME}: the account is in hedge mode ({row['symbol']} {row['positionSide']}); "
                "switch Aster to one-way position mode", exchange=NAME)
        side = Side.BUY if amount > 0 else Side.SELL
        positions.append(Position(str(row["symbol"]), side, abs(amount), dec(row.get("entryPrice", 0))))
    return positions


def parse_balance(rows: Any, asset: str) -> Balance:
    """The `asset` row of `GET /fapi/v2/balance` (zero when the account has none)."""
    row = next((r for r in rows if r.get("asset") == asset), None)
    if row is None:
        return Balance(asset, Decimal(0), Decimal(0))
    extra = {"unrealized_pnl": dec(row.get("crossUnPnl", 0)),
             "cross_wallet_balance": dec(row.get("crossWalletBalance", 0))}
    return Balance(asset, dec(row["balance"]), dec(row["availableBalance"]), extra)


def read(parse: Callable[[], T], *, what: str, places_order: bool = False) -> T:
    """Run a parser over a success reply; a reply we cannot read is the venue's fault, and after an
    order request it leaves the outcome unknown (the order may exist: look it up, never resend)."""
    try:
        return parse()
    except (MalformedReply, KeyError, TypeError, ValueError, AttributeError) as err:
        unreadable = OutcomeUnknown if places_order else ExchangeUnavailable
        # what did not parse may quote the reply: the log has it, the user gets the reason
        log.warning("aster.reply.unreadable", what=what, error=f"{type(err).__name__}: {err}")
        raise unreadable(f"{NAME}: {what}: unexpected reply ({type(err).__name__})", exchange=NAME) from err


def batch_item(item: Any, what: str) -> Order | ExchangeError:
    """One item of a batchOrders reply: the order, or its `{code, msg}` translated (returned, not
    raised, so the caller can settle the other leg first). An unknown outcome is raised."""
    if error_code(item) is None:
        return read(lambda: parse_order(item), what=what, places_order=True)
    error = translate(400, item, places_order=True, what=what)
    error.__cause__ = VendorError(400, item)
    if isinstance(error, OutcomeUnknown):
        raise error
    return error
