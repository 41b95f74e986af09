"""One cycle's market data: each (venue, symbol, interval) fetched once, however many strategies
ask and however they spell the symbol; a failure shared by every asker and not retried within the
cycle; the next cycle asks again. Aster's public klines through respx."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from sparky.ai.indicators import summary
from sparky.ai.market_data import CycleMarketData, MarketVenues, candles_needed, market_venue
from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.errors import ExchangeError
from sparky.exchanges.metadata import VenueMetadata
from sparky.exchanges.oanda.api import LIVE_URL
from sparky.exchanges.paper.adapter import PaperExchange
from sparky.exchanges.registry import ExchangeRegistry
from sparky.store.ai import AiStrategyRecord
from sparky.store.sqlite.store import SqliteStore
from sparky.store.tenants import CredentialRecord
from tests.ai_venue import ASTER, EXCHANGE_INFO, klines, mock_aster
from tests.unit.exchanges.oanda.test_oanda import fixture

ALICE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
BOB = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"


@pytest.fixture
async def venues(venue_http: Any) -> Any:
    metadata = VenueMetadata()
    market_venues = MarketVenues(None, venue_http, metadata)  # type: ignore[arg-type]  (aster: no account)
    yield market_venues
    await market_venues.aclose()
    await metadata.aclose()


async def test_two_strategies_on_one_symbol_cost_one_klines_request(venues: Any) -> None:
    with respx.mock(assert_all_called=False) as router:
        route = mock_aster(router)
        market = CycleMarketData(venues, limit=100)
        alice, bob = await asyncio.gather(market.candles("aster", "BTCUSDT", "15m", user_id=ALICE),
                                          market.candles("aster", "btc/usdt", "15m", user_id=BOB))
        again = await market.candles("aster", "BINANCE:BTCUSDT.P", "15m", user_id=ALICE)
    assert route.call_count == 1 and market.requests() == 1
    assert len(alice) == 100 and alice == bob == again
    assert alice[-1].close == Decimal("64000.0")
    params = route.calls[0].request.url.params
    assert (params["symbol"], params["interval"], params["limit"]) == ("BTCUSDT", "15m", "101")


async def test_other_symbols_and_intervals_are_fetched_apart(venues: Any) -> None:
    with respx.mock(assert_all_called=False) as router:
        route = mock_aster(router)
        market = CycleMarketData(venues, limit=100)
        await market.candles("aster", "BTCUSDT", "15m", user_id=ALICE)
        await market.candles("aster", "ETHUSDT", "15m", user_id=ALICE)
        await market.candles("aster", "BTCUSDT", "1h", user_id=ALICE)
    assert route.call_count == 3 and market.requests() == 3



async def test_indicators_are_computed_once_per_series_in_a_cycle(venues: Any) -> None:
    with respx.mock(assert_all_called=False) as router:
        mock_aster(router)
        market = CycleMarketData(venues, limit=100)
        alice = await market.candles("aster", "BTCUSDT", "15m", user_id=ALICE)
        bob = await market.candles("aster", "btc/usdt", "15m", user_id=BOB)
    indicators = market.indicators(alice)
    assert market.indicators(bob) is indicators  # one computation for every strategy on the symbol
    assert indicators == summary(alice) and indicators.rsi_14 is not None


async def test_a_failure_is_shared_and_not_retried_within_the_cycle(venues: Any) -> None:
    with respx.mock(assert_all_called=False) as router:
        mock_aster(router)
        route = router.get(f"{ASTER}/fapi/v1/klines").mock(return_value=httpx.Response(
            503, json={"code": -1001, "msg": "Internal error; unable to process your request."}))
        market = CycleMarketData(venues, limit=100)
        results = await asyncio.gather(market.candles("aster", "BTCUSDT", "15m", user_id=ALICE),
                                       market.candles("aster", "BTCUSDT", "15m", user_id=BOB),
                                       return_exceptions=True)
        with pytest.raises(ExchangeError):
            await market.candles("aster", "BTCUSDT", "15m", user_id=ALICE)
        first_cycle = route.call_count
        mock_aster(router)  # the venue is back: the next cycle asks again
        candles = await CycleMarketData(venues, limit=100).candles("aster", "BTCUSDT", "15m", user_id=ALICE)
    assert all(isinstance(r, ExchangeError) for r in results)
    assert first_cycle == 1 and len(candles) == 100


def test_enough_candles_for_the_indicators_and_a_true_24h_change() -> None:
    assert candles_needed(15 * 60) == 100  # 97 cover a day: the indicators' floor is higher
    assert candles_needed(60) == 1441  # a day of minutes and the one 24 h before
    assert candles_needed(86_400) == 100


def test_a_paper_strategy_watches_the_configured_venue_or_its_own() -> None:
    assert market_venue(AiStrategyRecord(ALICE, exchange="paper", is_paper_trading=True), "aster") == "aster"
    assert market_venue(AiStrategyRecord(ALICE, exchange="oanda", is_paper_trading=True), "aster") == "oanda"
    assert market_venue(AiStrategyRecord(ALICE, exchange="bybit"), "aster") == "bybit"


async def test_oanda_candles_are_read_with_the_users_own_keys(tmp_path: Any, venue_http: Any) -> None:
    store = SqliteStore(tmp_path / "sparky.sqlite3", synchronous="NORMAL")
    await store.open()
    await store.upsert_credentials(CredentialRecord(ALICE, "oanda", api_key="alice-oanda-token",
                                                    account_id="101-004-1234567-001"))
    accounts = ExchangeAccounts(ExchangeRegistry(), store, venue_http, paper_dir=tmp_path / "paper",
                                paper_factory=lambda path: PaperExchange(state_path=path), ttl=60)
    venues = MarketVenues(accounts, venue_http)
    try:
        with respx.mock(base_url=LIVE_URL, assert_all_called=False) as router:
            router.get("/v3/accounts/101-004-1234567-001/instruments").mock(
                return_value=httpx.Response(200, json=fixture("instruments.json")))
            route = router.get("/v3/instruments/EUR_USD/candles").mock(
                return_value=httpx.Response(200, json=fixture("candles_h1.json")))
            market = CycleMarketData(venues, limit=100)
            candles = await market.candles("oanda", "EURUSD", "1h", user_id=ALICE)
    finally:
        await venues.aclose()
        await accounts.aclose()
        await store.aclose()
    assert [c.close for c in candles] == [Decimal("1.08790"), Decimal("1.08800"), Decimal("1.08745")]
    [call] = route.calls
    assert call.request.headers["authorization"] == "Bearer alice-oanda-token"
    assert call.request.url.params["granularity"] == "H1" and market.requests() == 1


async def test_a_venue_of_config_json_is_read_where_its_section_points_and_without_its_keys(venue_http: Any) -> None:
    """An operator on a testnet (or behind a relay) watches that market, not the production one."""
    from sparky.ai.wiring import public_endpoints
    from sparky.config import LegacyConfig

    testnet = "https://testnet.aster.example"
    legacy = LegacyConfig.model_validate({"aster": {"apiKey": "k" * 64, "apiSecret": "s" * 64, "apiUrl": testnet}})
    endpoints = public_endpoints(legacy)
    assert endpoints["aster"].base_url == testnet and endpoints["aster"].api_key is None
    metadata = VenueMetadata()
    market_venues = MarketVenues(None, venue_http, metadata, endpoints=endpoints)  # type: ignore[arg-type]
    try:
        with respx.mock(assert_all_called=False) as router:
            production = mock_aster(router)
            router.get(f"{testnet}/fapi/v1/exchangeInfo").mock(return_value=httpx.Response(200, json=EXCHANGE_INFO))
            route = router.get(f"{testnet}/fapi/v1/klines").mock(side_effect=lambda request: httpx.Response(
                200, json=klines(int(request.url.params["limit"]) - 1)))
            candles = await CycleMarketData(market_venues, limit=100).candles("aster", "BTCUSDT", "15m", user_id=ALICE)
    finally:
        await market_venues.aclose()
        await metadata.aclose()
    assert route.call_count == 1 and production.call_count == 0 and len(candles) == 100
    assert "X-MBX-APIKEY" not in route.calls[0].request.headers
