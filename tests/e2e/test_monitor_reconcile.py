"""The reconcile loop through the real app on the paper venue: what happens on the venue between
two signals is recorded within one cycle (driven by calling the loop's `run_once`, no sleeps)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal as D
from typing import Any

from sparky.exchanges.base import OrderKind, OrderRequest, OrderStatus, Side
from sparky.exchanges.errors import ExchangeUnavailable, InvalidOrder
from sparky.signals.auth import LOCAL_USER_ID
from sparky.store.base import StoreUnavailable, utcnow
from tests.conftest import Sparky, make_settings, running

#: 0.1 BTC long at 27000: stop 2 % below (26460), target 4 % above (28080)
BUY = {"action": "buy", "symbol": "BTCUSDT", "price": 27000, "position_size_usd": 2700,
       "stop_loss_percent": 2, "take_profit_percent": 4}


async def open_long(sparky: Sparky) -> dict:
    body = (await sparky.alert(**BUY)).json()
    assert body["action"] == "opened", body
    return body["position"]


async def cycle(sparky: Sparky) -> Any:
    return await sparky.services.reconcile.run_once(every_key=True)


async def test_a_stop_filled_between_signals_is_recorded_within_one_cycle_at_the_stops_fill(sparky: Sparky) -> None:
    position = await open_long(sparky)
    await sparky.paper.note_price("BTCUSDT", D(26400))  # gaps through the stop: it fills at the market
    stop = await sparky.paper.get_order("BTCUSDT", order_id=position["stopLossOrderId"])
    assert stop.status is OrderStatus.FILLED

    done = await cycle(sparky)

    assert (done.closed, done.errors) == (1, [])
    [trade] = await sparky.services.store.list_trades()
    assert (trade.exit_reason, trade.exit_price, trade.order_id, trade.quantity) == (
        "STOP_LOSS", stop.average_price, stop.id, D("0.1"))
    assert trade.pnl_usd == (stop.average_price - D(27000)) * D("0.1")
    assert await sparky.services.store.list_positions() == []
    target = await sparky.paper.get_order("BTCUSDT", order_id=position["takeProfitOrderId"])
    assert target.status is OrderStatus.CANCELED
    assert await sparky.paper.open_orders("BTCUSDT") == []
    assert (await cycle(sparky)).closed == 0  # recorded once


async def test_a_position_opened_outside_sparky_is_adopted_with_its_resting_exits(sparky: Sparky) -> None:
    await sparky.paper.note_price("ETHUSDT", D(2000))
    await sparky.paper.place_order(OrderRequest("ETHUSDT", Side.SELL, OrderKind.MARKET, D("1.5"), "by-hand-1"))
    stop = await sparky.paper.place_order(OrderRequest("ETHUSDT", Side.BUY, OrderKind.STOP, D("1.5"), "by-hand-2",
                                                       trigger_price=D(2100), reduce_only=True))

    done = await cycle(sparky)

    assert done.adopted == 1
    [adopted] = await sparky.services.store.list_positions()
    assert (adopted.user_id, adopted.exchange, adopted.symbol, adopted.side, adopted.quantity) == (
        LOCAL_USER_ID, "paper", "ETHUSDT", "SELL", D("1.5"))
    assert (adopted.stop_loss_order_id, adopted.stop_loss_price) == (stop.id, D(2100))
    assert adopted.notes == "Adopted from the exchange"


async def test_a_stop_cancelled_on_the_venue_is_placed_again_at_its_price(sparky: Sparky) -> None:
    position = await open_long(sparky)
    await sparky.paper.cancel_order("BTCUSDT", position["stopLossOrderId"])

    done = await cycle(sparky)

    assert done.replaced == 1
    [stored] = await sparky.services.store.list_positions()
    assert stored.stop_loss_order_id not in (None, position["stopLossOrderId"])
    new_stop = await sparky.paper.get_order("BTCUSDT", order_id=stored.stop_loss_order_id)
    assert (new_stop.side, new_stop.kind, new_stop.quantity, new_stop.trigger_price, new_stop.reduce_only,
            new_stop.status) == (Side.SELL, OrderKind.STOP, D("0.1"), D(26460), True, OrderStatus.OPEN)
    assert new_stop.client_order_id.endswith("-sl")
    # the target still rests: it is kept, not doubled
    assert stored.take_profit_order_id == position["takeProfitOrderId"]
    assert sorted(o.kind for o in await sparky.paper.open_orders("BTCUSDT")) == [OrderKind.STOP,
                                                                                 OrderKind.TAKE_PROFIT]


async def test_a_position_part_closed_on_the_venue_gets_exits_for_what_is_left_then_the_old_ones_go(
        sparky: Sparky) -> None:
    position = await open_long(sparky)
    await sparky.paper.place_order(OrderRequest("BTCUSDT", Side.SELL, OrderKind.MARKET, D("0.04"), "by-hand-3",
                                                reduce_only=True))

    done = await cycle(sparky)

    assert (done.replaced, done.errors) == (1, [])
    [stored] = await sparky.services.store.list_positions()
    assert stored.quantity == D("0.06")
    assert stored.stop_loss_order_id not in (None, position["stopLossOrderId"])
    assert stored.take_profit_order_id not in (None, position["takeProfitOrderId"])
    resting = {o.id: o for o in await sparky.paper.open_orders("BTCUSDT")}
    assert set(resting) == {stored.stop_loss_order_id, stored.take_profit_order_id}  # the old pair is cancelled
    stop, target = resting[stored.stop_loss_order_id], resting[stored.take_profit_order_id]
    assert (stop.side, stop.kind, stop.quantity, stop.trigger_price, stop.reduce_only) == (
        Side.SELL, OrderKind.STOP, D("0.06"), D(26460), True)
    assert (target.side, target.kind, target.quantity, target.trigger_price, target.reduce_only) == (
        Side.SELL, OrderKind.TAKE_PROFIT, D("0.06"), D(28080), True)
    assert stop.client_order_id.endswith("-sl") and target.client_order_id.endswith("-tp")


async def test_a_stop_that_cannot_be_placed_again_closes_the_position_and_raises_the_alarm(sparky: Sparky) -> None:
    position = await open_long(sparky)
    await sparky.paper.cancel_order("BTCUSDT", position["stopLossOrderId"])
    sparky.paper.fail("stop_loss", times=5, error=InvalidOrder("paper: would trigger immediately"))

    await cycle(sparky)

    assert await sparky.paper.position("BTCUSDT") is None  # closed at market: never left without its stop
    [trade] = await sparky.services.store.list_trades()
    assert trade.exit_reason == "PROTECTION_FAILED"
    assert await sparky.services.store.list_positions() == []


async def test_the_loop_goes_on_past_a_venue_error_and_a_store_outage(sparky: Sparky, monkeypatch) -> None:
    position = await open_long(sparky)
    await sparky.paper.note_price("BTCUSDT", D(26400))
    store = sparky.services.store
    read = store.list_positions

    async def lost(**_: Any) -> Any:
        raise StoreUnavailable("database lost")

    monkeypatch.setattr(store, "list_positions", lost)
    assert (await cycle(sparky)).errors == ["store"]  # skipped, nothing raised
    monkeypatch.setattr(store, "list_positions", read)

    sparky.paper.fail("get_order", times=1, error=ExchangeUnavailable("paper: down"))
    failed = await cycle(sparky)
    assert failed.errors == [f"{LOCAL_USER_ID}/paper/BTCUSDT"]
    done = await cycle(sparky)  # the next cycle records it
    assert (done.closed, done.errors) == (1, [])
    [trade] = await store.list_trades()
    assert (trade.exit_reason, trade.order_id) == ("STOP_LOSS", position["stopLossOrderId"])


async def test_a_webhook_arriving_while_the_loop_holds_the_key_waits_and_sees_its_result(sparky: Sparky) -> None:
    await open_long(sparky)
    await sparky.paper.note_price("BTCUSDT", D(26400))  # the stop filled on the venue
    venue_answers = asyncio.Event()
    looking = asyncio.Event()
    read_position = sparky.paper.position

    async def slow_position(symbol: str) -> Any:  # the venue takes its time answering the loop
        looking.set()
        await venue_answers.wait()
        return await read_position(symbol)

    sparky.paper.position = slow_position  # type: ignore[method-assign]
    loop_pass = asyncio.create_task(cycle(sparky))
    await asyncio.wait_for(looking.wait(), 10)  # a bounded wait for the loop to hold the key
    sparky.paper.position = read_position  # type: ignore[method-assign]
    webhook = asyncio.create_task(sparky.alert(action="close", symbol="BTCUSDT", price=26400))
    async def queued() -> None:  # the webhook recorded (a durable commit) and queued behind the loop
        while not sparky.services.dispatcher.in_flight:
            await asyncio.sleep(0.001)

    await asyncio.wait_for(queued(), 10)  # bounded in time, not in loop turns: a commit may take a while
    assert sparky.services.dispatcher.in_flight == 1 and not webhook.done()  # it waits for the key
    [pending] = await sparky.services.store.pending_webhook_requests()
    assert pending.status.value == "pending"
    venue_answers.set()
    assert (await loop_pass).closed == 1
    answer = (await webhook).json()
    assert answer["action"] == "skipped" and answer["message"] == "No position to close", answer
    [trade] = await sparky.services.store.list_trades()  # one close, recorded once
    assert trade.exit_reason == "STOP_LOSS"


async def test_an_unfilled_limit_entry_expires_after_limit_order_ttl(data_dir) -> None:
    now = [utcnow()]
    async with running(make_settings(data_dir, limit_order_ttl=60), clock=lambda: now[0]) as sparky:
        await sparky.paper.note_price("BTCUSDT", D(27000))
        placed = (await sparky.alert(action="buy", symbol="BTCUSDT", order_type="limit", price=26000,
                                     position_size_usd=2600, stop_loss_percent=2)).json()
        assert placed["action"] == "order_placed"
        now[0] += timedelta(seconds=59)
        assert (await cycle(sparky)).expired == 0
        now[0] += timedelta(seconds=2)
        assert (await cycle(sparky)).expired == 1
        assert await sparky.services.store.list_resting_entries() == []
        order = await sparky.paper.get_order("BTCUSDT", order_id=placed["order"]["orderId"])
        assert order.status is OrderStatus.CANCELED
        assert await sparky.services.store.list_positions() == []


async def test_a_position_partly_closed_by_hand_keeps_exits_for_what_is_left(sparky: Sparky) -> None:
    position = await open_long(sparky)
    await sparky.paper.note_price("BTCUSDT", D(27100))
    await sparky.paper.place_order(OrderRequest("BTCUSDT", Side.SELL, OrderKind.MARKET, D("0.04"), "by-hand",
                                                reduce_only=True))

    await cycle(sparky)

    [trade] = await sparky.services.store.list_trades()
    assert (trade.exit_reason, trade.quantity) == ("PARTIAL_CLOSE", D("0.04"))
    [stored] = await sparky.services.store.list_positions()
    assert stored.quantity == D("0.06")
    resting = sorted(await sparky.paper.open_orders("BTCUSDT"), key=lambda o: o.kind.value)
    assert [(o.kind, o.side, o.quantity, o.trigger_price, o.reduce_only) for o in resting] == [
        (OrderKind.STOP, Side.SELL, D("0.06"), D(26460), True),
        (OrderKind.TAKE_PROFIT, Side.SELL, D("0.06"), D(28080), True)]
    assert {stored.stop_loss_order_id, stored.take_profit_order_id} == {o.id for o in resting}
    for old in (position["stopLossOrderId"], position["takeProfitOrderId"]):
        assert (await sparky.paper.get_order("BTCUSDT", order_id=old)).status is OrderStatus.CANCELED


async def test_keys_with_an_order_in_flight_are_looked_at_often_the_others_every_slow_period(data_dir) -> None:
    seconds = [1000.0]
    settings = make_settings(data_dir, reconcile_fast_sec=10, reconcile_slow_sec=120)
    async with running(settings, monotonic=lambda: seconds[0]) as sparky:
        await open_long(sparky)  # protected: the slow cadence
        await sparky.paper.note_price("ETHUSDT", D(2000))
        placed = (await sparky.alert(action="buy", symbol="ETHUSDT", order_type="limit", price=1900,
                                     position_size_usd=1900, stop_loss_percent=2)).json()
        assert placed["action"] == "order_placed"  # in flight: the fast cadence
        loop = sparky.services.reconcile

        assert (await loop.run_once()).checked == 2  # the first pass looks at everything
        seconds[0] += 9
        assert (await loop.run_once()).checked == 0
        seconds[0] += 1
        assert (await loop.run_once()).checked == 1  # the resting entry only
        seconds[0] += 110
        assert (await loop.run_once()).checked == 2
