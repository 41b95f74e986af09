"""Resting limit entries through the real app on the paper venue: recorded, replaced, cancelled by a
later signal, counted toward maxPositions, and their fills (and the exits that closed them) recorded."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

from sparky.exchanges.base import OrderKind, OrderStatus, Side
from sparky.exchanges.errors import ExchangeUnavailable
from sparky.execution.orders import client_order_id
from sparky.signals.auth import LOCAL_USER_ID
from tests.conftest import Sparky

#: a buy limit at 26000 for 0.1 BTC: stop 2 % below (25480), target 4 % above (27040)
LIMIT_BUY = {"action": "buy", "symbol": "BTCUSDT", "order_type": "limit", "price": 26000,
             "position_size_usd": 2600, "stop_loss_percent": 2, "take_profit_percent": 4}


async def rest_a_buy_limit(sparky: Sparky, **changes) -> dict:
    await sparky.paper.note_price("BTCUSDT", D(27000))  # the market is above the limit: it rests
    body = (await sparky.alert(**{**LIMIT_BUY, **changes})).json()
    assert body["action"] == "order_placed", body
    return body


async def test_a_resting_entry_is_recorded_with_what_finds_and_settles_it(sparky: Sparky) -> None:
    placed = await rest_a_buy_limit(sparky)
    [entry] = await sparky.services.store.list_resting_entries()
    assert (entry.user_id, entry.exchange, entry.symbol, entry.side) == (LOCAL_USER_ID, "paper", "BTCUSDT", "BUY")
    assert (entry.quantity, entry.limit_price, entry.stop_loss_price, entry.take_profit_price) == (
        D("0.1"), D(26000), D(25480), D(27040))
    assert (entry.client_order_id, entry.order_id, entry.request_id) == (
        client_order_id(placed["request_id"], "e"), placed["order"]["orderId"], placed["request_id"])
    assert (entry.stop_loss_percent, entry.take_profit_percent) == (D(2), D(4))
    # not a position: the dashboard and GET /positions show nothing open
    assert await sparky.services.store.list_positions() == []
    assert (await sparky.admin_get("/positions")).json()["totalPositions"] == 0


async def test_a_second_limit_alert_replaces_the_first(sparky: Sparky) -> None:
    first = await rest_a_buy_limit(sparky)
    second = (await sparky.alert(**{**LIMIT_BUY, "price": 26500, "position_size_usd": 2650})).json()
    assert second["action"] == "order_placed"
    [resting] = await sparky.paper.open_orders("BTCUSDT")  # one resting order on the venue, never two
    assert (resting.kind, resting.price, resting.client_order_id) == (
        OrderKind.LIMIT, D(26500), client_order_id(second["request_id"], "e"))
    cancelled = second["cancelledEntry"]
    assert (cancelled["clientOrderId"], cancelled["status"]) == (client_order_id(first["request_id"], "e"), "CANCELED")
    [entry] = await sparky.services.store.list_resting_entries()
    assert entry.client_order_id == resting.client_order_id

    await sparky.paper.note_price("BTCUSDT", D(26500))  # the second's limit, above the first's: only it fills
    live = await sparky.paper.position("BTCUSDT")
    assert (live.side, live.quantity, live.entry_price) == (Side.BUY, D("0.1"), D(26500))


async def test_a_close_cancels_the_resting_entry_and_nothing_opens_later(sparky: Sparky) -> None:
    placed = await rest_a_buy_limit(sparky)
    response = await sparky.alert(action="close", symbol="BTCUSDT")
    body = response.json()
    assert response.status_code == 200
    assert (body["success"], body["action"], body["message"]) == (
        True, "cancelled", "Resting limit entry cancelled; no position was open")
    assert body["cancelledEntry"]["clientOrderId"] == client_order_id(placed["request_id"], "e")
    assert body["cancelledEntry"]["status"] == "CANCELED"
    assert await sparky.paper.open_orders("BTCUSDT") == []
    assert await sparky.services.store.list_resting_entries() == []
    row = await sparky.services.store.get_webhook_request(body["request_id"])
    assert (row.status.value, row.result["action"]) == ("success", "cancelled")

    await sparky.paper.note_price("BTCUSDT", D(25000))  # the market falls through the old limit
    assert await sparky.paper.position("BTCUSDT") is None
    assert await sparky.services.store.list_positions() == []


async def test_a_stale_buy_limit_is_cancelled_before_a_short_opens_and_the_short_keeps_its_stop(
        sparky: Sparky) -> None:
    placed = await rest_a_buy_limit(sparky)
    short = (await sparky.alert(action="sell", symbol="BTCUSDT", price=27000, position_size_usd=2700,
                                stop_loss_percent=2, take_profit_percent=4)).json()
    assert (short["action"], short["position"]["side"]) == ("opened", "SELL")
    resting = await sparky.paper.open_orders("BTCUSDT")  # the short's exits, and no stale limit
    assert sorted((o.kind, o.side) for o in resting) == [(OrderKind.STOP, Side.BUY), (OrderKind.TAKE_PROFIT, Side.BUY)]
    limit = await sparky.paper.get_order("BTCUSDT", client_order_id=client_order_id(placed["request_id"], "e"))
    assert limit.status is OrderStatus.CANCELED
    assert short["cancelledEntry"]["clientOrderId"] == limit.client_order_id

    await sparky.paper.note_price("BTCUSDT", D(25990))  # below the old limit, above the short's target (25920)
    live = await sparky.paper.position("BTCUSDT")
    assert (live.side, live.quantity, live.entry_price) == (Side.SELL, D("0.1"), D(27000))
    stop = await sparky.paper.get_order("BTCUSDT", order_id=short["position"]["stopLossOrderId"])
    assert (stop.status, stop.trigger_price) == (OrderStatus.OPEN, D(27540))


async def test_max_positions_counts_a_resting_entry(start, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"riskManagement": {"maxPositions": 1}}))
    async with start(config_path=config) as sparky:
        await rest_a_buy_limit(sparky)
        refused = await sparky.alert(action="buy", symbol="ETHUSDT", price=2000, position_size_usd=100)
        assert refused.status_code == 429
        assert refused.json()["data"] == {"limitType": "max_positions", "current": 1, "limit": 1}
        assert [(r.symbol, r.kind) for r in sparky.paper.requests] == [("BTCUSDT", OrderKind.LIMIT)]
        # replacing the resting entry opens nothing new: allowed
        assert (await sparky.alert(**{**LIMIT_BUY, "price": 26100})).json()["action"] == "order_placed"
        # cancelling it frees the slot
        assert (await sparky.alert(action="close", symbol="BTCUSDT")).json()["action"] == "cancelled"
        opened = await sparky.alert(action="buy", symbol="ETHUSDT", price=2001, position_size_usd=100)
        assert (opened.status_code, opened.json()["action"]) == (200, "opened")


async def test_a_fill_between_signals_becomes_the_position_the_entry_described(sparky: Sparky) -> None:
    placed = await rest_a_buy_limit(sparky, strategy_id="trend-1")
    await sparky.paper.note_price("BTCUSDT", D(26000))  # fills at 26000; the venue attaches SL and TP
    later = (await sparky.alert(action="buy", symbol="BTCUSDT", price=25995)).json()
    assert later["action"] == "skipped"  # already long
    stored = await sparky.services.store.get_position(LOCAL_USER_ID, "paper", "BTCUSDT")
    assert (stored.side, stored.entry_price, stored.quantity) == ("BUY", D(26000), D("0.1"))
    assert stored.entry_order_id == placed["order"]["orderId"]
    assert (stored.stop_loss_percent, stored.take_profit_percent, stored.strategy_id) == (D(2), D(4), "trend-1")
    stop = await sparky.paper.get_order("BTCUSDT", order_id=stored.stop_loss_order_id)
    assert (stop.kind, stop.trigger_price, stop.status) == (OrderKind.STOP, D(25480), OrderStatus.OPEN)
    assert await sparky.services.store.list_resting_entries() == []


async def test_a_limit_that_filled_and_hit_its_stop_between_signals_is_one_trade(sparky: Sparky) -> None:
    await rest_a_buy_limit(sparky)
    await sparky.paper.note_price("BTCUSDT", D(26000))  # the limit fills at its price, 26000
    await sparky.paper.note_price("BTCUSDT", D(25400))  # its stop (25480) fills at the market, 25400
    assert await sparky.paper.position("BTCUSDT") is None

    body = (await sparky.alert(action="close", symbol="BTCUSDT", price=25500)).json()
    assert body["message"] == "No position to close"
    [trade] = await sparky.services.store.list_trades()
    assert (trade.side, trade.quantity, trade.entry_price, trade.exit_price) == ("BUY", D("0.1"), D(26000), D(25400))
    assert (trade.exit_reason, trade.pnl_usd, trade.stop_loss_percent) == ("STOP_LOSS", D(-60), D(2))
    stop = await sparky.paper.get_order("BTCUSDT", order_id=trade.order_id)
    assert (stop.kind, stop.status) == (OrderKind.STOP, OrderStatus.FILLED)
    assert await sparky.services.store.list_resting_entries() == []
    assert await sparky.services.store.list_positions() == []

    await sparky.alert(action="close", symbol="BTCUSDT", price=25500)
    assert len(await sparky.services.store.list_trades()) == 1  # recorded once


async def test_positions_sync_records_a_resting_entry_that_filled_and_hit_its_target(sparky: Sparky) -> None:
    await rest_a_buy_limit(sparky)
    await sparky.paper.note_price("BTCUSDT", D(26000))  # the limit fills at its price, 26000
    await sparky.paper.note_price("BTCUSDT", D(27100))  # its target (27040) fills at the market, 27100
    synced = (await sparky.admin_post("/positions/sync")).json()
    [closed] = synced["closed"]
    assert (closed["symbol"], closed["exitReason"], closed["exitPrice"]) == ("BTCUSDT", "TAKE_PROFIT", 27100)
    [trade] = await sparky.services.store.list_trades()
    assert (trade.entry_price, trade.exit_price, trade.pnl_usd) == (D(26000), D(27100), D(110))
    assert await sparky.services.store.list_resting_entries() == []


async def test_positions_sync_leaves_a_resting_entry_resting(sparky: Sparky) -> None:
    placed = await rest_a_buy_limit(sparky)
    synced = (await sparky.admin_post("/positions/sync")).json()
    assert (synced["closed"], synced["adopted"], synced["errors"]) == ([], [], [])
    [resting] = await sparky.paper.open_orders("BTCUSDT")
    assert resting.client_order_id == client_order_id(placed["request_id"], "e")
    assert len(await sparky.services.store.list_resting_entries()) == 1


async def test_nothing_is_sent_while_the_resting_entry_cannot_be_cancelled(sparky: Sparky) -> None:
    placed = await rest_a_buy_limit(sparky)
    sparky.paper.fail("cancel_order", error=ExchangeUnavailable("paper: venue unavailable", exchange="paper"))
    response = await sparky.alert(action="sell", symbol="BTCUSDT", price=27000, position_size_usd=2700)
    assert (response.status_code, response.json()["action"]) == (200, "failed")
    assert [r.kind for r in sparky.paper.requests] == [OrderKind.LIMIT]  # no short beside a live buy limit
    [resting] = await sparky.paper.open_orders("BTCUSDT")
    assert resting.client_order_id == client_order_id(placed["request_id"], "e")
    assert len(await sparky.services.store.list_resting_entries()) == 1

    retried = (await sparky.alert(action="sell", symbol="BTCUSDT", price=27001, position_size_usd=2700)).json()
    assert (retried["action"], retried["cancelledEntry"]["status"]) == ("opened", "CANCELED")
