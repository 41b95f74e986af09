"""Aster through the real app: webhooks in, exact orders out at the HTTP layer (scripted venue)."""

from __future__ import annotations

import json
from decimal import Decimal as D

import respx

from sparky.exchanges.base import OrderKind, Side
from tests.conftest import SECRET as WEBHOOK_SECRET
from tests.unit.exchanges.aster.test_aster import BASE, KEY, SECRET, FakeAster


async def test_webhooks_open_long_reverse_to_short_and_close_on_aster(start, tmp_path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"aster": {"apiUrl": BASE, "apiKey": KEY, "apiSecret": SECRET}}))
    venue = FakeAster()
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        async with start(config_path=config) as sparky:
            async def alert(action: str, price: str) -> dict:
                venue.price = venue.fill_price = D(price)
                venue.received.clear()
                response = await sparky.client.post("/webhook", json={
                    "secret": WEBHOOK_SECRET, "exchange": "aster", "symbol": "BINANCE:BTCUSDT.P", "action": action,
                    "price": price, "position_size_usd": 270, "stop_loss_percent": 2, "take_profit_percent": 4})
                assert response.status_code == 200, response.text
                return response.json()

            opened = await alert("buy", "27000")
            assert opened["action"] == "opened"
            assert [(o.side, o.kind, o.quantity, o.trigger_price, o.reduce_only) for o in venue.sent_orders()] == [
                (Side.BUY, OrderKind.MARKET, D("0.010"), None, False),
                (Side.SELL, OrderKind.STOP, D("0.010"), D("26460.0"), True),
                (Side.SELL, OrderKind.TAKE_PROFIT, D("0.010"), D("28080.0"), True),
            ]
            # one position read, the entry, one batch for both exits (+ time and exchangeInfo, once)
            assert [c for c in venue.calls() if "time" not in c and "exchangeInfo" not in c] == [
                "GET /fapi/v2/positionRisk", "POST /fapi/v1/order", "POST /fapi/v1/batchOrders"]

            reversed_ = await alert("sell", "27100")
            assert reversed_["action"] == "reversed"
            assert reversed_["reversed"]["pnl"] == {"usd": 1, "percent": 0.3704}
            sent = venue.sent_orders()
            assert [(o.side, o.kind, o.reduce_only) for o in sent] == [
                (Side.SELL, OrderKind.MARKET, True), (Side.SELL, OrderKind.MARKET, False),
                (Side.BUY, OrderKind.STOP, True), (Side.BUY, OrderKind.TAKE_PROFIT, True)]
            assert (sent[2].trigger_price, sent[3].trigger_price) == (D("27642.0"), D("26016.0"))

            closed = await alert("close", "27000")
            # the short was 270 / 27100 = 0.00996 floored to 0.009: (27100 − 27000) × 0.009
            assert closed["action"] == "closed" and closed["pnl"]["usd"] == 0.9
            assert venue.positions == {} and [o for o in venue.orders if o["status"] == "NEW"] == []
            positions = (await sparky.admin_get("/positions")).json()
            assert positions["totalPositions"] == 0


async def test_a_limit_alert_on_aster_is_refused_rather_than_left_unprotected(start, tmp_path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"aster": {"apiUrl": BASE, "apiKey": KEY, "apiSecret": SECRET}}))
    venue = FakeAster()
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        async with start(config_path=config) as sparky:
            response = await sparky.client.post("/webhook", json={
                "secret": WEBHOOK_SECRET, "exchange": "aster", "symbol": "BTCUSDT", "action": "buy",
                "order_type": "limit", "price": 26000, "stop_loss_percent": 2})
            assert response.status_code == 400
            assert response.json()["error"] == "Limit entries with protection are not available on aster"
            assert venue.sent_orders() == []
