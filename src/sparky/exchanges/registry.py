"""The exchanges this server can trade on, by name. Built in the app lifespan, closed at shutdown."""

from __future__ import annotations

from collections.abc import Iterator

import structlog

from sparky.exchanges.base import Exchange

log = structlog.get_logger("sparky.exchanges")


class ExchangeRegistry:
    def __init__(self) -> None:
        self._exchanges: dict[str, Exchange] = {}

    def add(self, exchange: Exchange) -> None:
        self._exchanges[exchange.name] = exchange

    def get(self, name: str) -> Exchange:
        return self._exchanges[name]

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
