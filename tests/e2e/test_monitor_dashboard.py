"""What a user of the dashboard sees when the reconcile loop finds a position the venue closed or left
without its stop, on both stores: the trade, the strategy's counters, and the notification (as the
user's preferences allow)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from sparky.exchanges.base import OrderKind, OrderRequest, Side
from sparky.exchanges.errors import ExchangeUnavailable, InvalidOrder
from tests.e2e.test_dashboard_records import ALICE, Dashboard, dashboard  # noqa: F401 — its fixture, on both stores


@pytest.fixture
def board(dashboard: Dashboard) -> Dashboard:  # noqa: F811
    return dashboard


async def cycle(board: Dashboard) -> None:
    await board.server.services.reconcile.run_once(every_key=True)


@pytest.mark.parametrize(("price", "title", "kind", "pnl", "counters"), [
    (27540, "Take Profit hit on BTCUSDT", "success", 54.0, (1, 1)),  # the take-profit at 2 %
    (26460, "Stop Loss hit on BTCUSDT", "warning", -54.0, (1, 0)),   # the stop at 2 %
])
async def test_an_exit_filled_between_signals_is_recorded_counted_and_notified_within_one_cycle(
        board: Dashboard, price: int, title: str, kind: str, pnl: float, counters: tuple[int, int]) -> None:
    await board.alert(action="buy", strategy="Breakout", position_size_usd=2700, stop_loss_percent=2,
                          take_profit_percent=2)
    paper = await board.server.services.accounts.get(ALICE, "paper")
    await paper.note_price("BTCUSDT", D(price))

    await cycle(board)

    [trade] = await board.server.services.store.list_trades(user_id=ALICE)
    assert (trade.exit_price, trade.strategy_id) == (D(price), board.strategy_id)
    assert board.counters() == counters
    exits = [n for n in await board.notifications() if n.title == title]
    assert [(n.type, n.metadata["pnl"], n.metadata["event"]) for n in exits] == [
        (kind, pnl, "stop_loss_triggered" if kind == "warning" else "take_profit_triggered")]


async def test_a_position_closed_by_hand_on_the_venue_is_notified_as_closed(board: Dashboard) -> None:
    await board.alert(action="buy", position_size_usd=2700, stop_loss_percent=2)
    paper = await board.server.services.accounts.get(ALICE, "paper")
    await paper.note_price("BTCUSDT", D(27270))
    for order in await paper.open_orders("BTCUSDT"):  # closed by hand: its stop cancelled, a market sell
        await paper.cancel_order("BTCUSDT", order.id)
    await paper.place_order(OrderRequest("BTCUSDT", Side.SELL, OrderKind.MARKET, D("0.1"), "by-hand",
                                         reduce_only=True))

    await cycle(board)

    [trade] = await board.server.services.store.list_trades(user_id=ALICE)
    assert trade.exit_reason == "MANUAL"
    [closed] = [n for n in await board.notifications() if n.metadata.get("event") == "position_closed_profit"]
    assert (closed.type, closed.title, closed.metadata["pnl"]) == ("success", "BTCUSDT closed on paper", 27.0)


async def test_a_stop_hit_is_not_notified_when_the_user_switched_it_off(board: Dashboard) -> None:
    store = board.server.services.store
    await store.set_notification_preferences(ALICE, {"notify_stop_loss_triggered": False})
    await board.alert(action="buy", position_size_usd=2700, stop_loss_percent=2)
    paper = await board.server.services.accounts.get(ALICE, "paper")
    await paper.note_price("BTCUSDT", D(26460))

    await cycle(board)

    assert len(await store.list_trades(user_id=ALICE)) == 1
    assert [n for n in await board.notifications() if n.metadata.get("event") == "stop_loss_triggered"] == []


async def test_a_stop_that_cannot_be_put_back_nor_the_position_closed_raises_the_alarm(board: Dashboard) -> None:
    store = board.server.services.store
    await store.set_notification_preferences(ALICE, {"notify_trade_failed": False})  # an alarm is always sent
    opened = await board.alert(action="buy", position_size_usd=2700, stop_loss_percent=2)
    paper = await board.server.services.accounts.get(ALICE, "paper")
    await paper.cancel_order("BTCUSDT", opened["position"]["stopLossOrderId"])
    paper.fail("place_order", times=10, error=ExchangeUnavailable("paper: down"))  # the stop, then the close

    await cycle(board)

    assert (await paper.position("BTCUSDT")).quantity == D("0.1")  # still open: hence the alarm
    [alarm] = [n for n in await board.notifications() if n.metadata.get("event") == "position_unprotected"]
    assert (alarm.type, alarm.title) == ("error", "UNPROTECTED POSITION on BTCUSDT")
    assert alarm.message == ("UNPROTECTED POSITION: the stop-loss of BTCUSDT was gone from paper and could not be "
                             "placed again (ExchangeUnavailable: paper: down) and the emergency close failed "
                             "(ExchangeUnavailable: paper: down). Close BTCUSDT on paper by hand.")


async def test_a_stop_that_cannot_be_put_back_closes_the_position_and_tells_the_user(board: Dashboard) -> None:
    opened = await board.alert(action="buy", position_size_usd=2700, stop_loss_percent=2)
    paper = await board.server.services.accounts.get(ALICE, "paper")
    await paper.cancel_order("BTCUSDT", opened["position"]["stopLossOrderId"])
    paper.fail("stop_loss", times=5, error=InvalidOrder("paper: would trigger immediately"))

    await cycle(board)

    assert await paper.position("BTCUSDT") is None
    [trade] = await board.server.services.store.list_trades(user_id=ALICE)
    assert trade.exit_reason == "PROTECTION_FAILED"
    [alarm] = [n for n in await board.notifications() if n.metadata.get("event") == "position_unprotected"]
    assert (alarm.type, alarm.title) == ("error", "BTCUSDT closed: its stop-loss could not be placed again")
    assert alarm.message == ("The stop-loss of BTCUSDT was gone from paper and could not be placed again "
                             "(InvalidOrder: paper: would trigger immediately); position closed at market")


async def test_a_position_opened_by_hand_without_a_stop_raises_the_alarm_once(board: Dashboard) -> None:
    await board.alert(action="buy", position_size_usd=2700, stop_loss_percent=2)  # Sparky knows the account
    paper = await board.server.services.accounts.get(ALICE, "paper")
    await paper.note_price("ETHUSDT", D(2000))
    await paper.place_order(OrderRequest("ETHUSDT", Side.SELL, OrderKind.MARKET, D("1.5"), "by-hand"))

    await cycle(board)
    await cycle(board)  # adopted once, told once

    [adopted] = [p for p in await board.server.services.store.list_positions() if p.symbol == "ETHUSDT"]
    assert (adopted.side, adopted.quantity, adopted.stop_loss_price) == ("SELL", D("1.5"), None)
    alarms = [n for n in await board.notifications() if n.metadata.get("event") == "position_unprotected"]
    assert [(n.title, n.metadata["symbol"], n.metadata["exchange"]) for n in alarms] == [
        ("UNPROTECTED POSITION on ETHUSDT", "ETHUSDT", "paper")]
    assert "short 1.5 ETHUSDT on paper was opened outside Sparky" in alarms[0].message
