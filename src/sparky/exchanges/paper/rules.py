"""The paper venue's rules: its symbol rules (from settings, or derived from the first price seen),
what a valid number is, and when a resting order's level is crossed. Pure: no state, no I/O."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sparky.exchanges.base import OrderKind, Side, SymbolRules
from sparky.exchanges.errors import InvalidOrder

NAME = "paper"
ZERO = Decimal(0)


def bad(message: str) -> InvalidOrder:
    return InvalidOrder(f"paper: {message}", exchange=NAME)


def no_price(symbol: str) -> InvalidOrder:
    return bad(f"no price is known for {symbol}; the alert should carry a price")


def positive(value: Any, what: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise bad(f"{what} must be a finite number > 0, got {value!r}")
    return value


def is_multiple(value: Decimal, step: Decimal) -> bool:
    if step <= 0:  # no constraint (as in rounding.py)
        return True
    try:
        return value % step == 0
    except InvalidOperation:  # quotient too large for the context precision
        return False


def default_rules(symbol: str, price: Decimal) -> SymbolRules:
    """Rules from the first price seen: m = floor(log10(price)), tick 10^(m-5), step 10^-m."""
    m = price.adjusted()
    step = Decimal(1).scaleb(-m)
    return SymbolRules(symbol, Decimal(1).scaleb(m - 5), step, step, Decimal(5))


def fires(kind: OrderKind, side: Side, level: Decimal, price: Decimal) -> bool:
    """Whether an order with this limit/trigger `level` executes when the market is at `price`."""
    if kind is OrderKind.LIMIT:
        return price <= level if side is Side.BUY else price >= level
    if kind is OrderKind.STOP:
        return price >= level if side is Side.BUY else price <= level
    if kind is OrderKind.TAKE_PROFIT:
        return price <= level if side is Side.BUY else price >= level
    return True
