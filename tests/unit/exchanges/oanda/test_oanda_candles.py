"""OANDA's candles: midpoint candles of the instrument (not under the account), one more asked
than wanted, the incomplete one dropped (tests/fixtures/oanda/candles_h1.json)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import httpx
import pytest
import respx

from sparky.exchanges.candles import Candle, UnsupportedInterval
from sparky.exchanges.errors import ExchangeUnavailable, UnknownSymbol
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.oanda.adapter import OandaExchange
from sparky.exchanges.oanda.api import PRACTICE_URL
from tests.unit.exchanges.oanda.test_oanda import TOKEN, credentials, fixture

NOW = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # inside the 22:00 candle, still forming


@pytest.fixture
async def oanda() -> Any:
    pool = HttpClientPool()
    yield OandaExchange(credentials(), pool, clock=lambda: NOW, retry_backoff=0)
    await pool.aclose()


@pytest.fixture
def venue() -> Any:
    with respx.mock(base_url=PRACTICE_URL, assert_all_called=False) as router:
        yield router.get("/v3/instruments/EUR_USD/candles").mock(
            return_value=httpx.Response(200, json=fixture("candles_h1.json")))


async def test_complete_midpoint_candles_oldest_first(venue: Any, oanda: OandaExchange) -> None:
    candles = await oanda.candles("EURUSD", "1h", 3)
    assert candles == [
        Candle(datetime(2023, 11, 14, 19, tzinfo=UTC), D("1.08702"), D("1.08811"), D("1.08655"), D("1.08790"),
               D("2841")),
        Candle(datetime(2023, 11, 14, 20, tzinfo=UTC), D("1.08789"), D("1.08842"), D("1.08760"), D("1.08800"),
               D("1977")),
        Candle(datetime(2023, 11, 14, 21, tzinfo=UTC), D("1.08802"), D("1.08825"), D("1.08731"), D("1.08745"),
               D("1503")),
    ]
    [call] = venue.calls
    assert call.request.url.path == "/v3/instruments/EUR_USD/candles"
    assert httpx.QueryParams(call.request.url.query) == httpx.QueryParams(
        {"price": "M", "granularity": "H1", "count": "4"})
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(("interval", "granularity"), [("1m", "M1"), ("5m", "M5"), ("15m", "M15"),
                                                       ("4h", "H4"), ("1d", "D")])
async def test_each_interval_asks_for_oanda_granularity(venue: Any, oanda: OandaExchange, interval: str,
                                                        granularity: str) -> None:
    await oanda.candles("EUR_USD", interval, 10)
    assert httpx.QueryParams(venue.calls[0].request.url.query)["granularity"] == granularity


async def test_bad_interval_limit_or_instrument_is_refused_before_any_request(venue: Any,
                                                                              oanda: OandaExchange) -> None:
    with pytest.raises(UnsupportedInterval, match="got '30m'"):
        await oanda.candles("EUR_USD", "30m", 10)
    with pytest.raises(ValueError, match="from 1 to 4999"):
        await oanda.candles("EUR_USD", "1h", 5000)
    with pytest.raises(UnknownSymbol):
        await oanda.candles("EUR_USD?x=1", "1h", 10)
    assert not venue.calls


async def test_an_unreadable_reply_is_the_venue_being_unavailable(oanda: OandaExchange) -> None:
    with respx.mock(base_url=PRACTICE_URL) as router:
        router.get("/v3/instruments/EUR_USD/candles").mock(return_value=httpx.Response(200, json={
            "candles": [{"complete": True, "time": "2023-11-14T19:00:00Z", "mid": {"o": "1.1"}}]}))
        with pytest.raises(ExchangeUnavailable, match="unreadable candles"):
            await oanda.candles("EUR_USD", "1h", 10)
