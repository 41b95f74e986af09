"""Paper trading through the real app over HTTP: open, protect, reverse, close, limit, skip."""

from __future__ import annotations

from decimal import Decimal as D

from sparky.exchanges.base import Bracket, OrderKind, OrderRequest, OrderStatus, Side
from sparky.execution.orders import client_order_id
from sparky.signals.auth import LOCAL_USER_ID
from tests.conftest import Sparky


def cid(request_id: str, role: str) -> str:
    return client_order_id(request_id, role)


async def exits(sparky: Sparky) -> tuple:
    """The resting stop-loss and take-profit on the venue."""
    orders = {o.kind: o for o in await sparky.paper.open_orders("BTCUSDT")}
    return orders[OrderKind.STOP], orders[OrderKind.TAKE_PROFIT]


SL, TP = D("26716.6"), D("27937.1")  # 27123.45 × (1 ∓ 1.5 %, 3 %), rounded to 0.1 toward the entry


async def test_open_long_attaches_stop_and_take_profit_to_the_entry_in_one_request(sparky: Sparky) -> None:
    response = await sparky.alert(action="buy", symbol="BINANCE:BTCUSDT", price="27123.45",
                                  position_size_usd=1000, stop_loss_percent=1.5, take_profit_percent=3)
    rid = response.json()["request_id"]
    # 1000 / 27123.45 = 0.03686… floored to the 0.001 step
    assert sparky.paper.requests == [
        OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.036"), cid(rid, "e"), bracket=Bracket(SL, TP)),
    ]
    stop, target = await exits(sparky)
    assert (stop.side, stop.trigger_price, stop.quantity, stop.client_order_id) == (Side.SELL, SL, D("0.036"),
                                                                                    cid(rid, "e") + "-sl")
    assert (target.side, target.trigger_price, target.linked_order_id) == (Side.SELL, TP, stop.id)


async def test_open_long_places_entry_then_stop_and_take_profit_at_exact_prices(start) -> None:
    async with start(paper_attached_brackets=False) as sparky:
        response = await sparky.alert(action="buy", symbol="BINANCE:BTCUSDT", price="27123.45",
                                    position_size_usd=1000, stop_loss_percent=1.5, take_profit_percent=3)
        assert response.status_code == 200
        body = response.json()
        rid = body["request_id"]
        assert body["success"] is True and body["action"] == "opened"
        assert sparky.paper.requests == [
          OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.036"), cid(rid, "e")),
          OrderRequest("BTCUSDT", Side.SELL, OrderKind.STOP, D("0.036"), cid(rid, "sl"),
                       trigger_price=SL, reduce_only=True),
          OrderRequest("BTCUSDT", Side.SELL, OrderKind.TAKE_PROFIT, D("0.036"), cid(rid, "tp"),
                       trigger_price=TP, reduce_only=True),
        ]
        position = body["position"]
        assert position["side"] == "BUY" and position["quantity"] == 0.036
        assert position["entryPrice"] == 27123.45
        assert position["stopLossPrice"] == 26716.6 and position["takeProfitPrice"] == 27937.1

        stored = await sparky.services.store.get_position(LOCAL_USER_ID, "paper", "BTCUSDT")
        assert stored is not None
        assert (stored.side, stored.quantity, stored.entry_price) == ("BUY", D("0.036"), D("27123.45"))
        assert (stored.stop_loss_price, stored.take_profit_price) == (D("26716.6"), D("27937.1"))
        assert stored.position_size_usd == D("976.44420")
        row = await sparky.services.store.get_webhook_request(rid)
        assert row.status.value == "success" and row.result["action"] == "opened"
        assert "secret" not in row.payload and row.webhook_secret.startswith("sha256:")


async def test_open_short_puts_stop_above_and_take_profit_below(sparky: Sparky) -> None:
    body = (await sparky.alert(action="short", symbol="BTCUSDT", price="27123.45", position_size_usd=1000,
                               stop_loss_percent=1.5, take_profit_percent=3)).json()
    assert body["action"] == "opened" and body["position"]["side"] == "SELL"
    [entry] = sparky.paper.requests
    assert (entry.side, entry.kind, entry.quantity) == (Side.SELL, OrderKind.MARKET, D("0.036"))
    stop, target = await exits(sparky)
    assert (stop.side, stop.trigger_price, stop.reduce_only) == (Side.BUY, D("27530.3"), True)
    assert (target.side, target.trigger_price, target.reduce_only) == (Side.BUY, D("26309.8"), True)
    assert (body["position"]["stopLossPrice"], body["position"]["takeProfitPrice"]) == (27530.3, 26309.8)


