"""Aster symbol rules from `GET /fapi/v1/exchangeInfo`, and the pre-flight checks and formatting
every order goes through before it is signed.

Filters used (Aster v1 docs, "Filters"): PRICE_FILTER {minPrice, maxPrice, tickSize}, LOT_SIZE
{minQty, maxQty, stepSize}, MARKET_LOT_SIZE {maxQty} and MIN_NOTIONAL {notional}. The docs say to
use tickSize/stepSize, never pricePrecision/quantityPrecision. Reduce-only orders are exempt from
MIN_NOTIONAL on Binance-style venues (the -4164 message says "unless you choose reduce only"), so
the notional is only checked on orders that may open or add to a position.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import structlog

from sparky.exchanges.base import OrderKind, OrderRequest, SymbolRules
from sparky.exchanges.errors import InvalidOrder

log = structlog.get_logger("sparky.exchanges.aster")

NAME = "aster"
ZERO = Decimal(0)


@dataclass(frozen=True)
class SymbolSpec:
    rules: SymbolRules
    status: str = "TRADING"
    min_price: Decimal = ZERO  # 0 disables the bound (docs: PRICE_FILTER)
    max_price: Decimal = ZERO
    max_quantity: Decimal = ZERO
    market_max_quantity: Decimal = ZERO
    #: the asset the symbol's P&L and fees are paid in (exchangeInfo `marginAsset`; "" if not given)
    margin_asset: str = ""


@dataclass(frozen=True)
class Prepared:
    """An order's numbers as they go on the wire."""

    quantity: str
    price: str | None = None
    stop_price: str | None = None


def _dec(value: Any) -> Decimal:
    number = Decimal(str(value))
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def _spec(entry: dict[str, Any]) -> SymbolSpec:
    filters = {f.get("filterType"): f for f in entry.get("filters", []) if isinstance(f, dict)}
    price = filters.get("PRICE_FILTER", {})
    lot = filters.get("LOT_SIZE", {})
    market_lot = filters.get("MARKET_LOT_SIZE", {})
    notional = filters.get("MIN_NOTIONAL", {})
    symbol = str(entry["symbol"])
    rules = SymbolRules(
        symbol=symbol,
        tick_size=_dec(price.get("tickSize", 0)),
        step_size=_dec(lot.get("stepSize", 0)),
        min_quantity=_dec(lot.get("minQty", 0)),
        # Binance spells it `notional` on futures and `minNotional` on older pages
        min_notional=_dec(notional.get("notional", notional.get("minNotional", 0))),
    )
    return SymbolSpec(
        rules=rules,
        status=str(entry.get("status", "TRADING")),
        min_price=_dec(price.get("minPrice", 0)),
        max_price=_dec(price.get("maxPrice", 0)),
        max_quantity=_dec(lot.get("maxQty", 0)),
        market_max_quantity=_dec(market_lot.get("maxQty", 0)),
        margin_asset=str(entry.get("marginAsset") or ""),
    )


def parse_exchange_info(body: Any) -> dict[str, SymbolSpec]:
    """Every well-formed symbol of the reply; a malformed entry is skipped (and logged), not fatal."""
    if not isinstance(body, dict) or not isinstance(body.get("symbols"), list):
        raise ValueError("exchangeInfo reply has no `symbols` list")
    specs: dict[str, SymbolSpec] = {}
    for entry in body["symbols"]:
        try:
            spec = _spec(entry)
        except (KeyError, TypeError, ValueError, InvalidOperation) as err:
            log.warning("aster.rules.malformed_symbol", entry=str(entry)[:200], error=repr(err))
            continue
        specs[spec.rules.symbol] = spec
    return specs


def _on_grid(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    """`value` moved onto the step grid, with the step's own number of decimals (never exponent
    notation: a step of "1" or "10" still prints as an integer)."""
    if step > 0:
        value = (value / step).to_integral_value(rounding=rounding) * step
        decimals = max(-int(step.normalize().as_tuple().exponent), 0)  # a finite step: an int
        return value.quantize(Decimal(1).scaleb(-decimals))
    return value


def wire(value: Decimal) -> str:
    """Plain decimal text: no exponent, no float."""
    text = format(value, "f")
    return text if text not in ("-0", "") else "0"


def format_quantity(value: Decimal, step: Decimal) -> Decimal:
    return _on_grid(value, step, ROUND_FLOOR)  # never more than asked for


def format_price(value: Decimal, tick: Decimal) -> Decimal:
    return _on_grid(value, tick, ROUND_HALF_EVEN)  # the executor already sends prices on the tick


def _price(spec: SymbolSpec, value: Decimal | None, what: str, symbol: str) -> Decimal:
    if value is None or not value.is_finite() or value <= 0:
        raise InvalidOrder(f"{NAME}: {what} must be a positive price for {symbol}, got {value}", exchange=NAME)
    rounded = format_price(value, spec.rules.tick_size)
    if rounded <= 0:
        raise InvalidOrder(f"{NAME}: {what} {value} rounds to 0 at tick {spec.rules.tick_size}", exchange=NAME)
    if spec.min_price > 0 and rounded < spec.min_price:
        raise InvalidOrder(f"{NAME}: {what} {rounded} is below the minimum price {spec.min_price} of {symbol}",
                           exchange=NAME)
    if spec.max_price > 0 and rounded > spec.max_price:
        raise InvalidOrder(f"{NAME}: {what} {rounded} is above the maximum price {spec.max_price} of {symbol}",
                           exchange=NAME)
    return rounded


def prepare(spec: SymbolSpec, request: OrderRequest, reference_price: Decimal | None) -> Prepared:
    """Round to the venue's grid and refuse, before sending, what the venue would refuse."""
    rules, symbol = spec.rules, request.symbol
    if spec.status != "TRADING":
        raise InvalidOrder(f"{NAME}: {symbol} is not trading (status {spec.status})", exchange=NAME)
    if not request.quantity.is_finite() or request.quantity <= 0:
        raise InvalidOrder(f"{NAME}: quantity must be positive, got {request.quantity}", exchange=NAME)
    quantity = format_quantity(request.quantity, rules.step_size)
    if quantity != request.quantity:
        log.warning("aster.order.quantity_floored", asked=str(request.quantity), sent=str(quantity))
    if quantity <= 0 or quantity < rules.min_quantity:
        raise InvalidOrder(
            f"{NAME}: order too small: {wire(request.quantity)} {symbol} is below the minimum quantity "
            f"{wire(rules.min_quantity)} (step {wire(rules.step_size)})", exchange=NAME)
    maximum = spec.market_max_quantity if request.kind is OrderKind.MARKET and spec.market_max_quantity > 0 \
        else spec.max_quantity
    if maximum > 0 and quantity > maximum:
        raise InvalidOrder(f"{NAME}: quantity {wire(quantity)} is above the maximum {wire(maximum)} for {symbol}",
                           exchange=NAME)

    price = stop = None
    if request.kind is OrderKind.LIMIT:
        price = _price(spec, request.price, "limit price", symbol)
    elif request.kind in (OrderKind.STOP, OrderKind.TAKE_PROFIT):
        stop = _price(spec, request.trigger_price, "trigger price", symbol)

    notional_price = price or stop or reference_price
    if not request.reduce_only and notional_price is not None and rules.min_notional > 0:
        notional = quantity * notional_price
        if notional < rules.min_notional:
            raise InvalidOrder(
                f"{NAME}: order too small: notional {wire(notional)} is below the minimum "
                f"{wire(rules.min_notional)} for {symbol}", exchange=NAME)
    return Prepared(wire(quantity), None if price is None else wire(price), None if stop is None else wire(stop))
