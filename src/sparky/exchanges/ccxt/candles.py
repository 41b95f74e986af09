"""Candles through ccxt's `fetch_ohlcv`: rows of [open time (ms), open, high, low, close, volume].

ccxt keeps the venue's timeframe names (`timeframes`), which are ours where the venue has them.
Most venues put the candle still forming last and ccxt does not say which it is, so one more than
asked is requested and any candle whose period ends after now (our clock) is dropped. ccxt hands
numbers over as floats: each goes through its shortest repr, the decimal text the venue sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sparky.exchanges.candles import (
    INTERVALS,
    Candle,
    check_limit,
    closed_only,
    decimal,
    utc_from_ms,
    venue_interval,
)
from sparky.exchanges.errors import ExchangeUnavailable, NotSupported

#: what most venues serve in one request (Bybit 1,000, Binance 1,500), less the forming candle; a
#: venue that serves fewer (OKX: 300) answers with fewer, and so do we
MAX_LIMIT = 999


def parse_ohlcv(rows: Any, *, venue: str) -> list[Candle]:
    try:
        return [Candle(utc_from_ms(ts), decimal(o), decimal(h), decimal(lo), decimal(c),
                       decimal(0 if v is None else v))  # some markets (indices) report no volume
                for ts, o, h, lo, c, v, *_ in rows]
    except (TypeError, ValueError) as err:
        raise ExchangeUnavailable(f"{venue}: unreadable candles ({type(err).__name__})", exchange=venue) from err


class CcxtCandles:
    """The `candles` of the ccxt adapter (mixed into `CcxtExchange`)."""

    name: str
    _client: Any
    _clock: Callable[[], datetime]
    _call: Callable[..., Awaitable[Any]]
    _market: Callable[[str], Awaitable[Any]]

    async def candles(self, symbol: str, interval: str, limit: int) -> list[Candle]:
        if not self._client.has.get("fetchOHLCV"):
            raise NotSupported(f"{self.name} has no candles", exchange=self.name)
        offered = self._client.timeframes or {}
        timeframe = venue_interval({name: name for name in INTERVALS if name in offered}, interval, venue=self.name)
        check_limit(limit, MAX_LIMIT, venue=self.name)
        market = await self._market(symbol)
        rows = await self._call(self._client.fetch_ohlcv(market.ccxt_symbol, timeframe, limit=limit + 1))
        return closed_only(parse_ohlcv(rows, venue=self.name), interval, self._clock(), limit)
