"""Limits that count entries, checked where they cannot race: at the moment an entry is made.

The local user's limit is config.json's `riskManagement.maxPositions` (across exchanges). A
tenant's are, per exchange in `trade_settings_exchange`, `max_open_positions`, `max_trades_per_day`
(UTC day), `max_trades_per_week` and `max_loss_per_week_usd` (0 or NULL = unlimited).
`max_position_size_usd` is no count: it caps the entry's size (`size_cap`, applied by the sizing).

Counting and entering must not race: two alerts on different symbols run concurrently, and counts
taken before either entered would let both through. So, when such a limit applies, the entries of
one user are made one at a time under that user's lock, held from the count until the entry is
recorded (its position row written, or its trade when it was closed at once). The next entry's
count therefore includes every earlier one: no entry is ever in flight uncounted. With Redis
(`REDIS_URL`) the lock is also a Redis lock, so servers sharing Redis and one database queue for
each other as well. A reversal adds a trade but no position: it holds the lock only for the weekly
limits. Closes never wait here. A limit entry resting on the venue counts as a position: it
becomes one when it fills, with no signal to check the limit then.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from sparky.cache import Cache, InProcessCache, LockNotAcquired
from sparky.execution.outcome import Outcome, jsonable
from sparky.signals.auth import LOCAL_USER_ID
from sparky.signals.risk import RiskCheckUnavailable, counted_limit_refusal, counts_entries
from sparky.store.base import Store, utcnow
from sparky.store.tenants import TradeSettings, WeeklyTradeStats

#: a holder that crashed frees the user's entries after this long; a live entry never takes that long
USER_LOCK_TIMEOUT_SEC = 120.0
#: how long an entry waits for the same user's entry on another server
USER_LOCK_WAIT_SEC = 90.0


class SettingsReads(Protocol):
    async def get_trade_settings(self, user_id: str, exchange: str) -> TradeSettings | None: ...

    async def weekly_trade_stats(self, user_id: str, exchange: str, since: datetime) -> WeeklyTradeStats: ...

    async def count_open_positions(self, user_id: str, exchange: str | None = None) -> int: ...


class EntryRefused(Exception):
    """An entry not made because of its limits; nothing was sent. `outcome` is the answer."""

    @property
    def outcome(self) -> Outcome:
        raise NotImplementedError


class EntryLimitReached(EntryRefused):
    def __init__(self, limit_type: str, current: int | Decimal | str | None, limit: int | Decimal | str | None,
                 message: str) -> None:
        super().__init__(message)
        #: the original's names: config.json `max_positions`; trade settings `max_open_positions`,
        #: `max_trades_per_week`, `max_loss_per_week_usd`
        self.limit_type = limit_type
        self.current = current
        self.limit = limit

    @property
    def outcome(self) -> Outcome:
        return Outcome.risk_limit(self.limit_type, jsonable(self.current), jsonable(self.limit), str(self))


class LimitsUnchecked(EntryRefused):
    """The counts could not be read (store down) or the user's lock not taken: nothing was sent."""

    @property
    def outcome(self) -> Outcome:
        return Outcome.failed(f"{self}; nothing was executed")


