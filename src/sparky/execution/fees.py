"""An order's fee, where the venue reports it apart from the order (`Exchange.order_fee`).

The fee is needed only when a row is written (the position's entry fees, a trade's), so it is read
once the fill is confirmed, beside work the caller awaits anyway (the entry's protection, the
close's flat check): it costs no time on the way to the stop. A fee that cannot be read never fails
a trade: it is unknown (None), and the trade's P&L is then before fees.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import replace
from typing import TypeVar

import structlog

from sparky.exchanges.base import Exchange, Order

log = structlog.get_logger("sparky.fees")

T = TypeVar("T")


async def with_fee(exchange: Exchange, order: Order) -> Order:
    """`order` with its fee, as far as the venue can tell it."""
    if order.fee is not None or not order.filled_quantity:
        return order
    try:
        fee = await exchange.order_fee(order)
    except Exception as err:  # noqa: BLE001 - the fill is done; only its fee is unknown
        log.warning("fee.unavailable", order_id=order.id, error_type=type(err).__name__, error=str(err))
        return order
    return order if fee is None else replace(order, fee=fee)


async def alongside(work: Awaitable[T], exchange: Exchange, order: Order) -> tuple[T, Order]:
    """`work`'s result and `order` with its fee, the fee read while `work` runs. `work` goes first
    and its failure is raised as it is (the fee's read is then dropped)."""
    fee = asyncio.create_task(with_fee(exchange, order))
    try:
        result = await work
    except BaseException:
        fee.cancel()
        raise
    return result, await fee
