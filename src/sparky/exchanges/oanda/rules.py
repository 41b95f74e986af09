"""OANDA instrument rules: names, precision (display precision, pip location, trade units), trailing
stop distances. Pure, no I/O. Vendor facts come from developer.oanda.com (rest-live-v20) and the
official `oanda/v20-python` client.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sparky.exchanges.errors import ExchangeUnavailable, InvalidOrder, UnknownSymbol

NAME = "oanda"
#: tag put in every clientExtensions so orders placed by Sparky are recognisable in the OANDA UI
TAG = "sparky"


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
