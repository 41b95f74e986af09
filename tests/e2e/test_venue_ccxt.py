"""A CCXT venue (bybit) through the real app: real ccxt request building, HTTP faked at ccxt's fetch."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

import sparky.exchanges.ccxt.adapter as ccxt_venue
from tests.conftest import SECRET as WEBHOOK_SECRET
from tests.unit.exchanges.ccxt.test_ccxt import KEY, SECRET, BybitVenue


@pytest.fixture
def bybit(monkeypatch: pytest.MonkeyPatch):
    venue = BybitVenue()
    monkeypatch.setattr(ccxt_venue, "default_factory", venue._factory)  # the app's adapter talks to the fake
    return venue


async def test_webhooks_open_long_reverse_to_short_and_close_on_bybit(bybit, start, tmp_path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"bybit": {"apiKey": KEY, "apiSecret": SECRET}}))
    async with start(config_path=config) as sparky:
        async def alert(action: str, price: str) -> dict:
            bybit.last = bybit.fill = D(price)
            bybit.requests.clear()
            response = await sparky.client.post("/webhook", json={
                "secret": WEBHOOK_SECRET, "exchange": "bybit", "symbol": "BYBIT:ETHUSDT.P", "action": action,
                "price": price, "position_size_usd": 100, "stop_loss_percent": 2, "take_profit_percent": 4})
            assert response.status_code == 200, response.text
            return response.json()

        def creates() -> list[dict]:
            return [r.body for r in bybit.order_posts()]

        opened = await alert("buy", "2000")
        assert opened["action"] == "opened", opened
        [entry] = creates()  # one order: the entry carries its stop-loss and take-profit
        assert (entry["side"], entry["orderType"], entry["qty"]) == ("Buy", "Market", "0.05")
        assert (D(entry["stopLoss"]), D(entry["takeProfit"])) == (D("1960"), D("2080"))
        assert entry["orderLinkId"] == opened["entryOrder"]["clientOrderId"]
        assert (opened["position"]["stopLossPrice"], opened["position"]["takeProfitPrice"]) == (1960, 2080)

        reversed_ = await alert("sell", "2100")
        assert reversed_["action"] == "reversed", reversed_
        close, short = creates()
        assert (close["side"], close["reduceOnly"]) == ("Sell", True)
        assert (short["side"], D(short["stopLoss"]), D(short["takeProfit"])) == ("Sell", D("2142"), D("2016"))
        assert reversed_["reversed"]["pnl"]["usd"] == 5  # (2100 − 2000) × 0.05

        closed = await alert("close", "2000")
        # the short was 100 / 2100 = 0.0476 floored to the 0.01 step: (2100 − 2000) × 0.04
        assert closed["action"] == "closed" and closed["pnl"]["usd"] == 4
        [close] = creates()
        assert (close["side"], close["reduceOnly"]) == ("Buy", True)


async def test_a_market_entry_the_venue_leaves_unfilled_is_cancelled_not_left_working(bybit, start, tmp_path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"bybit": {"apiKey": KEY, "apiSecret": SECRET}}))
    async with start(config_path=config) as sparky:
        bybit.last, bybit.fill = D(2000), None  # the venue takes the order but does not fill it
        response = await sparky.client.post("/webhook", json={
            "secret": WEBHOOK_SECRET, "exchange": "bybit", "symbol": "ETHUSDT", "action": "buy", "price": 2000,
            "position_size_usd": 100, "stop_loss_percent": 2})
        body = response.json()
        assert body["success"] is False and body["action"] == "failed"
        assert "not filled" in body["error"]
        cancels = [r for r in bybit.requests if r.path == "/v5/order/cancel"]
        assert len(cancels) == 1  # the working order is cancelled, never left to fill unprotected later
        assert [o.status for o in bybit.orders.values()] == ["canceled"]
        assert bybit.held is None


async def test_every_spelling_of_a_market_is_one_position(bybit, start, tmp_path) -> None:
    """`ETHUSDT`, `BYBIT:ETHUSDT.P` and ccxt's `ETH/USDT:USDT` are one Bybit market: one position,
    one row, recorded under `ETHUSDT`."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"bybit": {"apiKey": KEY, "apiSecret": SECRET}}))
    async with start(config_path=config) as sparky:
        bybit.last = bybit.fill = D(2000)
        opened = await sparky.client.post("/webhook", json={
            "secret": WEBHOOK_SECRET, "exchange": "bybit", "symbol": "ETH/USDT:USDT", "action": "buy",
            "price": 2000, "quantity": "0.05", "stop_loss_percent": 2})
        assert opened.status_code == 200 and opened.json()["action"] == "opened", opened.text
        assert opened.json()["position"]["symbol"] == "ETHUSDT"
        bybit.last = bybit.fill = D(2010)
        closed = await sparky.client.post("/webhook", json={
            "secret": WEBHOOK_SECRET, "exchange": "bybit", "symbol": "ETHUSDT", "action": "close", "price": 2010})
        assert closed.status_code == 200 and closed.json()["action"] == "closed", closed.text
        assert closed.json()["pnl"]["usd"] == 0.5
        assert bybit.held is None
        assert await sparky.services.store.list_positions() == []
        [trade] = await sparky.services.store.list_trades()
        assert trade.symbol == "ETHUSDT"


async def test_a_market_bybit_does_not_list_is_refused_naming_the_symbol(bybit, start, tmp_path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"bybit": {"apiKey": KEY, "apiSecret": SECRET}}))
    async with start(config_path=config) as sparky:
        response = await sparky.client.post("/webhook", json={
            "secret": WEBHOOK_SECRET, "exchange": "bybit", "symbol": "NOSUCHUSDT", "action": "buy", "quantity": 1})
        assert response.status_code == 400 and response.json()["field"] == "symbol", response.text
        assert bybit.order_posts() == []


async def test_markets_that_cannot_be_loaded_get_503_and_nothing_is_recorded(bybit, start, tmp_path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"bybit": {"apiKey": KEY, "apiSecret": SECRET}}))
    answer = bybit._fetch

    async def refused(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        raise ccxt_async.ExchangeNotAvailable(f"bybit {method} {url}") from ConnectionRefusedError(111)

    bybit._fetch = refused  # the venue cannot be reached, from start-up on: its markets cannot be loaded
    async with start(config_path=config) as sparky:
        await sparky.services.accounts.warmed()  # the warm-up at start-up failed
        alert = {"secret": WEBHOOK_SECRET, "exchange": "bybit", "symbol": "ETHUSDT", "action": "buy",
                 "price": 2000, "quantity": "0.05", "stop_loss_percent": 2}
        response = await sparky.client.post("/webhook", json=alert)
        assert response.status_code == 503, response.text
        assert bybit.order_posts() == []
        assert await sparky.services.store.list_webhook_requests() == []
        bybit.client.fetch, bybit.last, bybit.fill = answer, D(2000), D(2000)
        retried = await sparky.client.post("/webhook", json=alert)  # sent again once the venue is back
        assert retried.status_code == 200 and retried.json()["action"] == "opened", retried.text
