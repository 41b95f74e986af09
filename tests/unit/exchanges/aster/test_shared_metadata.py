"""Every user's Aster adapter on one host shares the host's symbol rules and clock offset: one
exchangeInfo and one server-time request between them, while each user's orders are still signed
with that user's own key."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from sparky.exchanges.aster.adapter import AsterExchange
from sparky.exchanges.base import OrderKind, OrderRequest, Side, SymbolRules
from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.errors import UnknownSymbol
from sparky.exchanges.metadata import VenueMetadata
from tests.unit.exchanges.aster.shared_host import OTHER_KEY, SECRETS, SharedHost
from tests.unit.exchanges.aster.test_aster import KEY, NOW, SECRET, FakeAster, fixture


@pytest.fixture
def host(fake: FakeAster) -> FakeAster:
    fake.__class__ = SharedHost  # the same scripted venue, checking each account's own signature
    return fake


def user(http: Any, metadata: VenueMetadata, key: str = KEY, clock: Any = lambda: NOW) -> AsterExchange:
    return AsterExchange(VenueCredentials("aster", api_key=key, api_secret=SECRETS[key]), http, clock=clock,
                         fill_poll_seconds=0, metadata=metadata)


def buy(cid: str) -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.010"), cid)


async def test_two_users_on_one_host_share_one_exchange_info_and_one_clock_and_sign_with_their_own_keys(
        host, http) -> None:
    metadata = VenueMetadata()
    alice, bob = user(http, metadata), user(http, metadata, OTHER_KEY)
    await alice.place_order(buy("sp1-e"))
    await bob.place_order(buy("sp2-e"))
    assert host.calls().count("GET /fapi/v1/exchangeInfo") == 1
    assert host.calls().count("GET /fapi/v1/time") == 1
    orders = host.requests_to("POST", "/fapi/v1/order")
    assert [(r.headers["X-MBX-APIKEY"], dict(parse_qsl(r.content.decode()))["newClientOrderId"])
            for r in orders] == [(KEY, "sp1-e"), (OTHER_KEY, "sp2-e")]
    assert host.bad_signatures == 0  # each signed with its own secret, and the venue took both


async def test_many_users_first_signals_at_once_make_one_exchange_info_request(host, http) -> None:
    metadata = VenueMetadata()
    users = [user(http, metadata, KEY if i % 2 else OTHER_KEY) for i in range(20)]
    await asyncio.gather(*(u.warm_up() for u in users[:10]), *(u.symbol_rules("BTCUSDT") for u in users[10:]))
    assert host.calls().count("GET /fapi/v1/exchangeInfo") == 1
    assert host.calls().count("GET /fapi/v1/time") == 1


async def test_a_symbol_listed_later_is_found_after_a_refresh(host, http) -> None:
    now = [0.0]
    metadata = VenueMetadata(clock=lambda: now[0])
    alice, bob = user(http, metadata), user(http, metadata, OTHER_KEY)
    await alice.symbol_rules("BTCUSDT")
    info = fixture("exchange_info")
    listed = {**info["symbols"][0], "symbol": "NEWUSDT"}
    host.routes[("GET", "/fapi/v1/exchangeInfo")] = lambda p: {**info, "symbols": [*info["symbols"], listed]}
    with pytest.raises(UnknownSymbol):  # the rules were loaded moments ago: not reloaded for every miss
        await bob.symbol_rules("NEWUSDT")
    now[0] = 61.0
    assert (await bob.symbol_rules("NEWUSDT")).symbol == "NEWUSDT"  # a minute on, a miss reloads them
    assert isinstance(await alice.symbol_rules("NEWUSDT"), SymbolRules)  # for every user of the host
    assert host.calls().count("GET /fapi/v1/exchangeInfo") == 2


async def test_a_clock_resync_after_a_refused_timestamp_serves_every_user_of_the_host(host, http) -> None:
    metadata = VenueMetadata()
    alice, bob = user(http, metadata), user(http, metadata, OTHER_KEY)
    await alice.place_order(buy("sp1-e"))
    host.server_ms += 30_000  # the venue's clock moved: requests stamped with the old offset are refused
    await alice.place_order(buy("sp2-e"))  # -1021, re-measured, resent
    await bob.place_order(buy("sp3-e"))  # signed with the new offset at once
    assert host.calls().count("GET /fapi/v1/time") == 2
    assert len(host.requests_to("POST", "/fapi/v1/order")) == 4  # only Alice's first try was refused


async def test_another_host_gets_its_own_rules(host, http) -> None:
    metadata = VenueMetadata()
    await user(http, metadata).symbol_rules("BTCUSDT")
    info = fixture("exchange_info")
    only_eth = {**info, "symbols": [s for s in info["symbols"] if s["symbol"] == "ETHUSDT"]}
    with respx.mock(base_url="https://other.example", assert_all_called=False) as other:
        asked = other.get("/fapi/v1/exchangeInfo").mock(return_value=httpx.Response(200, json=only_eth))
        elsewhere = AsterExchange(VenueCredentials("aster", api_key=KEY, api_secret=SECRET,
                                                   base_url="https://other.example"), http, metadata=metadata)
        with pytest.raises(UnknownSymbol):  # that host's own list, never the first host's
            await elsewhere.symbol_rules("BTCUSDT")
        assert (await elsewhere.symbol_rules("ETHUSDT")).symbol == "ETHUSDT"
    assert asked.call_count == 1 and host.calls().count("GET /fapi/v1/exchangeInfo") == 1
