"""Stop-loss and take-profit prices from percentages on the actual fill price.

Both exits are rounded to the tick toward the entry price — the loss never exceeds the percent
asked for and the target is never further than asked — but always at least one tick away from the
fill on the correct side, so a coarse tick can never put an exit on the wrong side of the entry.
"""

from __future__ import annotations

from decimal import Decimal

from sparky.exchanges.base import Side
from sparky.exchanges.rounding import ceil_to_step, floor_to_step, round_toward

HUNDRED = Decimal(100)


def stop_loss_price(side: Side, fill: Decimal, percent: Decimal, tick: Decimal) -> Decimal:
    if side is Side.BUY:
        price = round_toward(fill * (1 - percent / HUNDRED), tick, target=fill)
        return min(price, ceil_to_step(fill, tick) - tick) if price >= fill else price
    price = round_toward(fill * (1 + percent / HUNDRED), tick, target=fill)
    return max(price, floor_to_step(fill, tick) + tick) if price <= fill else price


def take_profit_price(side: Side, fill: Decimal, percent: Decimal, tick: Decimal) -> Decimal:
    if side is Side.BUY:
        price = round_toward(fill * (1 + percent / HUNDRED), tick, target=fill)
        return max(price, floor_to_step(fill, tick) + tick) if price <= fill else price
    price = round_toward(fill * (1 - percent / HUNDRED), tick, target=fill)
    return min(price, ceil_to_step(fill, tick) - tick) if price >= fill else price
