"""OANDA v20 wire format: base URLs, instrument names, number formatting, error translation.

Everything here is pure (no I/O) so the adapter in `oanda.py` stays about behaviour. Vendor facts
come from developer.oanda.com (rest-live-v20) and the official `oanda/v20-python` client.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sparky.exchanges.base import OrderKind, OrderRequest, Side
from sparky.exchanges.credentials import VenueCredentials
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
)

NAME = "oanda"
LIVE_URL = "https://api-fxtrade.oanda.com"
PRACTICE_URL = "https://api-fxpractice.oanda.com"
#: tag put in every clientExtensions so orders placed by Sparky are recognisable in the OANDA UI
TAG = "sparky"


def base_url(credentials: VenueCredentials) -> str:
    if credentials.base_url:
        return credentials.base_url.rstrip("/")
    env = (credentials.environment or "practice").strip().lower()
    return LIVE_URL if env in ("live", "production") else PRACTICE_URL


def instrument_name(symbol: str) -> str:
    """EURUSD, EUR/USD, eur-usd, EUR_USD → EUR_USD; XAUUSD → XAU_USD; US30USD → US30_USD.

    Every OANDA instrument is BASE_QUOTE with a three-letter quote currency, and TradingView's
    OANDA tickers are the instrument without the underscore, so the split is unambiguous."""
    name = symbol.strip().upper().replace("/", "_").replace("-", "_")
    if "_" in name:
        return name
    if len(name) <= 3 or not name.isalnum():
        raise UnknownSymbol(f"oanda: {symbol!r} is not an instrument name (e.g. EURUSD or EUR_USD)",
                            exchange=NAME)
    return f"{name[:-3]}_{name[-3:]}"


def ticker(instrument: str) -> str:
    """The TradingView spelling of an instrument (EUR_USD → EURUSD): what alerts usually carry."""
    return instrument.replace("_", "")


def decimal(value: Any, what: str = "number") -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError) as err:
        raise ExchangeUnavailable(f"oanda: unreadable {what} {value!r} in a reply", exchange=NAME) from err
    if not result.is_finite():
        raise ExchangeUnavailable(f"oanda: unreadable {what} {value!r} in a reply", exchange=NAME)
    return result


@dataclass(frozen=True)
class InstrumentSpec:
    """What `GET /v3/accounts/{id}/instruments` says about one instrument."""

    name: str
    display_precision: int
    units_precision: int
    minimum_units: Decimal
    #: a pip is 10^pipLocation (-4 for EUR_USD, -2 for USD_JPY and XAU_USD)
    pip_location: int = -4

    @classmethod
    def from_venue(cls, data: dict[str, Any]) -> InstrumentSpec:
        return cls(
            name=data["name"],
            display_precision=int(data["displayPrecision"]),
            units_precision=int(data.get("tradeUnitsPrecision", 0)),
            minimum_units=decimal(data.get("minimumTradeSize", "1"), "minimumTradeSize"),
            pip_location=int(data.get("pipLocation", -4)),
        )

    @property
    def tick(self) -> Decimal:
        return Decimal(1).scaleb(-self.display_precision)

    @property
    def step(self) -> Decimal:
        return Decimal(1).scaleb(-self.units_precision)

    def price(self, value: Decimal) -> Decimal:
        """Round half-up to displayPrecision (1.12247999999 → 1.12248; OANDA rejects extra digits)."""
        return value.quantize(self.tick, rounding=ROUND_HALF_UP)

    def price_text(self, value: Decimal) -> str:
        return format(self.price(value), "f")

    def units(self, quantity: Decimal) -> Decimal:
        """Floor to tradeUnitsPrecision: rounding never makes an order bigger than asked."""
        return abs(quantity).quantize(self.step, rounding=ROUND_FLOOR)

    def units_text(self, units: Decimal, *, negative: bool) -> str:
        text = format(units, "f")
        return f"-{text}" if negative else text


@dataclass(frozen=True)
class TrailingStop:
    """A trailing stop asked for in the account settings: a price distance, or pips."""

    distance: Decimal | None = None
    pips: Decimal | None = None

    @classmethod
    def from_settings(cls, extra: dict[str, Any]) -> TrailingStop | None:
        """`trailing_stop_distance` (0.0015) or `trailing_stop_pips` (15), snake or camel case."""
        for unit, keys in (("distance", ("trailing_stop_distance", "trailingStopDistance")),
                           ("pips", ("trailing_stop_pips", "trailingStopPips"))):
            raw = next((extra[k] for k in keys if extra.get(k) not in (None, "")), None)
            if raw is not None:
                return cls(**{unit: positive_setting(raw, keys[0])})
        return None

    def distance_for(self, spec: InstrumentSpec) -> Decimal:
        if self.distance is not None:
            return self.distance
        assert self.pips is not None
        return self.pips * Decimal(1).scaleb(spec.pip_location)


def positive_setting(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = Decimal(0)
    if not number.is_finite() or number <= 0:
        raise InvalidOrder(f"oanda: {what} must be a number > 0, got {value!r}", exchange=NAME)
    return number


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
    text = f"oanda: {code or 'rejected'}: {message}" if message else f"oanda: {code or 'rejected'}"
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
    message = str(body.get("errorMessage") or "")
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
