"""An option entry's prices and size (pure). Prices on the option's tick (exchanges/tradier_options/
rules.py): the entry limit rounded up (ask plus the offset: room to be filled), the exits rounded
toward the entry like every exit in Sparky (the stop up, the target down), so the loss never
exceeds the percent asked for. Contracts are bought whole, never rounded up: a budget below one
contract is refused."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from sparky.errors import BadRequest
from sparky.exchanges.tradier_options.rules import round_price


@dataclass(frozen=True)
class EntryPrices:
    entry: Decimal
    target: Decimal
    stop: Decimal


def entry_prices(ask: Decimal, *, root: str, penny_roots: Collection[str], offset_percent: Decimal,
                 stop_loss_percent: Decimal, take_profit_percent: Decimal) -> EntryPrices:
    entry = round_price(ask * (1 + offset_percent / 100), root, penny_roots, up=True)
    target = round_price(entry * (1 + take_profit_percent / 100), root, penny_roots, up=False)
    stop = round_price(entry * (1 - stop_loss_percent / 100), root, penny_roots, up=True)
    if target <= entry:
        raise BadRequest(f"take_profit_percent {take_profit_percent} is below one price tick at an entry of {entry}",
                         field="take_profit_percent")
    if not Decimal(0) < stop < entry:
        raise BadRequest(f"stop_loss_percent {stop_loss_percent} leaves no stop price below an entry of {entry}",
                         field="stop_loss_percent")
    return EntryPrices(entry, target, stop)


def contracts_for(budget: Decimal, entry: Decimal, contract_size: int, *, field: str) -> int:
    """Whole contracts the budget pays for at the entry limit (the most one contract can cost)."""
    per_contract = entry * contract_size
    contracts = int((budget / per_contract).to_integral_value(rounding=ROUND_FLOOR))
    if contracts < 1:
        raise BadRequest(f"A budget of ${budget.quantize(Decimal('0.01'))} buys no contract at "
                         f"${per_contract.quantize(Decimal('0.01'))} each ({entry} x {contract_size}); nothing was sent",
                         field=field)
    return contracts


def whole_contracts(quantity: Decimal) -> int:
    if quantity != quantity.to_integral_value() or quantity < 1:
        raise BadRequest(f"quantity must be a whole number of contracts, at least 1, not {quantity}", field="quantity")
    return int(quantity)
