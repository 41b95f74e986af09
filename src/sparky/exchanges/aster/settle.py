"""A market order settled: filled (perhaps partly) or refused, never left working.

Aster answers a market order with its fill (`newOrderRespType=RESULT`) as a rule; one not final
yet is looked up by client id a bounded number of times, then what is left of it is cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

import structlog

from sparky.exchanges.aster.api import Params
from sparky.exchanges.base import Order, OrderRequest, OrderStatus
from sparky.exchanges.errors import ExchangeError, InvalidOrder, OrderNotFound, OutcomeUnknown

log = structlog.get_logger("sparky.exchanges.aster")

NAME = "aster"

LookUp = Callable[..., Awaitable[Order | None]]
Cancel = Callable[[str, Params], Awaitable[Order]]


async def settled(order: Order, request: OrderRequest, *, look_up: LookUp, cancel: Cancel, lookups: int,
                  poll_seconds: float) -> Order:
    """`look_up` is the adapter's `get_order`, `cancel` its cancel by key."""
    try:
        order = await _final(order, request, look_up, cancel, lookups, poll_seconds)
    except OutcomeUnknown:
        raise
    except ExchangeError as err:  # the order exists: the caller must look it up, not resend it
        raise OutcomeUnknown(f"{NAME}: market order {request.client_order_id} was placed but its fill "
                             f"could not be confirmed ({err.message})", exchange=NAME) from err
    if order.filled_quantity > 0:
        if order.status is not OrderStatus.FILLED:
            log.warning("aster.order.partial_fill", client_order_id=order.client_order_id,
                        filled=str(order.filled_quantity), quantity=str(order.quantity))
            order = replace(order, status=OrderStatus.FILLED)  # done: what filled is the position
        if order.average_price is None:  # no avgPrice, no cumQuote: the look-up by client id has it
            raise OutcomeUnknown(f"{NAME}: {request.client_order_id} filled at a price not given", exchange=NAME)
        return order
    raise InvalidOrder(f"{NAME}: market order {request.client_order_id} ended {order.status.value} unfilled",
                       exchange=NAME)


async def _final(order: Order, request: OrderRequest, look_up: LookUp, cancel: Cancel, lookups: int,
                 poll_seconds: float) -> Order:
    symbol, cid = request.symbol, request.client_order_id
    for _ in range(lookups):
        if order.status.is_final:
            return order
        await asyncio.sleep(poll_seconds)  # the venue's matching engine, not our synchronisation
        order = await look_up(symbol, client_order_id=cid) or order
    if order.status.is_final:
        return order
    try:
        return await cancel(symbol, [("origClientOrderId", cid)])
    except OrderNotFound:  # it completed between the last look-up and the cancel
        found = await look_up(symbol, client_order_id=cid)
        if found is None:
            raise OutcomeUnknown(f"{NAME}: market order {cid} vanished", exchange=NAME) from None
        return found
