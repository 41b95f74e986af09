"""Public venue metadata kept once per venue host, shared by every user's adapter there.

What every account on a host sees alike — Aster's symbol rules (`exchangeInfo`) and clock offset, a
ccxt venue's market list — is loaded once for all of them instead of once per user: 1,000 users on
one venue make one `exchangeInfo` request and hold one parsed copy. Only public metadata is kept
here, never credentials, balances, positions or orders. The keys name the venue and its host (a
tenant's own base URL can only be one of the venue's official hosts, `endpoints.py`), so data from
one host never answers for another.

Loads are single-flight (`single_flight.py`): users whose first signals arrive together wait for
the one request. A value is reloaded when a lookup misses it (a newly listed symbol), at most once
per `reload_after` seconds. Built by the app lifespan (`services.py`) and handed to the adapters
by the factory; an adapter built without one keeps its own.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from sparky.exchanges.single_flight import SingleFlight

T = TypeVar("T")

#: a lookup that misses the loaded value reloads it at most this often (seconds)
RELOAD_AFTER = 60.0


@dataclass
class _Loaded:
    value: Any
    at: float


class VenueMetadata:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic, reload_after: float = RELOAD_AFTER) -> None:
        self._clock = clock
        self._reload_after = reload_after
        self._loaded: dict[Hashable, _Loaded] = {}
        self._shared: dict[Hashable, Any] = {}
        self._flights = SingleFlight()

    async def get(self, key: Hashable, load: Callable[[], Awaitable[T]],
                  has: Callable[[T], bool] = lambda _: True) -> T:
        """The value loaded for `key`: loaded once, then again only when `has(value)` is false (what
        the caller looks for is missing) and the last load is older than `reload_after`."""
        loaded = self._loaded.get(key)
        if loaded is not None and (has(loaded.value) or self._recent(loaded)):
            return loaded.value
        return await self._flights.run(key, lambda: self._load(key, load, has))

    async def _load(self, key: Hashable, load: Callable[[], Awaitable[T]], has: Callable[[T], bool]) -> T:
        loaded = self._loaded.get(key)  # another flight may have ended since the caller looked
        if loaded is not None and (has(loaded.value) or self._recent(loaded)):
            return loaded.value
        value = await load()
        self._loaded[key] = _Loaded(value, self._clock())
        return value

    def _recent(self, loaded: _Loaded) -> bool:
        return self._clock() - loaded.at < self._reload_after

    def shared(self, key: Hashable, make: Callable[[], T]) -> T:
        """The one object kept for `key` (made on first use): state every adapter of a host shares."""
        found = self._shared.get(key)
        if found is None:
            found = self._shared[key] = make()
        return found

    async def aclose(self) -> None:
        await self._flights.aclose()
