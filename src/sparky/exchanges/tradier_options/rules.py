"""Option price ticks (pure).

Listed US equity options trade in $0.05 below $3.00 and $0.10 at or above; classes in the penny
program trade in $0.01 below $3.00 and $0.05 at or above. Tradier's chain has no penny flag, so the
penny classes are a setting (`penny_pilot_roots`, by OCC root). Every price is a multiple of its
tick, the tick taken at the rounded price (rounding can cross $3.00)."""

from __future__ import annotations

from collections.abc import Collection
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

THRESHOLD = Decimal(3)
NICKEL, DIME, PENNY = Decimal("0.05"), Decimal("0.10"), Decimal("0.01")


def tick_for(price: Decimal, root: str, penny_roots: Collection[str]) -> Decimal:
    if root.upper() in penny_roots:
        return PENNY if price < THRESHOLD else NICKEL
    return NICKEL if price < THRESHOLD else DIME


def _to_tick(price: Decimal, tick: Decimal, rounding: str) -> Decimal:
    return ((price / tick).to_integral_value(rounding=rounding) * tick).quantize(PENNY)


def round_price(price: Decimal, root: str, penny_roots: Collection[str], *, up: bool) -> Decimal:
    """`price` on the option's tick, up or down. Rounding across $3.00 re-rounds on the new tick."""
    rounding = ROUND_CEILING if up else ROUND_FLOOR
    value = _to_tick(price, tick_for(price, root, penny_roots), rounding)
    tick = tick_for(value, root, penny_roots)
    if value % tick:
        value = _to_tick(value, tick, rounding)
    return value
