"""Tradier's candles, regular session only (`session_filter=open`, the bars a stock chart shows).

- 1d: `GET /markets/history?interval=daily&start=YYYY-MM-DD`, rows `{date, open, high, low, close,
  volume}` under `history.day`. A day's candle is stamped 00:00 UTC of its trading date, so it
  counts as closed from the next midnight UTC, hours after the 16:00 New York close.
- 1m 5m 15m: `GET /markets/timesales?interval=1min|5min|15min&start=YYYY-MM-DD HH:MM` (New York
  time), rows under `series.data` with `timestamp` (the bar's start, Unix seconds). The bar still
  forming is dropped by its time.
Tradier has no hourly bars (1h, 4h are refused). Both endpoints answer one object for a single row
and "null" for none (`wire.items`); numbers arrive as Decimal (`api._json`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sparky.exchanges.candles import Candle, check_limit, closed_only, decimal, interval_length, venue_interval
from sparky.exchanges.errors import ExchangeUnavailable
from sparky.exchanges.tradier import forms, wire
from sparky.exchanges.tradier.api import NAME

NEW_YORK = ZoneInfo("America/New_York")
AS_TRADIER = {"1m": "1min", "5m": "5min", "15m": "15min", "1d": "daily"}
MAX_LIMIT = 5000
#: minutes in a regular session: how many intraday bars one trading day holds
SESSION_MINUTES = 390
#: how far back Tradier keeps regular-session timesales, by interval (its documentation)
KEPT_DAYS = {"1min": 20, "5min": 40, "15min": 40}


def calendar_days(trading_days: int) -> int:
    """Calendar days that hold `trading_days` sessions, weekends and a few holidays included."""
    return trading_days * 7 // 5 + 5


def _row_candle(row: dict[str, Any], intraday: bool) -> Candle:
    if intraday:
        opened = datetime.fromtimestamp(int(row["timestamp"]), UTC)
    else:
        opened = datetime.combine(date.fromisoformat(row["date"]), time(), UTC)
    return Candle(opened, decimal(row["open"]), decimal(row["high"]), decimal(row["low"]), decimal(row["close"]),
                  decimal(row.get("volume") or 0))


def parse_bars(body: dict[str, Any], *, intraday: bool) -> list[Candle]:
    container, key = ("series", "data") if intraday else ("history", "day")
    try:
        return [_row_candle(row, intraday) for row in wire.items(body.get(container), key)]
    except (KeyError, TypeError, ValueError) as err:
        raise ExchangeUnavailable(f"{NAME}: unreadable candles ({type(err).__name__})", exchange=NAME) from err


class TradierCandles:
    """The `candles` of the Tradier adapter (mixed into `TradierExchange`)."""

    _api: Any
    _clock: Callable[[], datetime]

    async def candles(self, symbol: str, interval: str, limit: int) -> list[Candle]:
        wire_interval = venue_interval(AS_TRADIER, interval, venue=NAME)
        check_limit(limit, MAX_LIMIT, venue=NAME)
        now = self._clock()
        local = now.astimezone(NEW_YORK)
        params = {"symbol": forms.normalise_symbol(symbol), "interval": wire_interval, "session_filter": "open"}
        intraday = wire_interval != "daily"
        if intraday:
            bars_per_day = SESSION_MINUTES // int(interval_length(interval).total_seconds() // 60)
            days = min(calendar_days(-(-(limit + 1) // bars_per_day)), KEPT_DAYS[wire_interval])
            params["start"] = (local - timedelta(days=days)).strftime("%Y-%m-%d %H:%M")
            body = await self._api.get("/markets/timesales", params)
        else:
            params["start"] = (local.date() - timedelta(days=calendar_days(limit + 1))).isoformat()
            body = await self._api.get("/markets/history", params)
        return closed_only(parse_bars(body, intraday=intraday), interval, now, limit)
