"""Aster's candles: the public klines endpoint, unsigned, one more kline asked than wanted so the
forming one can be dropped (tests/fixtures/aster/klines_1h.json)."""

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
from sparky.exchanges.errors import ExchangeUnavailable, UnknownSymbol
from tests.unit.exchanges.aster.test_aster import BASE, aster

KLINES = json.loads((Path(__file__).resolve().parents[3] / "fixtures" / "aster" / "klines_1h.json")
                    .read_text(encoding="utf-8"))["reply"]


@pytest.fixture
def venue() -> Any:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router.get("/fapi/v1/klines").mock(return_value=httpx.Response(200, json=KLINES))


async def test_closed_candles_oldest_first_without_the_forming_one(venue: Any, http: Any) -> None:
    # our clock: 2023-11-14 22:13:20 UTC, inside the 22:00 kline, which is still forming
    candles = await aster(http).candles("BTCUSDT", "1h", 3)
    assert candles == [
        Candle(datetime(2023, 11, 14, 19, tzinfo=UTC), D("36950.1"), D("37120.0"), D("36901.3"), D("37088.8"),
               D("1520.412")),
        Candle(datetime(2023, 11, 14, 20, tzinfo=UTC), D("37088.8"), D("37210.5"), D("37002.0"), D("37011.4"),
               D("1302.007")),
        Candle(datetime(2023, 11, 14, 21, tzinfo=UTC), D("37011.4"), D("37055.0"), D("36820.2"), D("36844.9"),
               D("1877.950")),
    ]
    [call] = venue.calls
    assert call.request.url.path == "/fapi/v1/klines"
    assert httpx.QueryParams(call.request.url.query) == httpx.QueryParams(
        {"symbol": "BTCUSDT", "interval": "1h", "limit": "4"})
    assert "X-MBX-APIKEY" not in call.request.headers  # public: no key, no signature
    assert "signature" not in str(call.request.url)


async def test_fewer_wanted_keeps_the_newest_closed(venue: Any, http: Any) -> None:
    candles = await aster(http).candles("BTCUSDT", "1h", 1)
    assert [c.open_time.hour for c in candles] == [21]
    assert candles[0].close == D("36844.9")


@pytest.mark.parametrize("interval", ["2h", "1H", "", "1w"])
async def test_an_interval_that_is_not_ours_is_refused_before_any_request(venue: Any, http: Any,
                                                                          interval: str) -> None:
    with pytest.raises(UnsupportedInterval, match="interval must be one of 1m 5m 15m 1h 4h 1d"):
        await aster(http).candles("BTCUSDT", interval, 10)
    assert not venue.calls


@pytest.mark.parametrize("limit", [0, -1, 1500, True, 2.0])
async def test_a_limit_out_of_range_is_refused(venue: Any, http: Any, limit: Any) -> None:
    with pytest.raises(ValueError, match="limit must be a whole number from 1 to 1499"):
        await aster(http).candles("BTCUSDT", "1h", limit)
    assert not venue.calls


async def test_an_unreadable_kline_is_the_venue_being_unavailable(http: Any) -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/fapi/v1/klines").mock(return_value=httpx.Response(200, json=[[1699988400000, "x"]]))
        with pytest.raises(ExchangeUnavailable):
            await aster(http).candles("BTCUSDT", "1h", 3)


async def test_an_unknown_symbol_is_refused_as_such(http: Any) -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/fapi/v1/klines").mock(
            return_value=httpx.Response(400, json={"code": -1121, "msg": "Invalid symbol."}))
        with pytest.raises(UnknownSymbol):
            await aster(http).candles("NOPEUSDT", "1h", 3)
