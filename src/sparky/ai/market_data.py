"""One cycle's market data, and where a strategy's market data comes from.

`MarketVenues` answers which adapter serves a venue's market data for a user: OANDA and Tradier
serve candles only with an account's keys, so theirs come through the user's own account
(`ExchangeAccounts`, as the webhook trades); every other venue's klines are public, read through
one key-less adapter per venue (never one that could place an order). `market_venue` says which
venue a strategy watches: its `exchange`, or for a strategy on the `paper` exchange the public
venue AI_PAPER_MARKET_DATA_VENUE (the paper venue keeps no price history).

`CycleMarketData` (the worker's `MarketData`, one per cycle) fetches each (venue, symbol, interval)
once: askers at the same time share the one request in flight, and its failure too (the
strategies that needed it get an error outcome; nothing is retried within the cycle), and computes
the indicators of each series of candles once, kept only as long as the cycle. Symbols are keyed in the spelling strategies keep (`BTC/USDT` and `BTCUSDT` are one) and sent in the venue's
own (`canonical_symbol`, as the webhook maps them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sparky.ai.decision import canonical
from sparky.ai.indicators import Summary, summary
from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.base import Exchange
from sparky.exchanges.candles import Candle
from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.factory import create_adapter
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.metadata import VenueMetadata
from sparky.signals.models import alert_symbol
from sparky.store.ai import PAPER, AiStrategyRecord

#: venues whose candles need the account's keys
KEYED_MARKET_DATA = frozenset({"oanda", "tradier"})
#: candles asked at least (the slowest indicator, MACD's signal, needs 34; EMA(50) 50)
MIN_CANDLES = 100


def candles_needed(interval_seconds: float) -> int:
    """Enough candles for the indicators and a true 24 h change (a day's candles plus one)."""
    return max(MIN_CANDLES, int(86_400 // interval_seconds) + 1)


def market_venue(strategy: AiStrategyRecord, paper_market_data_venue: str) -> str:
    """The venue whose market the strategy watches."""
    exchange = (strategy.exchange or "").lower()
    return paper_market_data_venue if exchange == PAPER else exchange


class MarketVenues:
    """Adapters for market data (see the module docstring). Public adapters are closed by `aclose`."""

    def __init__(self, accounts: ExchangeAccounts, http: HttpClientPool, metadata: VenueMetadata | None = None,
                 *, endpoints: dict[str, VenueCredentials] | None = None) -> None:
        """`endpoints`: per venue, the environment and base URL its public market data is read
        from (config.json's section for that venue, without its keys); others: production."""
        self._accounts = accounts
        self._http = http
        self._metadata = metadata
        self._endpoints = endpoints or {}
        self._public: dict[str, Exchange] = {}

    async def adapter(self, venue: str, user_id: str) -> Exchange:
        if venue in KEYED_MARKET_DATA:
            return await self._accounts.get(user_id, venue)
        adapter = self._public.get(venue)
        if adapter is None:
            where = self._endpoints.get(venue, VenueCredentials(exchange=venue))
            adapter = self._public[venue] = create_adapter(where, self._http, self._metadata)
        return adapter

    async def venue_symbol(self, venue: str, symbol: str, user_id: str) -> tuple[Exchange, str]:
        adapter = await self.adapter(venue, user_id)
        return adapter, await adapter.canonical_symbol(alert_symbol(symbol))

    async def aclose(self) -> None:
        adapters, self._public = list(self._public.values()), {}
        for adapter in adapters:
            await adapter.aclose()


class CycleMarketData:
    """`MarketData` for one cycle (see the module docstring)."""

    def __init__(self, venues: MarketVenues, *, limit: int) -> None:
        self._venues = venues
        self._limit = limit
        self._fetches: dict[tuple[str, str, str], asyncio.Future[list[Candle]]] = {}
        self._requests = 0
        self._indicators: dict[tuple[Candle, ...], Summary] = {}

    async def candles(self, venue: str, symbol: str, interval: str, *, user_id: str) -> list[Candle]:
        key = (venue, canonical(symbol), interval)
        fetch = self._fetches.get(key)
        if fetch is None:
            fetch = self._fetches[key] = asyncio.ensure_future(self._fetch(venue, symbol, interval, user_id))
            fetch.add_done_callback(_retrieved)
        return list(await asyncio.shield(fetch))  # one asker giving up must not cancel the others' fetch

    async def _fetch(self, venue: str, symbol: str, interval: str, user_id: str) -> list[Candle]:
        adapter, venue_symbol = await self._venues.venue_symbol(venue, symbol, user_id)
        self._requests += 1
        return await adapter.candles(venue_symbol, interval, self._limit)

    def indicators(self, candles: Sequence[Candle]) -> Summary:
        series = tuple(candles)
        found = self._indicators.get(series)
        if found is None:
            found = self._indicators[series] = summary(series)
        return found

    def requests(self) -> int:
        return self._requests


def _retrieved(fetch: asyncio.Future[list[Candle]]) -> None:
    if not fetch.cancelled():
        fetch.exception()  # a failure is answered to every asker; never "never retrieved"
