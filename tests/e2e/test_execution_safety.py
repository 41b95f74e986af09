"""No position left without its stop, no signal lost to a clean-up step, no completed close reported
failed: entries that break after they may have filled, emergency closes in the trouble that caused
them, and exits that will not cancel."""

from __future__ import annotations

from decimal import Decimal as D

from structlog.testing import capture_logs

from sparky.exchanges.base import OrderKind, OrderRequest, OrderStatus, Side
from sparky.exchanges.errors import ExchangeUnavailable, InvalidOrder, OutcomeUnknown, RateLimited
from sparky.execution.orders import client_order_id
from sparky.signals.auth import LOCAL_USER_ID
from sparky.store.base import RequestStatus
from tests.conftest import Sparky
from tests.doubles import (
    CloseReplyUnreadable,
    FillWithoutPrice,
    LegHeldAsOrder,
    ThrottledAfterTheStop,
    UnreadableExitReply,
    install,
)
from tests.e2e.test_multi_tenant import ALICE, add_user, post

LONG = {"action": "buy", "symbol": "BTCUSDT", "price": 27000, "position_size_usd": 2700,
        "stop_loss_percent": 2, "take_profit_percent": 4}
SL, TP = D("26460.0"), D("28080.0")  # 27000 ∓ 2 %, 4 %


def cid(request_id: str, role: str) -> str:
    return client_order_id(request_id, role)


def entry(rid: str) -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.1"), cid(rid, "e"))


def emergency_close(rid: str) -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.SELL, OrderKind.MARKET, D("0.1"), cid(rid, "f"), reduce_only=True)


def exit_pair(rid: str) -> list[OrderRequest]:
    return [OrderRequest("BTCUSDT", Side.SELL, OrderKind.STOP, D("0.1"), cid(rid, "sl"), trigger_price=SL,
                         reduce_only=True),
            OrderRequest("BTCUSDT", Side.SELL, OrderKind.TAKE_PROFIT, D("0.1"), cid(rid, "tp"), trigger_price=TP,
                         reduce_only=True)]


async def assert_flattened(sparky: Sparky, rid: str) -> None:
    """Closed at market by the emergency path: flat on the venue, one trade, no position row."""
    assert await sparky.paper.position("BTCUSDT") is None
    assert await sparky.paper.open_orders("BTCUSDT") == []
    [trade] = await sparky.services.store.list_trades()
    assert (trade.side, trade.quantity, trade.exit_reason) == ("BUY", D("0.1"), "PROTECTION_FAILED")
    assert await sparky.services.store.get_position(LOCAL_USER_ID, "paper", "BTCUSDT") is None
    row = await sparky.services.store.get_webhook_request(rid)
    assert row.status is RequestStatus.FAILED


# --- an entry that breaks after it may have filled -------------------------------------------------
async def test_a_fill_reported_without_its_price_is_protected_at_the_position_price(start) -> None:
    async with start(paper_attached_brackets=False) as sparky:
        install(sparky, FillWithoutPrice)
        response = await sparky.alert(**LONG)
        body = response.json()
        rid = body["request_id"]
        assert response.status_code == 200
        assert body["success"] is True and body["action"] == "opened"
        assert body["position"]["entryPrice"] == 27000
        assert (body["position"]["stopLossPrice"], body["position"]["takeProfitPrice"]) == (26460, 28080)
        assert sparky.paper.requests == [entry(rid), *exit_pair(rid)]
        stored = await sparky.services.store.get_position(LOCAL_USER_ID, "paper", "BTCUSDT")
        assert (stored.entry_price, stored.quantity, stored.stop_loss_price) == (D(27000), D("0.1"), SL)
        stop = await sparky.paper.get_order("BTCUSDT", client_order_id=cid(rid, "sl"))
        assert stop.status is OrderStatus.OPEN


async def test_an_unexpected_error_while_protecting_a_filled_entry_closes_it(start) -> None:
    async with start(paper_attached_brackets=False) as sparky:
        install(sparky, UnreadableExitReply)
        response = await sparky.alert(**LONG)
        body = response.json()
        rid = body["request_id"]
        assert response.status_code == 200
        assert body["success"] is False and body["action"] == "protection_failed"
        assert body["error"] == ("Stop-loss could not be placed (KeyError: 'orderId'); position closed at market")
        assert body["pnl"] == {"usd": 0, "percent": 0}
        assert sparky.paper.requests == [entry(rid), *exit_pair(rid), emergency_close(rid)]
        await assert_flattened(sparky, rid)


