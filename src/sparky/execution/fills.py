"""Entries the venue did not report cleanly filled: what they filled, read from the position.

Used by the executor between sending an entry and protecting it. Whatever cannot be settled here
raises `EntryUnsettled`, and the executor's emergency path takes it from there (invariant 3).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import structlog

from sparky.exchanges.base import Exchange, Order, OrderStatus
from sparky.execution.orders import cancel_quietly

log = structlog.get_logger("sparky.executor")


class EntryUnsettled(Exception):
    """An entry that cannot be settled: still working after a failed cancel, or filled without a
    price anywhere. The emergency path takes it from there."""


async def settle_unfilled_market(exchange: Exchange, symbol: str, order: Order) -> Order | None:
    """A market entry the venue did not report filled: never leave it working unwatched.
    Cancel what is left; the position it made, if any, is what gets protected (None: none)."""
    if order.status is OrderStatus.OPEN and await cancel_quietly(exchange, symbol, [order.id]):
        raise EntryUnsettled(f"the entry order {order.id} could not be cancelled")
    live = await exchange.position(symbol)
    if live is None or live.side is not order.side:
        return None
    log.warning("entry.fill_taken_from_position", order_status=order.status.value)
    return replace(order, status=OrderStatus.FILLED, filled_quantity=live.quantity,
                   average_price=live.entry_price, stop_loss_order_id=None, take_profit_order_id=None,
                   trailing_stop_order_id=None)


async def price_from_position(exchange: Exchange, order: Order) -> Decimal:
    """A fill reported without its price (a partly filled order's cancel reply, say): the
    position's entry price is what was paid."""
    live = await exchange.position(order.symbol)
    if live is None or live.side is not order.side or not live.entry_price:
        raise EntryUnsettled(f"the entry reported a fill without a price, and no {order.side.value} "
                             "position shows one")
    log.warning("entry.price_taken_from_position", price=str(live.entry_price))
    return live.entry_price