async def test_same_side_signal_is_skipped_without_orders(sparky: Sparky) -> None:
    await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, stop_loss_percent=2)
    sent = len(sparky.paper.requests)
    response = await sparky.alert(action="long", symbol="BTCUSDT", price=27010, stop_loss_percent=2)
    body = response.json()
    assert response.status_code == 200
    assert body["action"] == "skipped" and body["success"] is False
    assert body["message"] == "Already have BUY position for BTCUSDT"
    assert len(sparky.paper.requests) == sent
    row = await sparky.services.store.get_webhook_request(body["request_id"])
    assert row.status.value == "skipped"


async def test_close_records_trade_with_real_pnl_and_cancels_both_exits(sparky: Sparky) -> None:
    opened = (await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, position_size_usd=2700,
                                 stop_loss_percent=2, take_profit_percent=5)).json()
    sl_id = opened["position"]["stopLossOrderId"]
    tp_id = opened["position"]["takeProfitOrderId"]
    response = await sparky.alert(action="close", symbol="BTCUSDT", price=27540)
    body = response.json()
    assert body["action"] == "closed" and body["success"] is True
    assert sparky.paper.requests[-1] == OrderRequest(
        "BTCUSDT", Side.SELL, OrderKind.MARKET, D("0.1"), cid(body["request_id"], "x"), reduce_only=True)
    assert body["pnl"] == {"usd": 54, "percent": 2}  # (27540 − 27000) × 0.1; 54 / 2700
    assert body["closeOrder"]["averagePrice"] == 27540
    for order_id in (sl_id, tp_id):
        order = await sparky.paper.get_order("BTCUSDT", order_id=order_id)
        assert order.status is OrderStatus.CANCELED
    assert await sparky.services.store.get_position(LOCAL_USER_ID, "paper", "BTCUSDT") is None
    [trade] = await sparky.services.store.list_trades()
    assert (trade.side, trade.entry_price, trade.exit_price, trade.quantity) == ("BUY", D(27000), D(27540), D("0.1"))
    assert (trade.pnl_usd, trade.pnl_percent, trade.is_winner, trade.exit_reason) == (D(54), D(2), True, "MANUAL")
    balance = await sparky.paper.balance()
    assert balance.total == D(10054)


async def test_close_with_nothing_open_is_skipped_and_recorded_so(sparky: Sparky) -> None:
    body = (await sparky.alert(action="flat", symbol="BTCUSDT", price=27000)).json()
    # `success` as the original answered (the account is flat, as asked); the action says what the row says
    assert body["success"] is True and body["action"] == "skipped"
    assert body["message"] == "No position to close"
    assert sparky.paper.requests == []
    row = await sparky.services.store.get_webhook_request(body["request_id"])
    assert row.status.value == "skipped"


async def test_close_long_leaves_a_short_alone(sparky: Sparky) -> None:
    await sparky.alert(action="sell", symbol="BTCUSDT", price=27000)
    sent = len(sparky.paper.requests)
    body = (await sparky.alert(action="close_long", symbol="BTCUSDT", price=26900)).json()
    assert body["action"] == "skipped" and "No long position" in body["message"]
    assert len(sparky.paper.requests) == sent
    assert (await sparky.paper.position("BTCUSDT")).side is Side.SELL


