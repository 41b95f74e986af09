"""The leverage a user configured (credentials option `leverage`), set once per symbol before its
first entry — started as soon as a signal for an entry arrives, beside its first reads.

`POST /fapi/v1/leverage` must be answered before the entry goes out (the entry takes the symbol's
leverage as it is then), so awaited in line it is one more round trip on a first entry. Started
when the signal arrives (`Exchange.prepare_entry`), it is usually done by the time the entry is
sent; the entry waits for it if not, and sets it again itself if that attempt failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from sparky.exchanges.errors import ExchangeError

log = structlog.get_logger("sparky.exchanges.aster")


class Leverage:
    def __init__(self, leverage: int | None, set_leverage: Callable[[str, int], Awaitable[int]]) -> None:
        self._leverage = leverage
        self._set_leverage = set_leverage
        self._set: set[str] = set()
        self._pending: dict[str, asyncio.Task[None]] = {}

    def start(self, symbol: str) -> None:
        """Begin setting it on `symbol` in the background, unless done or under way."""
        if self._leverage is None or symbol in self._set or symbol in self._pending:
            return
        task = asyncio.create_task(self._early(symbol), name=f"aster.leverage.{symbol}")
        self._pending[symbol] = task
        task.add_done_callback(lambda _: self._pending.pop(symbol, None))

    async def _early(self, symbol: str) -> None:
        try:
            await self._apply(symbol)
        except ExchangeError as err:  # the entry sets it itself, and fails as it always did if it must
            log.warning("aster.leverage.early_failed", symbol=symbol, error=err.message)

    async def ensure(self, symbol: str) -> None:
        """Before an entry on `symbol`: set, by the early attempt or now (raising what the venue said)."""
        if self._leverage is None or symbol in self._set:
            return
        pending = self._pending.get(symbol)
        if pending is not None:
            await asyncio.gather(pending, return_exceptions=True)
        if symbol not in self._set:
            await self._apply(symbol)

    async def _apply(self, symbol: str) -> None:
        assert self._leverage is not None
        await self._set_leverage(symbol, self._leverage)
        self._set.add(symbol)

    async def aclose(self) -> None:
        tasks = list(self._pending.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
