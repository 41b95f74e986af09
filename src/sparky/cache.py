"""The `Cache` port and its in-process adapter: TTL values, atomic set-if-absent and counters.

Keys are always namespaced by tenant by the caller (e.g. `dup:<user>:<hash>`). A Redis adapter
with the same contract is what several servers share.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class LockNotAcquired(Exception):
    """Another server held the lock for longer than we were willing to wait."""


class Cache(ABC):
    @abstractmethod
    async def get(self, key: str) -> str | None: ...

    @abstractmethod
    async def set(self, key: str, value: str, ttl: float) -> None: ...

    @abstractmethod
    async def add(self, key: str, value: str, ttl: float) -> str | None:
        """Store `value` only if `key` is absent; return the value already there, else None."""

    @abstractmethod
    async def delete(self, key: str) -> None: ...

    @abstractmethod
    async def incr(self, key: str, amount: int, ttl: float) -> tuple[int, float]:
        """Add `amount` to the counter at `key` atomically; return its new value and the seconds
        until it expires. A counter starts at 0 and expires `ttl` seconds after it was created
        (later increments do not extend it): a fixed window that opens with its first hit."""

    async def ping(self) -> bool:
        return True

    @asynccontextmanager
    async def lock(self, key: str, *, timeout: float, wait: float) -> AsyncIterator[None]:
        """Hold `key` exclusively across every server sharing this cache.

        In process there is nothing to share: the dispatcher's serializer already orders work per
        key. `timeout` bounds how long a crashed holder can keep it; `wait` how long to queue for
        it (LockNotAcquired after that)."""
        yield

    async def aclose(self) -> None:
        return None


class InProcessCache(Cache):
    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_entries: int = 100_000) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._data: dict[str, tuple[str, float]] = {}

    def _live(self, key: str) -> str | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[1] <= self._clock():
            del self._data[key]
            return None
        return entry[0]

    def _prune(self) -> None:
        if len(self._data) < self._max_entries:
            return
        now = self._clock()
        for key in [k for k, (_, expires) in self._data.items() if expires <= now]:
            del self._data[key]

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def set(self, key: str, value: str, ttl: float) -> None:
        self._prune()
        self._data[key] = (value, self._clock() + ttl)

    async def add(self, key: str, value: str, ttl: float) -> str | None:
        existing = self._live(key)
        if existing is not None:
            return existing
        self._prune()
        self._data[key] = (value, self._clock() + ttl)
        return None

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def incr(self, key: str, amount: int, ttl: float) -> tuple[int, float]:
        now = self._clock()
        entry = self._data.get(key)
        if entry is None or entry[1] <= now:
            self._prune()
            entry = ("0", now + ttl)
        value = int(entry[0]) + amount
        self._data[key] = (str(value), entry[1])
        return value, entry[1] - now
