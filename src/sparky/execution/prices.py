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


def exit_prices(side: Side, price: Decimal, sl_pct: Decimal | None, tp_pct: Decimal | None,
                tick: Decimal) -> tuple[Decimal | None, Decimal | None]:
    """The stop-loss and take-profit for a position entered at `price` (None where no percent)."""
    stop = stop_loss_price(side, price, sl_pct, tick) if sl_pct else None
    target = take_profit_price(side, price, tp_pct, tick) if tp_pct else None
    return stop, target
