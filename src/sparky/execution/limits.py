"""The legacy `riskManagement.maxPositions` limit: open positions per user, across exchanges.

Counting and opening must not race: two signals on different symbols run concurrently, and a
count taken before either opens would let both through. So, only when a limit is set, new
positions of one user are opened one at a time under that user's lock (count → entry → record).
Reversals and closes never change the count and never wait here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sparky.store.base import Store


class PositionLimitReached(Exception):
    def __init__(self, current: int, limit: int) -> None:
        super().__init__(f"Maximum open positions reached ({current}/{limit})")
        self.current = current
        self.limit = limit


class PositionLimit:
    def __init__(self, store: Store, max_positions: int | None) -> None:
        self._store = store
        self._limit = max_positions
        self._locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def opening(self, user_id: str) -> AsyncIterator[None]:
        """Hold while opening a new position; raises PositionLimitReached when full."""
        if not self._limit:
            yield
            return
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        async with lock:
            current = len(await self._store.list_positions(user_id=user_id))
            if current >= self._limit:
                raise PositionLimitReached(current, self._limit)
            yield
