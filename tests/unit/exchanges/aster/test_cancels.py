"""Aster's batch cancel (`DELETE /fapi/v1/batchOrders`) and warm-up, as the venue receives them."""

from __future__ import annotations

import json
from decimal import Decimal as D
from urllib.parse import parse_qsl

import httpx
import pytest

from sparky.exchanges.aster.adapter import AsterExchange
from sparky.exchanges.base import OrderKind, OrderRequest, Side
from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.errors import ExchangeUnavailable, OrderNotFound, RateLimited
from tests.unit.exchanges.aster.test_aster import NOW, aster, fixture, query_of, signed


def lists_sent(fake) -> list[tuple[str, list]]:
    sent = []
    for request in fake.requests_to("DELETE", "/fapi/v1/batchOrders"):
        params = dict(parse_qsl(query_of(request)))
        name = "orderIdList" if "orderIdList" in params else "origClientOrderIdList"
        sent.append((name, json.loads(params[name])))
    return sent


async def resting_exits(exchange, count: int) -> list[str]:
    ids = []
    for n in range(count):
        order = await exchange.place_order(OrderRequest("BTCUSDT", Side.SELL, OrderKind.STOP, D("0.010"),
                                                        f"sp50-{n}", trigger_price=D("26000"), reduce_only=True))
        ids.append(order.id)
    return ids


async def test_the_exits_are_cancelled_in_one_signed_request_naming_them(fake, http) -> None:
    exchange = aster(http)
    stop, target = await resting_exits(exchange, 2)
    fake.received.clear()
    assert await exchange.cancel_orders("BTCUSDT", [stop, target]) == {stop: None, target: None}
    assert fake.calls() == ["DELETE /fapi/v1/batchOrders"]
    [request] = fake.received
    assert query_of(request) == signed(f"symbol=BTCUSDT&orderIdList=%5B{stop}%2C{target}%5D"
                                       "&recvWindow=5000&timestamp=1700000000250")
    assert {o["status"] for o in fake.orders} == {"CANCELED"}


async def test_an_item_the_venue_no_longer_holds_is_not_found_and_the_others_are_cancelled(fake, http) -> None:
    fake.routes[("DELETE", "/fapi/v1/batchOrders")] = lambda params: fixture("batch_cancel_mixed")
    outcomes = await aster(http).cancel_orders("BTCUSDT", ["283194212", "283194213"])
    assert outcomes["283194212"] is None
    assert isinstance(outcomes["283194213"], OrderNotFound)


async def test_more_than_ten_ids_and_client_ids_go_in_lists_of_their_own(fake, http) -> None:
    exchange = aster(http)
    ids = await resting_exits(exchange, 12)
    fake.received.clear()
    outcomes = await exchange.cancel_orders("BTCUSDT", [*ids, "sp50-gone"])
    assert sorted(lists_sent(fake)) == sorted([("orderIdList", [int(i) for i in ids[:10]]),
                                               ("orderIdList", [int(i) for i in ids[10:]]),
                                               ("origClientOrderIdList", ["sp50-gone"])])
    assert all(outcomes[i] is None for i in ids) and isinstance(outcomes["sp50-gone"], OrderNotFound)


async def test_a_refused_request_is_the_answer_for_every_id_it_named(fake, http) -> None:
    fake.routes[("DELETE", "/fapi/v1/batchOrders")] = lambda params: fake.error("too_many_requests", 429)
    outcomes = await aster(http).cancel_orders("BTCUSDT", ["5001", "5002"])
    assert set(outcomes) == {"5001", "5002"} and all(isinstance(e, RateLimited) for e in outcomes.values())


async def test_a_reply_that_does_not_match_the_ids_leaves_them_all_unknown(fake, http) -> None:
    fake.routes[("DELETE", "/fapi/v1/batchOrders")] = lambda params: fixture("batch_cancel_mixed")[:1]
    outcomes = await aster(http).cancel_orders("BTCUSDT", ["5001", "5002"])
    assert all(isinstance(e, ExchangeUnavailable) for e in outcomes.values()) and len(outcomes) == 2


async def test_warm_up_loads_rules_and_clock_together_and_the_first_order_needs_neither(fake, http) -> None:
    exchange = aster(http)
    await exchange.warm_up()
    assert sorted(fake.calls()) == ["GET /fapi/v1/exchangeInfo", "GET /fapi/v1/time"]
    fake.received.clear()
    assert await exchange.canonical_symbol("BTC/USDT") == "BTCUSDT"
    assert await exchange.position("BTCUSDT") is None
    await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.010"), "sp51-e"))
    assert fake.calls() == ["GET /fapi/v2/positionRisk", "POST /fapi/v1/order"]


async def test_warm_up_without_keys_loads_the_rules_only(fake, http) -> None:
    exchange = AsterExchange(VenueCredentials("aster"), http, clock=lambda: NOW)
    await exchange.warm_up()
    assert fake.calls() == ["GET /fapi/v1/exchangeInfo"]


async def test_a_warm_up_that_fails_says_so_and_the_first_call_loads_them_itself(fake, http) -> None:
    exchange = aster(http)
    fake.routes[("GET", "/fapi/v1/time")] = lambda params: httpx.Response(503, text="<html>down</html>")
    with pytest.raises(ExchangeUnavailable):
        await exchange.warm_up()
    fake.routes[("GET", "/fapi/v1/time")] = lambda params: {"serverTime": fake.server_ms}
    fake.received.clear()
    assert await exchange.position("BTCUSDT") is None
    assert fake.calls() == ["GET /fapi/v1/time", "GET /fapi/v2/positionRisk"]  # rules stayed loaded
