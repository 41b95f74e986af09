"""How much to buy or sell: from the alert, the exchange section's tradeAmount, or the default."""

from __future__ import annotations

from decimal import Decimal

from sparky.config import ExchangeSection
from sparky.exchanges.base import SymbolRules
from sparky.exchanges.rounding import floor_to_step
from sparky.signals.models import Signal


class OrderTooSmall(Exception):
    """The sized order is below the venue's minimum quantity or notional (refused before sending)."""


def order_quantity(
    signal: Signal,
    price: Decimal,
    rules: SymbolRules,
    section: ExchangeSection | None,
    default_usd: Decimal,
) -> Decimal:
    """Base quantity floored to the step; raises OrderTooSmall with the reason."""
    if signal.quantity is not None:
        raw = signal.quantity
    else:
        if signal.position_size_usd is not None:
            usd = signal.position_size_usd
        elif section is not None and section.trade_amount is not None:
            usd = section.trade_amount * section.position_multiplier
        else:
            usd = default_usd
        raw = usd / price
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
