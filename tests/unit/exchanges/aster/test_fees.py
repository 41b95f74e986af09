"""Aster fees: each order's commission from the account's trade list, onto positions and trades.

Aster's order replies carry no commission; `GET /fapi/v1/userTrades` (symbol, orderId) lists the
order's fills with theirs (shape: tests/fixtures/aster/user_trades.json).
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from sparky.exchanges.base import OrderKind, OrderRequest, Side
from sparky.signals.auth import LOCAL_USER_ID
from tests.unit.exchanges.aster.test_aster import KEY, SERVER_MS, FakeAster, aster, fixture, query_of, signed


def trade_list_queries(fake: FakeAster) -> list[dict[str, str]]:
    return [dict(parse_qsl(query_of(r))) for r in fake.requests_to("GET", "/fapi/v1/userTrades")]


async def test_an_orders_fee_is_the_commission_of_its_fills_read_with_a_signed_request(fake: FakeAster, http: Any) -> None:
    exchange = aster(http)
    order = await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.010"), "sp50-e"))
    assert order.id == "5001" and order.fee is None  # the order reply has no commission
    fake.trades = fixture("user_trades")  # the documented reply: order 5001 filled in two parts
    assert await exchange.order_fee(order) == D("0.10800000")  # 0.0432 + 0.0648
    [request] = fake.requests_to("GET", "/fapi/v1/userTrades")
    assert request.headers["X-MBX-APIKEY"] == KEY
    assert query_of(request) == signed(f"symbol=BTCUSDT&orderId=5001&recvWindow=5000&timestamp={SERVER_MS}")


async def test_only_the_orders_own_fills_count(fake: FakeAster, http: Any) -> None:
    exchange = aster(http)
    order = await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.010"), "sp51-e"))
    fake.trades = [*fixture("user_trades"), {**fixture("user_trades")[0], "orderId": 4999, "commission": "9"}]
    assert await exchange.order_fee(order) == D("0.108")


@pytest.mark.parametrize("rows, why", [
    ([{"commissionAsset": "BNB"}, {}], "a fill charged in another asset"),
    ([{}], "the list misses a fill"),
    ([{"commission": "lots"}, {}], "a commission that is not a number"),
])
async def test_a_fee_that_cannot_be_told_in_the_settlement_asset_is_unknown(fake: FakeAster, http: Any, rows: Any, why: str) -> None:
    exchange = aster(http)
    order = await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.010"), "sp52-e"))
    fake.trades = [{**row, **change} for row, change in zip(fixture("user_trades"), rows, strict=False)]
    assert await exchange.order_fee(order) is None, why


async def test_a_usdc_symbol_is_charged_in_usdc(fake: FakeAster, http: Any) -> None:
    """The settlement asset is the symbol's `marginAsset` (exchangeInfo), not a fixed USDT."""
    info = fixture("exchange_info")
    usdc = {**info["symbols"][0], "symbol": "BTCUSDC", "quoteAsset": "USDC", "marginAsset": "USDC"}
    fake.routes[("GET", "/fapi/v1/exchangeInfo")] = lambda p: {**info, "symbols": [*info["symbols"], usdc]}
    fake.price = D("27000.0")
    fake.commission_rate, fake.commission_asset = D("0.0004"), "USDC"
    fake.routes[("GET", "/fapi/v1/ticker/price")] = lambda p: {"symbol": p["symbol"], "price": "27000.0"}
    exchange = aster(http)
    await exchange.last_price("BTCUSDC")
    order = await exchange.place_order(OrderRequest("BTCUSDC", Side.BUY, OrderKind.MARKET, D("0.010"), "sp53-e"))
    assert await exchange.order_fee(order) == D("0.108")


async def test_an_unfilled_order_costs_no_request(fake: FakeAster, http: Any) -> None:
    exchange = aster(http)
    order = await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.LIMIT, D("0.010"), "sp54-e",
                                                    price=D("26000")))
    assert await exchange.order_fee(order) is None
    assert fake.requests_to("GET", "/fapi/v1/userTrades") == []