async def test_reverse_closes_confirms_flat_then_opens_the_other_side(start) -> None:
    async with start(paper_attached_brackets=False) as sparky:
        await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, position_size_usd=2700,
                           stop_loss_percent=2, take_profit_percent=4)
        response = await sparky.alert(action="sell", symbol="BTCUSDT", price=26730, position_size_usd=2673,
                                      stop_loss_percent=2, take_profit_percent=4)
        body = response.json()
        rid = body["request_id"]
        assert body["action"] == "reversed" and body["success"] is True
        assert body["reversed"]["pnl"] == {"usd": -27, "percent": -1}
        assert sparky.paper.requests[3:] == [
            OrderRequest("BTCUSDT", Side.SELL, OrderKind.MARKET, D("0.1"), cid(rid, "rx"), reduce_only=True),
            OrderRequest("BTCUSDT", Side.SELL, OrderKind.MARKET, D("0.1"), cid(rid, "e")),
            OrderRequest("BTCUSDT", Side.BUY, OrderKind.STOP, D("0.1"), cid(rid, "sl"),
                         trigger_price=D("27264.6"), reduce_only=True),
            OrderRequest("BTCUSDT", Side.BUY, OrderKind.TAKE_PROFIT, D("0.1"), cid(rid, "tp"),
                         trigger_price=D("25660.8"), reduce_only=True),
        ]
        live = await sparky.paper.position("BTCUSDT")
        assert (live.side, live.quantity, live.entry_price) == (Side.SELL, D("0.1"), D(26730))
        [trade] = await sparky.services.store.list_trades()
        assert (trade.exit_reason, trade.pnl_usd) == ("REVERSAL", D("-27"))
        assert len(await sparky.paper.open_orders("BTCUSDT")) == 2  # only the new short's exits remain


async def test_stop_loss_fill_is_recorded_and_cancels_the_take_profit(sparky: Sparky) -> None:
    opened = (await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, position_size_usd=2700,
                                 stop_loss_percent=2, take_profit_percent=4)).json()
    # the next alert carries a price below the stop: the venue triggers it before anything else
    body = (await sparky.alert(action="buy", symbol="BTCUSDT", price=26400, position_size_usd=2640,
                               stop_loss_percent=2)).json()
    [trade] = await sparky.services.store.list_trades()
    assert (trade.exit_reason, trade.exit_price, trade.pnl_usd) == ("STOP_LOSS", D(26400), D(-60))
    tp = await sparky.paper.get_order("BTCUSDT", order_id=opened["position"]["takeProfitOrderId"])
    assert tp.status is OrderStatus.CANCELED
    assert body["action"] == "opened"  # flat again, so the new long opens


async def test_limit_entry_rests_then_fills_with_attached_protection(sparky: Sparky) -> None:
    await sparky.alert(action="close", symbol="BTCUSDT", price=27000)  # the venue learns a price
    body = (await sparky.alert(action="buy", symbol="BTCUSDT", order_type="limit", price=26000,
                               position_size_usd=2600, stop_loss_percent=2, take_profit_percent=4)).json()
    assert body["action"] == "order_placed" and body["order"]["status"] == "OPEN"
    entry = sparky.paper.requests[-1]
    assert (entry.kind, entry.price, entry.quantity) == (OrderKind.LIMIT, D(26000), D("0.1"))
    assert (entry.bracket.stop_loss, entry.bracket.take_profit) == (D(25480), D(27040))
    assert await sparky.paper.position("BTCUSDT") is None

    later = (await sparky.alert(action="buy", symbol="BTCUSDT", price=25990)).json()
    assert later["action"] == "skipped"  # the limit filled at 25990, better than 26000: already long
    stored = await sparky.services.store.get_position(LOCAL_USER_ID, "paper", "BTCUSDT")
    assert (stored.side, stored.entry_price, stored.quantity) == ("BUY", D(25990), D("0.1"))
    assert (stored.stop_loss_price, stored.take_profit_price) == (D(25480), D(27040))


async def test_market_order_without_any_known_price_is_a_400(sparky: Sparky) -> None:
    response = await sparky.alert(action="buy", symbol="SOLUSDT")
    assert response.status_code == 400
    assert "no price" in response.json()["error"].lower()
    assert [r.kind for r in sparky.paper.requests] == []


async def test_order_below_min_notional_is_refused_before_sending(sparky: Sparky) -> None:
    response = await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, position_size_usd=4)
    assert response.status_code == 400
    assert response.json()["error"].startswith("Order too small")
    assert sparky.paper.requests == []
    row = await sparky.services.store.get_webhook_request(response.json()["request_id"])
    assert row.status.value == "rejected"


async def test_trailing_stop_on_a_venue_without_them_is_refused_not_dropped(sparky: Sparky) -> None:
    response = await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, useTrailingStop=True, trailingStop=20)
    assert response.status_code == 400
    assert response.json()["error"] == "Trailing stops are not available on paper"
    assert sparky.paper.requests == []
