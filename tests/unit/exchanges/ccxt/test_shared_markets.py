"""Every user's ccxt adapter for one venue, market type and hosts shares the venue's market list:
loaded once (megabytes on the big venues), while each user's requests carry their own key."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from typing import Any

from sparky.exchanges.base import SymbolRules
from sparky.exchanges.ccxt.adapter import CcxtExchange
from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.errors import UnknownSymbol
from sparky.exchanges.metadata import VenueMetadata
from tests.unit.exchanges.ccxt.test_ccxt import KEY, SECRET, BinanceVenue, BybitVenue, fixture, since

ETH = SymbolRules("ETHUSDT", D("0.01"), D("0.001"), D("0.001"), D("20"))


def user(venue: Any, metadata: VenueMetadata, key: str = KEY, secret: str = SECRET, **extra: Any) -> CcxtExchange:
    return CcxtExchange(VenueCredentials(venue.exchange_id, api_key=key, api_secret=secret, extra=extra), None,
                        client_factory=venue._factory, fill_check_delay=0, metadata=metadata)


async def test_two_users_of_one_venue_load_its_markets_once_and_keep_their_own_keys() -> None:
    venue, metadata = BinanceVenue(), VenueMetadata()
    alice, bob = user(venue, metadata), user(venue, metadata, "bob-key", "bob-secret")
    assert await asyncio.gather(alice.symbol_rules("ETHUSDT"), bob.symbol_rules("ETHUSDT")) == [ETH, ETH]
    assert (await bob.symbol_rules("BTCUSDT")).tick_size == D("0.1")
    await asyncio.gather(alice.positions(), bob.positions())
    assert since(venue, 0).count(("GET", "/fapi/v1/exchangeInfo")) == 1
    positions = [r.headers.get("X-MBX-APIKEY") for r in venue.requests if r.path == "/fapi/v3/positionRisk"]
    assert sorted(positions) == ["bob-key", KEY]
    await asyncio.gather(alice.aclose(), bob.aclose(), venue.exchange.aclose())


async def test_a_market_listed_later_is_found_after_a_refresh() -> None:
    venue, now = BinanceVenue(), [0.0]
    metadata = VenueMetadata(clock=lambda: now[0])
    alice, bob = user(venue, metadata), user(venue, metadata, "bob-key", "bob-secret")
    await alice.symbol_rules("ETHUSDT")
    info = fixture("binanceusdm_exchange_info")
    eth = next(s for s in info["symbols"] if s["symbol"] == "ETHUSDT")
    listed = {**eth, "symbol": "NEWUSDT", "pair": "NEWUSDT", "baseAsset": "NEW"}
    answer = venue.answer
    venue.answer = lambda request: ((200, {**info, "symbols": [*info["symbols"], listed]})
                                    if request.path == "/fapi/v1/exchangeInfo" else answer(request))
    try:
        await bob.symbol_rules("NEWUSDT")
    except UnknownSymbol:
        pass  # loaded moments ago: a miss does not reload the list every time
    else:
        raise AssertionError("found before any reload")
    now[0] = 61.0
    assert (await bob.symbol_rules("NEWUSDT")).symbol == "NEWUSDT"
    assert (await alice.symbol_rules("NEWUSDT")).symbol == "NEWUSDT"  # every user of the venue sees it
    assert since(venue, 0).count(("GET", "/fapi/v1/exchangeInfo")) == 2
    await asyncio.gather(alice.aclose(), bob.aclose(), venue.exchange.aclose())


async def test_spot_and_perpetual_users_each_get_their_own_market_list() -> None:
    venue, metadata = BybitVenue(), VenueMetadata()
    swap, spot = user(venue, metadata), user(venue, metadata, market_type="spot")
    await swap.symbol_rules("ETHUSDT")
    await spot.symbol_rules("ETHUSDT")
    categories = [r.query.get("category") for r in venue.requests if r.path == "/v5/market/instruments-info"]
    assert "linear" in categories and "spot" in categories  # two lists, never one answering for the other
    assert swap._markets["ETHUSDT"].ccxt_symbol == "ETH/USDT:USDT" and spot._markets["ETHUSDT"].ccxt_symbol == "ETH/USDT"
    await asyncio.gather(swap.aclose(), spot.aclose(), venue.exchange.aclose())
