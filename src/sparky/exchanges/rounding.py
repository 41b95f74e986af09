"""Decimal rounding to a venue's tick and step sizes (never floats formatted by hand)."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of `step` that is <= value (quantities are always floored)."""
    if step <= 0:
        return value
    units = (value / step).to_integral_value(rounding=ROUND_FLOOR)
    return (units * step).quantize(step)


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Smallest multiple of `step` that is >= value."""
    if step <= 0:
        return value
    units = (value / step).to_integral_value(rounding=ROUND_CEILING)
    return (units * step).quantize(step)


def round_toward(value: Decimal, step: Decimal, *, target: Decimal) -> Decimal:
    """Round `value` to a multiple of `step`, moving toward `target` (the entry price)."""
    return ceil_to_step(value, step) if value < target else floor_to_step(value, step)
