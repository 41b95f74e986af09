"""Tradier's candles: daily bars from /markets/history, intraday from /markets/timesales, regular
session only, the bar still forming dropped (tests/fixtures/tradier/history_daily.json,
timesales_5min.json: the shapes of Tradier's 'Get Historical Pricing' and 'Get Time and Sales')."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from sparky.exchanges.candles import Candle, UnsupportedInterval
from sparky.exchanges.errors import ExchangeUnavailable
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.tradier.api import SANDBOX_URL
from tests.unit.exchanges.tradier.test_tradier import TOKEN, make_exchange

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "tradier"
#: a Tuesday, 10:13:20 in New York: the 10:10 five-minute bar and the day's bar are still forming
NOW = datetime(2023, 11, 14, 15, 13, 20, tzinfo=UTC)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
async def tradier() -> Any:
    pool = HttpClientPool()
    yield make_exchange(pool, clock=lambda: NOW)
    await pool.aclose()


@pytest.fixture
def router() -> Any:
    with respx.mock(base_url=SANDBOX_URL, assert_all_called=False) as mock:
        yield mock


async def test_daily_candles_from_history_without_today(router: Any, tradier: Any) -> None:
    route = router.get("/markets/history").mock(return_value=httpx.Response(200, json=fixture("history_daily.json")))
    candles = await tradier.candles("aapl", "1d", 3)
    assert candles == [
        Candle(datetime(2023, 11, 9, tzinfo=UTC), D("182.96"), D("184.12"), D("181.81"), D("182.41"), D("53763540")),
        Candle(datetime(2023, 11, 10, tzinfo=UTC), D("183.97"), D("186.565"), D("183.53"), D("186.4"), D("66133445")),
        Candle(datetime(2023, 11, 13, tzinfo=UTC), D("185.82"), D("186.03"), D("184.21"), D("184.8"), D("43627519")),
    ]
    [call] = route.calls
    assert call.request.url.path == "/v1/markets/history"
    assert httpx.QueryParams(call.request.url.query) == httpx.QueryParams(
        {"symbol": "AAPL", "interval": "daily", "session_filter": "open", "start": "2023-11-04"})
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_intraday_candles_from_timesales_without_the_forming_bar(router: Any, tradier: Any) -> None:
    route = router.get("/markets/timesales").mock(
        return_value=httpx.Response(200, json=fixture("timesales_5min.json")))
    candles = await tradier.candles("AAPL", "5m", 5)
    assert candles == [
        Candle(datetime(2023, 11, 14, 15, 0, tzinfo=UTC), D("187.62"), D("187.7"), D("187.41"), D("187.49"),
               D("402117")),
        Candle(datetime(2023, 11, 14, 15, 5, tzinfo=UTC), D("187.5"), D("187.55"), D("187.3601"), D("187.43"),
               D("311804")),
    ]
    [call] = route.calls
    assert call.request.url.path == "/v1/markets/timesales"
    # start in New York time, far enough back for the bars asked (and weekends), as Tradier reads it
    assert httpx.QueryParams(call.request.url.query) == httpx.QueryParams(
        {"symbol": "AAPL", "interval": "5min", "session_filter": "open", "start": "2023-11-08 10:13"})


async def test_one_bar_is_one_object_and_none_is_null(router: Any, tradier: Any) -> None:
    one = fixture("timesales_5min.json")["series"]["data"][0]
    router.get("/markets/timesales").mock(return_value=httpx.Response(200, json={"series": {"data": one}}))
    router.get("/markets/history").mock(return_value=httpx.Response(200, json={"history": "null"}))
    assert [c.close for c in await tradier.candles("AAPL", "1m", 10)] == [D("187.49")]
    assert await tradier.candles("AAPL", "1d", 10) == []


@pytest.mark.parametrize("interval", ["1h", "4h"])
async def test_hourly_candles_are_refused_clearly(router: Any, tradier: Any, interval: str) -> None:
    with pytest.raises(UnsupportedInterval, match=f"tradier: no {interval} candles \\(has 1m 5m 15m 1d\\)"):
        await tradier.candles("AAPL", interval, 10)
    assert not router.calls


async def test_an_unreadable_bar_is_the_venue_being_unavailable(router: Any, tradier: Any) -> None:
    router.get("/markets/history").mock(return_value=httpx.Response(200, json={"history": {"day": {"date": "x"}}}))
    with pytest.raises(ExchangeUnavailable, match="unreadable candles"):
        await tradier.candles("AAPL", "1d", 10)
