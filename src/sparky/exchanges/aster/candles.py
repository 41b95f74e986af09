"""Aster's candles: `GET /fapi/v1/klines`, public and unsigned (weight 1–10 by `limit`).

Each kline is a list: open time (ms), open, high, low, close, volume (strings at the symbol's own
precision), close time (ms), then quote volume and trade counts we do not use. The last kline is
the one still forming, so one more than asked is requested and the forming one dropped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sparky.exchanges.aster.wire import read
from sparky.exchanges.candles import Candle, check_limit, closed_only, decimal, utc_from_ms, venue_interval

KLINES = "/fapi/v1/klines"
#: the endpoint's maximum, less the forming kline requested on top
MAX_LIMIT = 1499
#: our names are Binance's, which Aster keeps
AS_ASTER = {name: name for name in ("1m", "5m", "15m", "1h", "4h", "1d")}


def parse_klines(body: Any) -> list[Candle]:
    return [Candle(utc_from_ms(row[0]), decimal(row[1]), decimal(row[2]), decimal(row[3]),
                   decimal(row[4]), decimal(row[5])) for row in body]


class AsterCandles:
    """The `candles` of the Aster adapter (mixed into `AsterExchange`)."""

    name: str
    _call: Callable[..., Awaitable[Any]]
    _clock: Any

    async def candles(self, symbol: str, interval: str, limit: int) -> list[Candle]:
        wire_interval = venue_interval(AS_ASTER, interval, venue=self.name)
        check_limit(limit, MAX_LIMIT, venue=self.name)
        params = [("symbol", symbol), ("interval", wire_interval), ("limit", str(limit + 1))]
        body = await self._call("GET", KLINES, params, what="klines")
        now = datetime.fromtimestamp(self._clock.now_ms() / 1000, UTC)  # the venue's clock where measured
        return closed_only(read(lambda: parse_klines(body), what="klines"), interval, now, limit)
