"""Aster through the real app: webhooks in, exact orders out at the HTTP layer (scripted venue)."""

from __future__ import annotations

import json
from decimal import Decimal as D
from urllib.parse import parse_qsl

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
            # the position and the resting orders read together, the entry, one batch for both exits
            # and beside it the entry's fee from the trade list (+ time and exchangeInfo, once)
            calls = [c for c in venue.calls() if "time" not in c and "exchangeInfo" not in c]
            assert sorted(calls[:2]) == ["GET /fapi/v1/openOrders", "GET /fapi/v2/positionRisk"]
            assert calls[2] == "POST /fapi/v1/order"
            assert sorted(calls[3:]) == ["GET /fapi/v1/userTrades", "POST /fapi/v1/batchOrders"]

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


async def test_exits_that_will_not_cancel_after_a_close_are_cancelled_before_the_next_entry(start, tmp_path) -> None:
    """Aster keeps reduce-only exits after the position is gone: one the close could not cancel
    would rest under the next position, so the next signal cancels it before entering."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"aster": {"apiUrl": BASE, "apiKey": KEY, "apiSecret": SECRET}}))
    venue = FakeAster()
    cancel = venue.routes[("DELETE", "/fapi/v1/batchOrders")]
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        async with start(config_path=config) as sparky:
            async def alert(action: str, price: str) -> dict:
                venue.price = venue.fill_price = D(price)
                venue.received.clear()
                response = await sparky.client.post("/webhook", json={
                    "secret": WEBHOOK_SECRET, "exchange": "aster", "symbol": "BTCUSDT", "action": action,
                    "price": price, "position_size_usd": 270, "stop_loss_percent": 2, "take_profit_percent": 4})
                assert response.status_code == 200, response.text
                return response.json()

            opened = await alert("buy", "27000")
            old_exits = [opened["position"]["stopLossOrderId"], opened["position"]["takeProfitOrderId"]]

            venue.routes[("DELETE", "/fapi/v1/batchOrders")] = lambda params: venue.error("too_many_requests", 429)
            closed = await alert("close", "27270")
            # the close filled in full (reduce-only): it is done, whatever the cancel said
            assert closed["success"] is True and closed["action"] == "closed"
            assert closed["pnl"]["usd"] == 2.7
            assert closed["warning"] == (f"Exit orders {', '.join(old_exits)} on BTCUSDT could not be cancelled; "
                                         "Sparky cancels them on the next signal for this symbol, before any new entry")
            assert venue.positions == {}
            assert sorted(str(o["orderId"]) for o in venue.orders if o["status"] == "NEW") == sorted(old_exits)

            venue.routes[("DELETE", "/fapi/v1/batchOrders")] = cancel
            reopened = await alert("buy", "27100")
            assert reopened["action"] == "opened" and "warning" not in reopened
            calls = [c for c in venue.calls() if "time" not in c]
            assert sorted(calls[:2]) == ["GET /fapi/v1/openOrders", "GET /fapi/v2/positionRisk"]
            # the old exits go (one batch cancel) before the new entry; then the entry and its own exits (and its fee)
            assert calls[2:4] == ["DELETE /fapi/v1/batchOrders", "POST /fapi/v1/order"]
            assert sorted(calls[4:]) == ["GET /fapi/v1/userTrades", "POST /fapi/v1/batchOrders"]
            [sweep] = venue.requests_to("DELETE", "/fapi/v1/batchOrders")
            assert json.loads(dict(parse_qsl(sweep.url.query.decode()))["orderIdList"]) == [
                int(oid) for oid in old_exits]
            resting = [o for o in venue.orders if o["status"] == "NEW"]
            assert sorted(str(o["orderId"]) for o in resting) == sorted(
                [reopened["position"]["stopLossOrderId"], reopened["position"]["takeProfitOrderId"]])
            assert [(o["side"], o["type"], o["stopPrice"]) for o in resting] == [
                ("SELL", "STOP_MARKET", "26558.0"), ("SELL", "TAKE_PROFIT_MARKET", "28184.0")]


async def test_trades_on_aster_record_the_commission_aster_charged_and_a_net_pnl(start, tmp_path) -> None:
    """Aster's order replies carry no commission: it comes from the trade list, one signed
    `userTrades` request per filled order, and the trade row and the answer are net of it."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"aster": {"apiUrl": BASE, "apiKey": KEY, "apiSecret": SECRET}}))
    venue = FakeAster()
    venue.commission_rate = D("0.0005")  # 0.05 % a fill, in USDT
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        async with start(config_path=config) as sparky:
            async def alert(action: str, price: str) -> dict:
                venue.price = venue.fill_price = D(price)
                response = await sparky.client.post("/webhook", json={
                    "secret": WEBHOOK_SECRET, "exchange": "aster", "symbol": "BTCUSDT", "action": action,
                    "price": price, "position_size_usd": 270, "stop_loss_percent": 2, "take_profit_percent": 4})
                assert response.status_code == 200, response.text
                return response.json()

            assert (await alert("buy", "27000"))["action"] == "opened"
            closed = await alert("close", "28000")
            # gross (28000 − 27000) × 0.010 = 10; fees 0.135 in (0.010 × 27000 × 0.05 %) and 0.14 out
            assert closed["action"] == "closed" and closed["pnl"]["usd"] == 9.73
            [trade] = await sparky.services.store.list_trades()
            assert (trade.fees_usd, trade.pnl_usd) == (D("0.275"), D("9.72500000"))
            entry, close = (o for o in venue.orders if o["type"] == "MARKET")
            queries = [dict(parse_qsl(r.url.query.decode())) for r in venue.requests_to("GET", "/fapi/v1/userTrades")]
            assert [(q["symbol"], q["orderId"]) for q in queries] == [
                ("BTCUSDT", str(entry["orderId"])), ("BTCUSDT", str(close["orderId"]))]
            assert all("signature" in q and "timestamp" in q for q in queries)