# --------------------------------------------------------------------------- through the executor
async def test_the_position_and_the_trade_carry_the_fees_and_the_pnl_is_net(fake: FakeAster, trader: Any) -> None:
    fake.commission_rate = D("0.0004")  # 0.04 % a fill, in USDT
    assert (await trader(1, "buy", "27000"))["action"] == "opened"
    stored = await trader.store.get_position(LOCAL_USER_ID, "aster", "BTCUSDT")
    assert (stored.quantity, stored.fees_usd) == (D("0.011"), D("0.1188"))  # 0.011 × 27000 × 0.04 %
    assert [(q["symbol"], q["orderId"]) for q in trade_list_queries(fake)] == [("BTCUSDT", stored.entry_order_id)]

    fake.fill_price = D("27270.0")
    body = await trader(2, "close")
    assert body["action"] == "closed", body
    close_id = str(fake.orders[-1]["orderId"])
    assert [(q["symbol"], q["orderId"]) for q in trade_list_queries(fake)] == [("BTCUSDT", close_id)]
    [trade] = await trader.store.list_trades()
    # gross (27270 − 27000) × 0.011 = 2.97; fees 0.1188 in, 0.119988 out (0.011 × 27270 × 0.04 %)
    assert (trade.order_id, trade.fees_usd, trade.pnl_usd) == (close_id, D("0.238788"), D("2.73121200"))
    assert body["pnl"]["usd"] == 2.73


async def test_a_stop_filled_on_the_venue_is_recorded_with_its_fee(fake: FakeAster, trader: Any) -> None:
    fake.commission_rate = D("0.0004")
    assert (await trader(1, "buy", "27000"))["action"] == "opened"
    stored = await trader.store.get_position(LOCAL_USER_ID, "aster", "BTCUSDT")
    stop = next(o for o in fake.orders if str(o["orderId"]) == stored.stop_loss_order_id)
    fake.fill_price = D("26460.0")
    fake._complete(stop)  # the venue triggers the stop between two alerts

    await trader(2, "close")  # the next alert finds the position gone and records what closed it
    [trade] = await trader.store.list_trades()
    assert trade.exit_reason == "STOP_LOSS" and trade.order_id == stored.stop_loss_order_id
    assert stored.stop_loss_order_id in [q["orderId"] for q in trade_list_queries(fake)]
    # (26460 − 27000) × 0.011 = −5.94; fees 0.1188 in, 0.116424 out (0.011 × 26460 × 0.04 %)
    assert (trade.fees_usd, trade.pnl_usd) == (D("0.235224"), D("-6.17522400"))


@pytest.mark.parametrize("failure", [
    httpx.Response(500, text="<html>Internal Server Error</html>"),
    httpx.Response(429, json={"code": -1003, "msg": "Too many requests."}),
    httpx.Response(200, json={"unexpected": "shape"}),
])
async def test_a_trade_list_that_cannot_be_read_leaves_the_fee_unknown_and_the_trade_whole(
        fake: FakeAster, trader: Any, failure: Any) -> None:
    fake.commission_rate = D("0.0004")
    fake.routes[("GET", "/fapi/v1/userTrades")] = lambda p: failure
    body = await trader(1, "buy", "27000")
    assert body["action"] == "opened" and "warning" not in body, body
    stored = await trader.store.get_position(LOCAL_USER_ID, "aster", "BTCUSDT")
    assert (stored.quantity, stored.fees_usd) == (D("0.011"), None)
    assert stored.stop_loss_order_id and stored.take_profit_order_id  # protected as always

    fake.fill_price = D("27270.0")
    body = await trader(2, "close")
    assert body["action"] == "closed" and "warning" not in body, body
    assert fake.positions == {}
    [trade] = await trader.store.list_trades()
    assert (trade.fees_usd, trade.pnl_usd) == (None, D("2.97000000"))  # gross: no fee is guessed
    assert len(trade_list_queries(fake)) == 1  # the close's fee was asked for once, like the entry's


async def test_a_close_that_filled_in_part_records_that_parts_fees(fake: FakeAster, trader: Any) -> None:
    fake.commission_rate = D("0.0004")
    assert (await trader(1, "buy", "27000"))["action"] == "opened"
    fake.market_status, fake.partial_fill, fake.fill_price = "PARTIALLY_FILLED", D("0.004"), D("27270.0")
    body = await trader(2, "close")
    assert body["success"] is False, body  # the rest is still open
    [trade] = await trader.store.list_trades()
    # 0.004 of 0.011 closed: its share of the entry's 0.1188 (0.0432) and the close's 0.004 × 27270 × 0.04 %
    assert (trade.quantity, trade.fees_usd) == (D("0.004"), D("0.086832"))
    assert trade.pnl_usd == D("1.08000000") - D("0.086832")
    stored = await trader.store.get_position(LOCAL_USER_ID, "aster", "BTCUSDT")
    assert (stored.quantity, stored.fees_usd) == (D("0.007"), D("0.0756"))  # the rest keeps the rest
