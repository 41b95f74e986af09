"""The exchanges this server can trade on, by name. Built in the app lifespan, closed at shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import structlog

from sparky.exchanges.base import Exchange

log = structlog.get_logger("sparky.exchanges")


class ExchangeRegistry:
    #: how long a reachability answer is reused: /health is public and must not become a way to
    #: make this server call the venues on every request
    REACHABILITY_TTL = 15.0

    def __init__(self) -> None:
        self._exchanges: dict[str, Exchange] = {}
        self._reachable: dict[str, tuple[float, bool]] = {}

    def add(self, exchange: Exchange) -> None:
        self._exchanges[exchange.name] = exchange

    def get(self, name: str) -> Exchange:
        return self._exchanges[name]

    async def reachable(self) -> dict[str, bool]:
        """Whether each venue answers its cheapest call, re-asked at most every REACHABILITY_TTL."""
        now = time.monotonic()
        stale = [ex for ex in self if self._reachable.get(ex.name, (0.0, False))[0] <= now]
        for exchange, ok in zip(stale, await asyncio.gather(*(_ping(ex) for ex in stale)), strict=True):
            self._reachable[exchange.name] = (now + self.REACHABILITY_TTL, ok)
        return {ex.name: self._reachable[ex.name][1] for ex in self}

    def names(self) -> list[str]:
        return sorted(self._exchanges)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(list(self._exchanges.values()))

    async def aclose(self) -> None:
        for exchange in self:
            try:
                await exchange.aclose()
            except Exception:  # one adapter failing to close must not keep the others open
                log.exception("exchange.close_failed", exchange=exchange.name)


async def _ping(exchange: Exchange) -> bool:
    try:
        return bool(await asyncio.wait_for(exchange.ping(), timeout=2))
    except Exception:
        return False
