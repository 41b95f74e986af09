"""OANDA's candles: `GET /v3/instruments/{instrument}/candles?price=M` (midpoint prices).

Each candle carries `time` (its start, RFC 3339 in UTC), `mid` {o, h, l, c} as strings at the
instrument's precision, `volume` (OANDA counts price updates, not traded units: it has no traded
volume) and `complete`, false for the candle still forming. One more than asked is requested and
the incomplete one dropped. Daily candles start at 17:00 New York time, OANDA's default alignment
(the forex day's close).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sparky.exchanges.candles import Candle, check_limit, closed_only, decimal, venue_interval
from sparky.exchanges.errors import ExchangeUnavailable, UnknownSymbol
from sparky.exchanges.oanda.rules import NAME, instrument_name

#: the endpoint's `count` maximum, less the forming candle requested on top
MAX_LIMIT = 4999
AS_OANDA = {"1m": "M1", "5m": "M5", "15m": "M15", "1h": "H1", "4h": "H4", "1d": "D"}
#: an instrument name as OANDA writes it; it becomes part of the request's path
INSTRUMENT = re.compile(r"[A-Z0-9]+_[A-Z0-9]+")


def parse_candles(data: dict[str, Any]) -> list[Candle]:
    """The complete candles of a candles reply."""
    try:
        return [Candle(datetime.fromisoformat(row["time"]), decimal(row["mid"]["o"]), decimal(row["mid"]["h"]),
                       decimal(row["mid"]["l"]), decimal(row["mid"]["c"]), decimal(row.get("volume", 0)))
                for row in data.get("candles") or [] if row.get("complete") is True]
    except (KeyError, TypeError, ValueError) as err:
        raise ExchangeUnavailable(f"{NAME}: unreadable candles ({type(err).__name__})", exchange=NAME) from err


class OandaCandles:
    """The `candles` of the OANDA adapter (mixed into `OandaExchange`)."""

    _api: Any
    _clock: Any

    async def candles(self, symbol: str, interval: str, limit: int) -> list[Candle]:
        granularity = venue_interval(AS_OANDA, interval, venue=NAME)
        check_limit(limit, MAX_LIMIT, venue=NAME)
        instrument = instrument_name(symbol)
        if not INSTRUMENT.fullmatch(instrument):
            raise UnknownSymbol(f"{NAME}: {symbol!r} is not an instrument name (e.g. EUR_USD)", exchange=NAME)
        data = await self._api.read(f"/instruments/{instrument}/candles", account=False, params={
            "price": "M", "granularity": granularity, "count": str(limit + 1)})
        # `complete` is the venue's word (a candle without it is left out); the clock check and the
        # trim to `limit` are the port's rule for every venue
        return closed_only(parse_candles(data), interval, self._clock(), limit)
