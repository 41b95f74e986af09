"""Tradier through the real app: webhooks in, exact orders out at the HTTP layer (scripted account)."""

from __future__ import annotations

import json
from decimal import Decimal as D

import respx

from sparky.exchanges.base import OrderKind, Side
from tests.conftest import SECRET as WEBHOOK_SECRET
from tests.unit.exchanges.tradier.test_tradier import ACCOUNT, TOKEN, FakeTradier, sent_orders


async def test_webhooks_open_long_reverse_to_short_and_close_on_tradier(start, tmp_path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"tradier": {"accountId": ACCOUNT, "accessToken": TOKEN,
                                              "environment": "sandbox"}}))
    with respx.mock(assert_all_called=False) as router:
        venue = FakeTradier(router)
        async with start(config_path=config) as sparky:
            async def alert(action: str, price: str) -> dict:
                venue.quote("AAPL", D(price))
                venue.fill_price = D(price)
                venue.forms.clear()
                response = await sparky.client.post("/webhook", json={
                    "secret": WEBHOOK_SECRET, "exchange": "tradier", "symbol": "NASDAQ:AAPL", "action": action,
                    "price": price, "position_size_usd": 2000, "stop_loss_percent": 2, "take_profit_percent": 4})
                assert response.status_code == 200, response.text
                return response.json()

            def sent() -> list[tuple]:
                return [(o.side, o.kind, o.quantity, o.price, o.trigger_price, o.reduce_only)
                        for form in venue.forms for o in sent_orders(form)]

            assert (await alert("buy", "200.00"))["action"] == "opened"
            # whole shares: 2000 / 200 = 10; then ONE oco order: take-profit limit and stop-loss stop
            assert [form["class"] for form in venue.forms] == ["equity", "oco"]
            assert sent() == [
                (Side.BUY, OrderKind.MARKET, D(10), None, None, False),
                (Side.SELL, OrderKind.TAKE_PROFIT, D(10), D("208.00"), None, True),
                (Side.SELL, OrderKind.STOP, D(10), None, D("196.00"), True),
            ]
            assert venue.forms[0]["side"] == "buy" and venue.forms[1]["side[0]"] == "sell"

            reversed_ = await alert("sell", "210.00")
            assert reversed_["action"] == "reversed" and reversed_["reversed"]["pnl"]["usd"] == 100
            assert [f.get("side") or f.get("side[0]") for f in venue.forms] == ["sell", "sell_short", "buy_to_cover"]
            assert [(o[0], o[1], o[4] or o[3]) for o in sent()[2:]] == [
                (Side.BUY, OrderKind.TAKE_PROFIT, D("201.60")), (Side.BUY, OrderKind.STOP, D("214.20"))]

            closed = await alert("close", "205.00")
            assert closed["action"] == "closed" and closed["pnl"]["usd"] == 45  # short 9 from 210 to 205
            assert [f.get("side") for f in venue.forms] == ["buy_to_cover"]
            assert venue.held == {}
