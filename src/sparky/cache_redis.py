"""The `Cache` port on Redis, shared by every server instance (`REDIS_URL`).

A Redis outage must not stop trading: calls fall back to an in-process cache with one warning
per outage, and Redis is tried again after a short pause (not on every call, which would add a
connection timeout to every webhook). Keys are prefixed so one Redis can serve other programs.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar, cast

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from sparky.cache import Cache, InProcessCache, LockNotAcquired

log = structlog.get_logger("sparky.cache")
T = TypeVar("T")


class RedisCache(Cache):
    def __init__(self, url: str, *, prefix: str = "sparky:", retry_after: float = 5.0,
                 fallback: Cache | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._redis = Redis.from_url(url, decode_responses=True, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._prefix = prefix
        self._retry_after = retry_after
        self._fallback = fallback or InProcessCache()
        self._clock = clock
        self._down_until: float | None = None

    @property
    def degraded(self) -> bool:
        """True while calls are served by the in-process fallback."""
        return self._down_until is not None

    async def _call(self, on_redis: Callable[[], Awaitable[T]], on_fallback: Callable[[], Awaitable[T]]) -> T:
        if self._down_until is not None and self._clock() < self._down_until:
            return await on_fallback()
        try:
            result = await on_redis()
        except (RedisError, OSError) as err:
            if self._down_until is None:
                log.warning("cache.redis_unavailable", error=f"{type(err).__name__}: {err}",
                            fallback="in-process")
            self._down_until = self._clock() + self._retry_after
            return await on_fallback()
        if self._down_until is not None:
            log.info("cache.redis_recovered")
            self._down_until = None
        return result

    async def get(self, key: str) -> str | None:
        return await self._call(lambda: cast(Awaitable[str | None], self._redis.get(self._prefix + key)), lambda: self._fallback.get(key))

    async def set(self, key: str, value: str, ttl: float) -> None:
        await self._call(lambda: self._redis.set(self._prefix + key, value, px=max(1, int(ttl * 1000))),
                         lambda: self._fallback.set(key, value, ttl))

    async def add(self, key: str, value: str, ttl: float) -> str | None:
        # SET NX GET (Redis ≥ 7): atomic set-if-absent that also returns what was already there
        return await self._call(
            lambda: cast(Awaitable[str | None],  # SET … GET answers the old value (decoded) or None
                         self._redis.set(self._prefix + key, value, px=max(1, int(ttl * 1000)), nx=True, get=True)),
            lambda: self._fallback.add(key, value, ttl),
        )

    async def delete(self, key: str) -> None:
        await self._call(lambda: self._redis.delete(self._prefix + key), lambda: self._fallback.delete(key))

    async def incr(self, key: str, amount: int, ttl: float) -> tuple[int, float]:
        async def on_redis() -> tuple[int, float]:
            # one round trip, atomic: the expiry is set only when the counter is created (NX, Redis ≥ 7)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incrby(self._prefix + key, amount)
                pipe.pexpire(self._prefix + key, max(1, int(ttl * 1000)), nx=True)
                pipe.pttl(self._prefix + key)
                value, _, left_ms = await pipe.execute()
            return int(value), max(0, int(left_ms)) / 1000

        return await self._call(on_redis, lambda: self._fallback.incr(key, amount, ttl))

    @asynccontextmanager
    async def lock(self, key: str, *, timeout: float, wait: float) -> AsyncIterator[None]:
        """redis-py's lock (SET NX PX with a token, released only by its owner). With Redis down
        the lock is skipped with a warning: trading goes on, serialised within this server."""
        lock = self._redis.lock(self._prefix + "lock:" + key, timeout=timeout, blocking_timeout=wait, sleep=0.01)
        try:
            acquired = await lock.acquire()
        except (RedisError, OSError) as err:
            log.warning("cache.lock_unavailable", key=key, error=f"{type(err).__name__}: {err}")
            yield
            return
        if not acquired:
            raise LockNotAcquired(key)
        try:
            yield
        finally:
            try:
                await lock.release()
            except (RedisError, OSError) as err:  # expired or Redis gone: it frees itself at `timeout`
                log.warning("cache.lock_release_failed", key=key, error=f"{type(err).__name__}: {err}")

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def aclose(self) -> None:
        await self._redis.aclose()
