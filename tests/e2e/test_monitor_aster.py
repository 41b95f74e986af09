"""The reconcile loop on Aster (no OCO, no attached brackets) through the real app, the venue
scripted at the HTTP layer: what a user sees between two signals, and the exact orders sent."""

from __future__ import annotations

import json
from decimal import Decimal as D
from urllib.parse import parse_qsl

from sparky.exchanges.base import OrderKind, Side
from sparky.execution.orders import client_order_id
from tests.conftest import SECRET as WEBHOOK_SECRET
from tests.conftest import Sparky
from tests.support import on_aster
from tests.unit.exchanges.aster.test_aster import FakeAster


async def alert(sparky: Sparky, venue: FakeAster, price: str, **fields) -> dict:
    venue.price = venue.fill_price = D(price)
    body = {"secret": WEBHOOK_SECRET, "exchange": "aster", "symbol": "BTCUSDT", "action": "buy", "price": price,
            "position_size_usd": 270, "stop_loss_percent": 2, "take_profit_percent": 4, **fields}
    response = await sparky.client.post("/webhook", json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == 200, response.text
    return response.json()


def cancelled_ids(venue: FakeAster) -> set[str]:
    """Order ids the venue was asked to cancel, one by one or in a batch."""
    one = {dict(parse_qsl(r.url.query.decode()))["orderId"] for r in venue.requests_to("DELETE", "/fapi/v1/order")}
    batches = [json.loads(dict(parse_qsl(r.url.query.decode()))["orderIdList"])
               for r in venue.requests_to("DELETE", "/fapi/v1/batchOrders")]
    return one | {str(i) for batch in batches for i in batch}


def order(venue: FakeAster, order_id: str) -> dict:
    return next(o for o in venue.orders if str(o["orderId"]) == order_id)


async def test_a_stop_filled_between_signals_is_recorded_and_its_target_cancelled_within_one_cycle(
        start, tmp_path) -> None:
    async with on_aster(start, tmp_path) as (sparky, venue):
        position = (await alert(sparky, venue, "27000"))["position"]
        venue.fill_price = D("26455.5")  # the stop at 26460 filled a little lower
        venue._complete(order(venue, position["stopLossOrderId"]))
        venue.received.clear()

        done = await sparky.services.reconcile.run_once(every_key=True)

        assert (done.closed, done.errors) == (1, [])
        [trade] = await sparky.services.store.list_trades()
        assert (trade.exit_reason, trade.exit_price, trade.order_id, trade.quantity) == (
            "STOP_LOSS", D("26455.5"), position["stopLossOrderId"], D("0.010"))
        assert await sparky.services.store.list_positions() == []
        # the surviving take-profit (Aster has no OCO) is cancelled by its id; nothing else is touched
        cancels = cancelled_ids(venue)
        assert position["takeProfitOrderId"] in cancels
        assert cancels <= {position["takeProfitOrderId"], position["stopLossOrderId"]}
        assert order(venue, position["takeProfitOrderId"])["status"] == "CANCELED"
        assert venue.sent_orders() == []  # never a new order for a close the venue made


async def test_a_stop_not_found_once_is_left_alone_and_three_times_is_placed_again(start, tmp_path) -> None:
    async with on_aster(start, tmp_path) as (sparky, venue):
        position = (await alert(sparky, venue, "27000"))["position"]
        venue.orders.remove(order(venue, position["stopLossOrderId"]))  # the venue no longer knows it
        loop = sparky.services.reconcile
        venue.received.clear()

        await loop.run_once(every_key=True)
        await loop.run_once(every_key=True)
        assert venue.sent_orders() == []  # "not found" is not proof yet
        [stored] = await sparky.services.store.list_positions()
        assert stored.stop_loss_order_id == position["stopLossOrderId"]

        done = await loop.run_once(every_key=True)

        assert done.replaced == 1
        [sent] = venue.sent_orders()
        assert (sent.side, sent.kind, sent.quantity, sent.trigger_price, sent.reduce_only) == (
            Side.SELL, OrderKind.STOP, D("0.010"), D("26460.0"), True)
        assert sent.client_order_id.startswith("sp") and sent.client_order_id.endswith("-sl")
        [stored] = await sparky.services.store.list_positions()
        assert stored.stop_loss_order_id == str(venue.orders[-1]["orderId"])
        assert stored.take_profit_order_id == position["takeProfitOrderId"]  # it still rests: kept


async def test_a_limit_entry_on_aster_rests_and_gets_its_stop_and_target_when_it_fills(start, tmp_path) -> None:
    async with on_aster(start, tmp_path) as (sparky, venue):
        venue.received.clear()
        placed = await alert(sparky, venue, "26000", order_type="limit")
        assert placed["action"] == "order_placed", placed
        [entry] = venue.sent_orders()  # the limit alone: Aster attaches no bracket
        request_id = placed["request_id"]
        assert (entry.side, entry.kind, entry.quantity, entry.price, entry.reduce_only, entry.client_order_id) == (
            Side.BUY, OrderKind.LIMIT, D("0.010"), D("26000"), False, client_order_id(request_id, "e"))

        venue.received.clear()
        await sparky.services.reconcile.run_once(every_key=True)
        assert venue.sent_orders() == []  # still resting: nothing to protect yet

        venue.fill_price = D(26000)
        venue._complete(order(venue, placed["order"]["orderId"]))
        done = await sparky.services.reconcile.run_once(every_key=True)

        assert done.errors == []
        sent = venue.sent_orders()
        assert [(o.side, o.kind, o.quantity, o.trigger_price, o.reduce_only, o.client_order_id) for o in sent] == [
            (Side.SELL, OrderKind.STOP, D("0.010"), D("25480.0"), True, client_order_id(request_id, "sl")),
            (Side.SELL, OrderKind.TAKE_PROFIT, D("0.010"), D("27040.0"), True, client_order_id(request_id, "tp")),
        ]
        [position] = await sparky.services.store.list_positions()
        assert (position.side, position.quantity, position.entry_price) == ("BUY", D("0.010"), D(26000))
        assert (position.stop_loss_price, position.take_profit_price) == (D("25480.0"), D("27040.0"))
        resting = {str(o["orderId"]) for o in venue.orders if o["status"] == "NEW"}
        assert resting == {position.stop_loss_order_id, position.take_profit_order_id}
        assert await sparky.services.store.list_resting_entries() == []
        venue.received.clear()
        await sparky.services.reconcile.run_once(every_key=True)
        assert venue.sent_orders() == []  # protected once


async def test_a_partly_filled_limit_entry_is_protected_for_what_filled(start, tmp_path) -> None:
    async with on_aster(start, tmp_path) as (sparky, venue):
        placed = await alert(sparky, venue, "26000", order_type="limit", take_profit_percent=None)
        limit = order(venue, placed["order"]["orderId"])
        venue.fill_price = D(26000)
        limit.update(status="PARTIALLY_FILLED", executedQty="0.004", cumQty="0.004", avgPrice="26000",
                     cumQuote="104")
        venue._fill(limit, D("0.004"))
        venue.received.clear()

        await sparky.services.reconcile.run_once(every_key=True)

        [stop] = venue.sent_orders()
        assert (stop.side, stop.kind, stop.quantity, stop.trigger_price, stop.reduce_only) == (
            Side.SELL, OrderKind.STOP, D("0.004"), D("25480.0"), True)
        [position] = await sparky.services.store.list_positions()
        assert position.quantity == D("0.004") and position.stop_loss_order_id == str(venue.orders[-1]["orderId"])
        [still] = await sparky.services.store.list_resting_entries()  # the rest may still fill
        assert still.client_order_id == limit["clientOrderId"]

        # the rest fills: the exits follow the position (the new stop first, then the old one cancelled)
        old_stop = position.stop_loss_order_id
        limit.update(status="FILLED", executedQty="0.010", cumQty="0.010", cumQuote="260")
        venue._fill(limit, D("0.006"))
        venue.received.clear()
        await sparky.services.reconcile.run_once(every_key=True)
        [position] = await sparky.services.store.list_positions()
        assert position.quantity == D("0.010")
        [stop] = venue.sent_orders()
        assert (stop.side, stop.kind, stop.quantity, stop.trigger_price) == (
            Side.SELL, OrderKind.STOP, D("0.010"), D("25480.0"))
        assert order(venue, old_stop)["status"] == "CANCELED"
        assert [str(o["orderId"]) for o in venue.orders if o["status"] == "NEW"] == [position.stop_loss_order_id]
        assert await sparky.services.store.list_resting_entries() == []


async def test_a_venue_that_errors_does_not_stop_the_other_keys_from_being_reconciled(start, tmp_path) -> None:
    async with on_aster(start, tmp_path) as (sparky, venue):
        aster = (await alert(sparky, venue, "27000"))["position"]
        paper = (await sparky.client.post("/webhook", json={
            "secret": WEBHOOK_SECRET, "exchange": "paper", "symbol": "ETHUSDT", "action": "buy", "price": 2000,
            "position_size_usd": 2000, "stop_loss_percent": 2})).json()["position"]
        await sparky.paper.note_price("ETHUSDT", D(1900))  # the paper stop fills
        venue.routes = {key: (lambda params: venue.error("too_many_requests", 429)) for key in venue.routes}

        done = await sparky.services.reconcile.run_once(every_key=True)

        [trade] = await sparky.services.store.list_trades()
        assert (trade.exchange, trade.exit_reason, trade.order_id) == ("paper", "STOP_LOSS", paper["stopLossOrderId"])
        assert done.errors  # Aster's account is reported, and looked at again on the next pass
        [kept] = await sparky.services.store.list_positions()
        assert (kept.exchange, kept.stop_loss_order_id) == ("aster", aster["stopLossOrderId"])
