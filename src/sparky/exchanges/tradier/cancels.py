"""One `DELETE` per Tradier order, however many of its legs are cancelled.

The legs of an OCO (and an OTOCO) are one Tradier order, and cancelling it cancels every leg. A
close cancels both stored exits at once, so two cancels for one order arrive together: the
second waits for the first, then finds its leg cancelled with it (OrderNotFound: not open).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from sparky.exchanges.base import Order
from sparky.exchanges.errors import OrderNotFound
from sparky.exchanges.tradier.api import NAME

#: how many cancelled orders are remembered; a later cancel of an older one reads it instead
REMEMBERED = 256


class OrderCancels:
    def __init__(self) -> None:
        #: orders being cancelled: a future each, done when that cancel ends (whatever its end)
        self._running: dict[str, asyncio.Future[None]] = {}
        self._cancelled: OrderedDict[str, None] = OrderedDict()

    async def cancel(self, parent: str, order_id: str, send: Callable[[], Awaitable[Order]]) -> Order:
        """Run `send` (read the order, `DELETE` it) unless order `parent` is being or was cancelled."""
        while (running := self._running.get(parent)) is not None:
            await running
        if parent in self._cancelled:
            raise OrderNotFound(f"{NAME}: order {order_id} is not open (cancelled with order {parent})",
                                exchange=NAME)
        done = self._running[parent] = asyncio.get_running_loop().create_future()
        try:
            order = await send()
            self._cancelled[parent] = None
            while len(self._cancelled) > REMEMBERED:
                self._cancelled.popitem(last=False)
            return order
        finally:
            del self._running[parent]
            done.set_result(None)
