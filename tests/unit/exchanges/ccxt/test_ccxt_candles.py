"""Candles through ccxt's fetch_ohlcv, on the real binanceusdm class: the exact klines request,
the forming candle dropped by its time, Decimal values as the venue wrote them
(tests/fixtures/ccxt/binanceusdm_klines.json)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest

from sparky.exchanges.candles import Candle, UnsupportedInterval
from sparky.exchanges.ccxt.adapter import CcxtExchange
from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.errors import NotSupported
from tests.unit.exchanges.ccxt.test_ccxt import KEY, SECRET, BinanceVenue, Request, fixture

NOW = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # inside the 22:00 candle, still forming


class KlinesVenue(BinanceVenue):
    def __init__(self) -> None:
        super().__init__()
        self.replaced = self.exchange  # built by the harness with the real clock: closed with the new one
        self.exchange = CcxtExchange(VenueCredentials("binanceusdm", api_key=KEY, api_secret=SECRET), None,
                                     client_factory=self._factory, clock=lambda: NOW)

    def answer(self, request: Request) -> tuple[int, Any]:
        if (request.method, request.path) == ("GET", "/fapi/v1/klines"):
            return 200, fixture("binanceusdm_klines")["reply"]
        return super().answer(request)


@pytest.fixture
async def venue() -> Any:
    venue = KlinesVenue()
    yield venue
    await venue.exchange.aclose()
    await venue.replaced.aclose()
    assert not venue.unexpected, venue.unexpected


async def test_closed_candles_oldest_first_without_the_forming_one(venue: KlinesVenue) -> None:
    candles = await venue.exchange.candles("ETHUSDT", "1h", 3)
    assert candles == [
        Candle(datetime(2023, 11, 14, 19, tzinfo=UTC), D("2041.52"), D("2050.0"), D("2030.11"), D("2045.07"),
               D("81234.512")),
        Candle(datetime(2023, 11, 14, 20, tzinfo=UTC), D("2045.07"), D("2061.8"), D("2040.0"), D("2058.93"),
               D("90412.1")),
        Candle(datetime(2023, 11, 14, 21, tzinfo=UTC), D("2058.93"), D("2059.4"), D("2021.37"), D("2025.6"),
               D("120501.007")),
    ]
    assert all(isinstance(value, D) for c in candles for value in (c.open, c.high, c.low, c.close, c.volume))
    [klines] = [r for r in venue.requests if r.path == "/fapi/v1/klines"]
    assert (klines.method, klines.query) == ("GET", {"symbol": "ETHUSDT", "interval": "1h", "limit": "4"})


async def test_an_interval_the_venue_lacks_or_we_do_not_name_is_refused(venue: KlinesVenue) -> None:
    client = venue.exchange._client  # a venue without 4h candles (ccxt's own table of them)
    client.timeframes = {name: word for name, word in client.timeframes.items() if name != "4h"}
    with pytest.raises(UnsupportedInterval, match="binanceusdm: no 4h candles"):
        await venue.exchange.candles("ETHUSDT", "4h", 10)
    with pytest.raises(UnsupportedInterval, match="got '3m'"):
        await venue.exchange.candles("ETHUSDT", "3m", 10)
    assert not [r for r in venue.requests if r.path == "/fapi/v1/klines"]


async def test_a_venue_without_ohlcv_says_so(venue: KlinesVenue) -> None:
    venue.exchange._client.has = {**venue.exchange._client.has, "fetchOHLCV": False}
    with pytest.raises(NotSupported, match="binanceusdm has no candles"):
        await venue.exchange.candles("ETHUSDT", "1h", 10)