async def test_an_entry_whose_outcome_stays_unknown_but_filled_is_closed(start) -> None:
    async with start(paper_attached_brackets=False) as sparky:
        # the entry reaches the venue and fills, the answer is lost, and so is the look-up's
        sparky.paper.fail("place_order", error=OutcomeUnknown("paper: no answer"), applied=True)
        sparky.paper.fail("get_order", error=ExchangeUnavailable("paper: down"))
        response = await sparky.alert(**LONG)
        body = response.json()
        rid = body["request_id"]
        assert response.status_code == 200
        assert body["success"] is False and body["action"] == "protection_failed"
        assert body["error"].startswith("paper: the entry's outcome is unknown (paper: no answer; the look-up")
        assert body["error"].endswith("position closed at market")
        assert sparky.paper.requests == [entry(rid), emergency_close(rid)]
        await assert_flattened(sparky, rid)


# --- the emergency close in the trouble that caused it ---------------------------------------------
async def test_the_emergency_close_goes_through_while_reads_and_cancels_are_still_refused(start) -> None:
    async with start(paper_attached_brackets=False) as sparky:
        venue = install(sparky, ThrottledAfterTheStop, refusals=8)
        with capture_logs() as logs:
            response = await sparky.alert(**LONG)
        body = response.json()
        rid = body["request_id"]
        assert response.status_code == 200
        assert body["success"] is False and body["action"] == "protection_failed"
        assert body["error"] == ("Stop-loss could not be placed (RateLimited: paper: too many requests); "
                                 "position closed at market")
        # the stop was tried three times (each retry's look-up refused); then this request's order
        # look-ups and the position read were refused, so what the entry filled was closed; the
        # close was confirmed on the third read
        assert sparky.paper.requests == [entry(rid), *exit_pair(rid), emergency_close(rid)]
        assert venue.refused == ["get_order"] * 5 + ["position"] * 3
        await assert_flattened(sparky, rid)
        assert "position.unprotected" not in [e["event"] for e in logs]


async def test_an_emergency_close_that_fails_raises_the_unprotected_alarm(start) -> None:
    async with start(paper_attached_brackets=False) as sparky:
        install(sparky, CloseReplyUnreadable)
        sparky.paper.fail("stop_loss", error=InvalidOrder("paper: would trigger immediately"))
        with capture_logs() as logs:
            response = await sparky.alert(**{k: v for k, v in LONG.items() if k != "take_profit_percent"})
        body = response.json()
        rid = body["request_id"]
        assert response.status_code == 200
        assert body["success"] is False and body["action"] == "protection_failed"
        assert body["error"] == (
            "UNPROTECTED POSITION: stop-loss could not be placed (InvalidOrder: paper: would trigger immediately) "
            "and the emergency close failed (ValueError: unreadable reply). Close BTCUSDT on paper by hand.")
        assert sparky.paper.requests == [
            entry(rid), exit_pair(rid)[0], emergency_close(rid)]
        assert (await sparky.paper.position("BTCUSDT")).quantity == D("0.1")  # still open: hence the alarm
        [alarm] = [e for e in logs if e["event"] == "position.unprotected"]
        assert alarm["log_level"] == "critical" and alarm["symbol"] == "BTCUSDT"
        row = await sparky.services.store.get_webhook_request(rid)
        assert row.status is RequestStatus.FAILED and row.error_message.startswith("UNPROTECTED POSITION")


async def test_the_user_is_told_of_an_unprotected_position_even_with_failure_notices_off(start) -> None:
    async with start(paper_attached_brackets=False) as sparky:
        await add_user(sparky, ALICE)
        await sparky.services.secrets.refresh()
        await sparky.services.store.set_notification_preferences(ALICE, {"notify_trade_failed": False})
        paper = await sparky.services.accounts.get(ALICE, "paper")
        # the entry fills (its answer lost, then found by the look-up); the stop is refused; and so
        # is the emergency close
        paper.fail("place_order", times=2, applied=True, error=OutcomeUnknown("paper: no answer"))
        paper.fail("place_order", error=ExchangeUnavailable("paper: down"))
        paper.fail("stop_loss", error=InvalidOrder("paper: would trigger immediately"))
        result = await post(sparky, ALICE, action="buy", position_size_usd=2700, stop_loss_percent=2)
        assert result["status"] == 200 and result["action"] == "protection_failed"
        assert result["error"].startswith("UNPROTECTED POSITION: stop-loss could not be placed (InvalidOrder")
        assert (await paper.position("BTCUSDT")).quantity == D("0.1")
        await sparky.services.notifier.drain()
        [notice] = await sparky.services.store.list_notifications(ALICE)
        assert (notice.type, notice.title, notice.message) == ("error", "UNPROTECTED POSITION on BTCUSDT",
                                                               result["error"])
        assert notice.metadata["event"] == "position_unprotected"


