"""Open-position limits, checked where they cannot race: at the moment a new position is opened.

The local user's limit is config.json's `riskManagement.maxPositions` (across exchanges); a
tenant's is `trade_settings_exchange.max_open_positions` for that exchange (0 = unlimited).
Counting and opening must not race: two signals on different symbols run concurrently, and counts
taken before either opens would let both through. So, when a limit applies, new positions of one
user are opened one at a time under that user's lock (count → entry → record). Reversals and
closes never change the count and never wait here. A limit entry resting on the venue counts as
a position: it becomes one when it fills, with no signal to check the limit then.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from sparky.signals.auth import LOCAL_USER_ID
from sparky.store.base import Store
from sparky.store.tenants import TradeSettings


class SettingsReads(Protocol):
    async def get_trade_settings(self, user_id: str, exchange: str) -> TradeSettings | None: ...

    async def count_open_positions(self, user_id: str, exchange: str | None = None) -> int: ...


class PositionLimitReached(Exception):
    def __init__(self, current: int, limit: int, limit_type: str) -> None:
        super().__init__(f"Maximum open positions reached ({current}/{limit})")
        self.current = current
        self.limit = limit
        #: the original's names: config.json `max_positions`, trade settings `max_open_positions`
        self.limit_type = limit_type


class PositionLimit:
    def __init__(self, store: Store, local_max: int | None, tenant_reads: SettingsReads | None = None) -> None:
        self._store = store
        self._local_max = local_max
        self._reads = tenant_reads
        self._locks: dict[str, asyncio.Lock] = {}

    async def _limit(self, user_id: str, exchange: str) -> int | None:
        if user_id == LOCAL_USER_ID or self._reads is None:
            return self._local_max or None
        settings = await self._reads.get_trade_settings(user_id, exchange)
        return settings.max_open_positions if settings and settings.max_open_positions else None

    async def _count(self, user_id: str, exchange: str) -> int:
        if user_id == LOCAL_USER_ID or self._reads is None:  # config.json's limit spans every exchange
            positions = len(await self._store.list_positions(user_id=user_id))
            resting = await self._store.list_resting_entries(user_id=user_id)
        else:
            positions = await self._reads.count_open_positions(user_id, exchange)
            resting = await self._store.list_resting_entries(user_id=user_id, exchange=exchange)
        return positions + len(resting)

    @asynccontextmanager
    async def opening(self, user_id: str, exchange: str) -> AsyncIterator[None]:
        """Hold while opening a new position; raises PositionLimitReached when full."""
        limit = await self._limit(user_id, exchange)
        if not limit:
            yield
            return
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        async with lock:
            current = await self._count(user_id, exchange)
            if current >= limit:
                local = user_id == LOCAL_USER_ID or self._reads is None
                raise PositionLimitReached(current, limit, "max_positions" if local else "max_open_positions")
            yield
