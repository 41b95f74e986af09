"""How much to buy or sell: from the alert, the exchange section's tradeAmount, or the default.

A size in US dollars becomes a quantity through the venue's dollar value of one unit
(`Exchange.unit_value_usd`): the price on most venues, the base currency's dollar value on OANDA
(1000 dollars of USD_JPY are 1000 units, not 1000 / 155 units).

A user's `max_position_size_usd` (trade settings) caps the entry's dollar size, however it was
sized: an alert asking for more is entered at the cap, as the original did, not refused.
"""

from __future__ import annotations

from decimal import Decimal

import structlog

from sparky.config import ExchangeSection
from sparky.exchanges.base import Exchange, SymbolRules
from sparky.exchanges.errors import ExchangeError
from sparky.exchanges.rounding import floor_to_step
from sparky.signals.models import Signal

log = structlog.get_logger("sparky.sizing")


class OrderTooSmall(Exception):
    """The sized order is below the venue's minimum quantity or notional (refused before sending)."""


def order_quantity(
    signal: Signal,
    price: Decimal,
    rules: SymbolRules,
    section: ExchangeSection | None,
    default_usd: Decimal,
    unit_value_usd: Decimal | None = None,
    max_usd: Decimal | None = None,
) -> Decimal:
    """Base quantity floored to the step; raises OrderTooSmall with the reason.

    `unit_value_usd`: dollars one unit is worth at `price` (default: `price` itself).
    `max_usd`: the most the entry may be worth in dollars (None: no cap)."""
    unit = price if unit_value_usd is None else unit_value_usd
    if signal.quantity is not None:
        raw = signal.quantity
    else:
        if signal.position_size_usd is not None:
            usd = signal.position_size_usd
        elif section is not None and section.trade_amount is not None:
            usd = section.trade_amount * section.position_multiplier
        else:
            usd = default_usd
        raw = usd / unit
    if max_usd is not None and raw * unit > max_usd:
        log.info("sizing.capped", symbol=signal.symbol, asked=str(raw), max_position_size_usd=str(max_usd))
        raw = max_usd / unit
    quantity = floor_to_step(raw, rules.step_size)
    if quantity <= 0 or quantity < rules.min_quantity:
        raise OrderTooSmall(
            f"Order too small: {raw.normalize():f} {signal.symbol} rounds to {quantity:f} at step "
            f"{rules.step_size:f}, below the minimum quantity {rules.min_quantity:f}"
        )
    notional = quantity * price
    if notional < rules.min_notional:
        raise OrderTooSmall(
            f"Order too small: notional {notional:f} is below the minimum {rules.min_notional:f} "
            f"for {signal.symbol}"
        )
    return quantity


async def value_usd(exchange: Exchange, symbol: str, quantity: Decimal, price: Decimal) -> Decimal:
    """What `quantity` filled at `price` is worth in dollars, for the position row. Never raises:
    the position is open whatever this says, so a venue that cannot tell leaves quantity × price."""
    try:
        return quantity * await exchange.unit_value_usd(symbol, price)
    except ExchangeError as err:
        log.warning("position.value_unconverted", symbol=symbol, error=err.message)
        return quantity * price