class InvalidSetting(EntryRefused):
    """A trade setting Sparky cannot apply: the entry is refused, nothing was sent."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field

    @property
    def outcome(self) -> Outcome:
        outcome = Outcome.rejected(str(self))
        outcome.body["field"] = self.field
        return outcome


class PositionLimit:
    def __init__(self, store: Store, local_max: int | None, tenant_reads: SettingsReads | None = None,
                 cache: Cache | None = None) -> None:
        self._store = store
        self._local_max = local_max
        self._reads = tenant_reads
        #: shared by the servers when it is Redis; in process its lock is a no-op and ours decides
        self._cache = cache or InProcessCache()
        self._locks: dict[str, asyncio.Lock] = {}

    def _local(self, user_id: str) -> bool:
        return user_id == LOCAL_USER_ID or self._reads is None

    async def _settings(self, user_id: str, exchange: str) -> TradeSettings | None:
        assert self._reads is not None
        try:
            return await self._reads.get_trade_settings(user_id, exchange)
        except Exception as err:  # the store is down: refuse rather than enter unchecked
            raise LimitsUnchecked("Risk limits could not be checked") from err

    async def size_cap(self, user_id: str, exchange: str) -> Decimal | None:
        """The user's `max_position_size_usd` on `exchange`: the most an entry may be worth in
        dollars, or None (not set, or 0: no cap). Raises EntryRefused when it cannot be read or is
        negative or not a number, before anything is sent."""
        if self._local(user_id):
            return None
        settings = await self._settings(user_id, exchange)
        value = settings.max_position_size_usd if settings is not None else None
        try:
            cap = None if value is None or isinstance(value, bool) else Decimal(str(value))
        except ArithmeticError:
            cap = Decimal("NaN")
        if value is not None and (cap is None or not cap.is_finite() or cap < 0):
            raise InvalidSetting("max_position_size_usd",
                                 f"max_position_size_usd must be a positive number of dollars (0: no cap), "
                                 f"got {str(value)[:40]!r}; fix it in Trade Settings")
        return cap if cap else None

    async def resting_count(self, user_id: str, exchange: str | None = None) -> int:
        return len(await self._store.list_resting_entries(user_id=user_id, exchange=exchange))

    @asynccontextmanager
    async def opening(self, user_id: str, exchange: str, *, new_position: bool = True) -> AsyncIterator[bool]:
        """Hold while making an entry and recording it; raises EntryRefused (before anything was
        sent) when a limit is reached or cannot be checked. `new_position` is False for a reversal,
        which the open-position limits do not count. Yields True when it holds the user's lock:
        the entry must then be recorded before the block ends."""
        if self._local(user_id):
            limit = self._local_max if new_position else None
            if not limit:
                yield False
                return
            async with self._held(user_id):
                current = len(await self._store.list_positions(user_id=user_id)) + await self.resting_count(user_id)
                if current >= limit:
                    raise EntryLimitReached("max_positions", current, limit,
                                            f"Maximum open positions reached ({current}/{limit})")
                yield True
            return
        settings = await self._settings(user_id, exchange)
        if not counts_entries(settings, open_positions=new_position):
            yield False
            return
        assert settings is not None and self._reads is not None
        async with self._held(user_id):
            try:
                decision = await counted_limit_refusal(_WithResting(self._reads, self), user_id, exchange, settings,
                                                       utcnow(), open_positions=new_position)
            except RiskCheckUnavailable as err:
                raise LimitsUnchecked("Risk limits could not be checked") from err
            if decision is not None:
                raise EntryLimitReached(decision.limit_type, decision.current, decision.limit, decision.message)
            yield True

    @asynccontextmanager
    async def _held(self, user_id: str) -> AsyncIterator[None]:
        """The user's lock: this server's first (so one entry per server queues on Redis), then the
        one every server sharing the cache takes."""
        async with self._locks.setdefault(user_id, asyncio.Lock()):
            acquired = False
            try:
                async with self._cache.lock(f"entries:{user_id}", timeout=USER_LOCK_TIMEOUT_SEC,
                                            wait=USER_LOCK_WAIT_SEC):
                    acquired = True
                    yield
            except LockNotAcquired as err:
                if acquired:
                    raise
                raise LimitsUnchecked("Another server kept this user's entries busy") from err


class _WithResting:
    """The tenant reads, with limit entries resting on the venue counted as open positions."""

    def __init__(self, reads: SettingsReads, limit: PositionLimit) -> None:
        self._reads, self._limit = reads, limit

    async def get_trade_settings(self, user_id: str, exchange: str) -> TradeSettings | None:
        return await self._reads.get_trade_settings(user_id, exchange)

    async def weekly_trade_stats(self, user_id: str, exchange: str, since: datetime) -> WeeklyTradeStats:
        return await self._reads.weekly_trade_stats(user_id, exchange, since)

    async def count_open_positions(self, user_id: str, exchange: str | None = None) -> int:
        positions = await self._reads.count_open_positions(user_id, exchange)
        return positions + await self._limit.resting_count(user_id, exchange)