# --- cancels after a close -------------------------------------------------------------------------
async def test_a_close_whose_exit_cancels_are_refused_is_still_reported_closed(sparky: Sparky) -> None:
    opened = (await sparky.alert(**LONG)).json()
    sl_id, tp_id = opened["position"]["stopLossOrderId"], opened["position"]["takeProfitOrderId"]
    sparky.paper.fail("cancel_order", times=2, error=RateLimited("paper: too many requests"))
    response = await sparky.alert(action="close", symbol="BTCUSDT", price=27270)
    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True and body["action"] == "closed"
    assert body["pnl"] == {"usd": 27, "percent": 1}
    assert body["warning"] == (f"Exit orders {sl_id}, {tp_id} on BTCUSDT could not be cancelled; Sparky cancels "
                               "them on the next signal for this symbol, before any new entry")
    assert sparky.paper.requests[-1] == OrderRequest("BTCUSDT", Side.SELL, OrderKind.MARKET, D("0.1"),
                                                     cid(body["request_id"], "x"), reduce_only=True)
    [trade] = await sparky.services.store.list_trades()
    assert (trade.exit_reason, trade.exit_price, trade.pnl_usd) == ("MANUAL", D(27270), D(27))
    assert await sparky.services.store.get_position(LOCAL_USER_ID, "paper", "BTCUSDT") is None
    row = await sparky.services.store.get_webhook_request(body["request_id"])
    assert row.status is RequestStatus.SUCCESS


async def test_a_reversal_whose_old_exits_will_not_cancel_still_opens_the_new_side(start) -> None:
    async with start(paper_attached_brackets=False) as sparky:
        await sparky.alert(**LONG)
        sparky.paper.fail("cancel_order", times=2, error=RateLimited("paper: too many requests"))
        response = await sparky.alert(action="sell", symbol="BTCUSDT", price=26730, position_size_usd=2673,
                                      stop_loss_percent=2, take_profit_percent=4)
        body = response.json()
        rid = body["request_id"]
        assert response.status_code == 200
        assert body["success"] is True and body["action"] == "reversed"
        assert body["reversed"]["pnl"] == {"usd": -27, "percent": -1}
        assert "could not be cancelled" in body["reversed"]["warning"]
        assert sparky.paper.requests[3:] == [
            OrderRequest("BTCUSDT", Side.SELL, OrderKind.MARKET, D("0.1"), cid(rid, "rx"), reduce_only=True),
            OrderRequest("BTCUSDT", Side.SELL, OrderKind.MARKET, D("0.1"), cid(rid, "e")),
            OrderRequest("BTCUSDT", Side.BUY, OrderKind.STOP, D("0.1"), cid(rid, "sl"),
                         trigger_price=D("27264.6"), reduce_only=True),
            OrderRequest("BTCUSDT", Side.BUY, OrderKind.TAKE_PROFIT, D("0.1"), cid(rid, "tp"),
                         trigger_price=D("25660.8"), reduce_only=True),
        ]
        live = await sparky.paper.position("BTCUSDT")
        assert (live.side, live.quantity) == (Side.SELL, D("0.1"))
        stored = await sparky.services.store.get_position(LOCAL_USER_ID, "paper", "BTCUSDT")
        assert stored.side == "SELL" and stored.stop_loss_price == D("27264.6")


async def test_a_stop_hit_on_the_venue_whose_survivor_will_not_cancel_does_not_lose_the_next_signal(
        sparky: Sparky) -> None:
    await sparky.alert(**LONG)
    await sparky.paper.note_price("BTCUSDT", D(26400))  # the stop fills on the venue between signals
    sparky.paper.fail("cancel_order", times=2, error=RateLimited("paper: too many requests"))
    response = await sparky.alert(**{**LONG, "price": 26500, "position_size_usd": 2650})
    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True and body["action"] == "opened"
    assert sparky.paper.requests[-1].client_order_id == cid(body["request_id"], "e")
    trades = await sparky.services.store.list_trades()
    assert [(t.exit_reason, t.exit_price) for t in trades] == [("STOP_LOSS", D(26400))]
    assert (await sparky.paper.position("BTCUSDT")).quantity == D("0.1")


async def test_a_flat_symbols_reduce_only_orders_are_left_alone_while_an_entry_rests(sparky: Sparky) -> None:
    venue = install(sparky, LegHeldAsOrder)
    await sparky.paper.note_price("BTCUSDT", D(27000))
    # a limit entry Sparky did not place (one it places is recorded, and the next signal cancels it)
    placed = await venue.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.LIMIT, D("0.1"), "by-hand-1",
                                                  price=D(26000)))
    assert placed.status is OrderStatus.OPEN
    assert len(await venue.open_orders("BTCUSDT")) == 2  # the entry and its stop-loss leg
    # flat, but an entry rests: the reduce-only stop beside it may be that entry's own protection
    body = (await sparky.alert(action="close", symbol="BTCUSDT", price=27000)).json()
    assert body["message"] == "No position to close" and "warning" not in body
    assert venue.cancelled == []
    entry_order = await sparky.paper.get_order("BTCUSDT", order_id=placed.id)
    assert entry_order.status is OrderStatus.OPEN
