"""Duplicates, concurrency, stop-loss failure, crash recovery and persistence across restarts."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal as D

from sparky.exchanges.base import OrderKind, OrderRequest, Side
from sparky.exchanges.errors import InvalidOrder, OutcomeUnknown
from sparky.execution.orders import client_order_id
from sparky.signals.auth import LOCAL_USER_ID
from sparky.signals.models import Signal
from sparky.store.base import RequestStatus, WebhookRequestRecord, utcnow
from tests.conftest import Sparky


async def test_same_alert_id_twice_executes_once(sparky: Sparky) -> None:
    first = await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, alert_id="tv-42")
    second = await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, alert_id="tv-42")
    assert first.json()["action"] == "opened"
    assert second.status_code == 200
    assert second.json()["action"] == "duplicate"
    assert second.json()["duplicate_of"] == first.json()["request_id"]
    assert [r.kind for r in sparky.paper.requests].count(OrderKind.MARKET) == 1
    row = await sparky.services.store.get_webhook_request(second.json()["request_id"])
    assert row.status is RequestStatus.DUPLICATE


async def test_alert_id_stays_a_duplicate_after_a_restart(start) -> None:
    async with start() as sparky:
        await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, idempotency_key="k-1")
    async with start() as sparky:
        body = (await sparky.alert(action="sell", symbol="BTCUSDT", price=27000, idempotency_key="k-1")).json()
        assert body["action"] == "duplicate"
        assert sparky.paper.requests == []


async def test_identical_body_within_window_is_a_duplicate_and_after_it_is_not(start) -> None:
    async with start(duplicate_window_sec=30) as sparky:
        a = await sparky.alert(action="close", symbol="BTCUSDT", price=27000)
        b = await sparky.alert(action="close", symbol="BTCUSDT", price=27000)
        assert a.json()["action"] == "skipped" and b.json()["action"] == "duplicate"  # nothing open to close
    async with start(duplicate_window_sec=0) as sparky:
        a = await sparky.alert(action="close", symbol="BTCUSDT", price=27000)
        b = await sparky.alert(action="close", symbol="BTCUSDT", price=27000)
        assert a.json()["action"] == b.json()["action"] == "skipped"


async def test_fifty_concurrent_signals_for_one_symbol_open_one_position(sparky: Sparky) -> None:
    responses = await asyncio.gather(*(
        sparky.alert(action="buy", symbol="BTCUSDT", price=27000, alert_id=f"burst-{i}") for i in range(50)
    ))
    actions = [r.json()["action"] for r in responses]
    assert actions.count("opened") == 1 and actions.count("skipped") == 49
    entries = [r for r in sparky.paper.requests if r.kind is OrderKind.MARKET]
    assert len(entries) == 1
    assert len(await sparky.paper.positions()) == 1
    assert len(await sparky.services.store.list_positions()) == 1


async def test_queued_signals_for_one_symbol_apply_in_arrival_order(start) -> None:
    # a zero sync budget answers 202 at once, so all five are queued before the first finishes
    async with start(sync_budget_ms=0) as sparky:
        actions = ["buy", "sell", "buy", "sell", "close"]
        ids = []
        for i, action in enumerate(actions):
            response = await sparky.alert(action=action, symbol="BTCUSDT", price=27000 + i, alert_id=f"seq-{i}")
            assert response.status_code == 202
            ids.append(response.json()["request_id"])
        await sparky.services.dispatcher.wait_idle()
        rows = [await sparky.services.store.get_webhook_request(rid) for rid in ids]
        assert [r.result["action"] for r in rows] == ["opened", "reversed", "reversed", "reversed", "closed"]
        exits = [t.exit_price for t in reversed(await sparky.services.store.list_trades(limit=10))]
        assert exits == [D(27001), D(27002), D(27003), D(27004)]
        assert await sparky.paper.position("BTCUSDT") is None


async def test_concurrent_signals_on_different_symbols_all_open(sparky: Sparky) -> None:
    symbols = [f"COIN{i}USDT" for i in range(20)]
    responses = await asyncio.gather(*(
        sparky.alert(action="buy", symbol=s, price=10 + i, position_size_usd=100) for i, s in enumerate(symbols)
    ))
    assert all(r.json()["action"] == "opened" for r in responses)
    assert sorted(p.symbol for p in await sparky.paper.positions()) == sorted(symbols)
    assert len(await sparky.services.store.list_positions()) == 20


async def test_stop_loss_that_cannot_be_placed_flattens_the_position(sparky: Sparky) -> None:
    sparky.paper.fail("stop_loss", times=10)  # the attached bracket and every retry
    response = await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, position_size_usd=2700,
                                  stop_loss_percent=2, take_profit_percent=4)
    body = response.json()
    rid = body["request_id"]
    assert response.status_code == 200
    assert body["success"] is False and body["action"] == "protection_failed"
    assert "position closed at market" in body["error"]
    assert await sparky.paper.position("BTCUSDT") is None
    entry = sparky.paper.requests[0]
    assert (entry.side, entry.kind, entry.quantity, entry.client_order_id) == (
        Side.BUY, OrderKind.MARKET, D("0.1"), client_order_id(rid, "e"))
    # the venue did not attach the bracket; the linked pair was then tried three times
    assert [r.kind for r in sparky.paper.requests[1:-1]] == [OrderKind.STOP, OrderKind.TAKE_PROFIT] * 3
    assert sparky.paper.requests[-1] == OrderRequest("BTCUSDT", Side.SELL, OrderKind.MARKET, D("0.1"),
                                                     client_order_id(rid, "f"), reduce_only=True)
    [trade] = await sparky.services.store.list_trades()
    assert trade.exit_reason == "PROTECTION_FAILED"
    assert await sparky.services.store.get_position(LOCAL_USER_ID, "paper", "BTCUSDT") is None
    row = await sparky.services.store.get_webhook_request(rid)
    assert row.status is RequestStatus.FAILED and "Stop-loss could not be placed" in row.error_message


async def test_stop_loss_placed_on_a_retry_keeps_the_position(sparky: Sparky) -> None:
    sparky.paper.fail("stop_loss", times=2)
    body = (await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, stop_loss_percent=2)).json()
    assert body["action"] == "opened"
    assert body["position"]["stopLossPrice"] == 26460
    assert (await sparky.paper.position("BTCUSDT")).side is Side.BUY


async def test_stop_refused_as_invalid_is_not_retried_and_flattens(start) -> None:
    async with start(paper_attached_brackets=False) as sparky:
        sparky.paper.fail("stop_loss", times=1, error=InvalidOrder("Order would immediately trigger"))
        body = (await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, stop_loss_percent=2)).json()
        assert body["action"] == "protection_failed"
        assert "InvalidOrder" in body["error"]
        assert [r.kind for r in sparky.paper.requests] == [OrderKind.MARKET, OrderKind.STOP, OrderKind.MARKET]
        assert await sparky.paper.position("BTCUSDT") is None


async def test_slow_execution_answers_202_and_records_the_outcome(start) -> None:
    async with start(sync_budget_ms=0) as sparky:
        response = await sparky.alert(action="buy", symbol="BTCUSDT", price=27000)
        assert response.status_code == 202
        rid = response.json()["request_id"]
        await sparky.services.dispatcher.wait_idle()
        outcome = (await sparky.admin_get(f"/webhook/{rid}")).json()
        assert outcome["status"] == "success" and outcome["result"]["action"] == "opened"


def pending_record(signal: Signal, age_sec: float) -> WebhookRequestRecord:
    return WebhookRequestRecord(
        id=str(uuid.uuid4()), status=RequestStatus.PENDING, created_at=utcnow() - timedelta(seconds=age_sec),
        user_id=LOCAL_USER_ID, exchange=signal.exchange, action=signal.action.value, symbol=signal.symbol,
        payload={}, signal=signal.model_dump(mode="json"),
    )


async def test_restart_executes_fresh_pending_requests_and_expires_stale_ones(start) -> None:
    fresh = pending_record(Signal(action="buy", symbol="BTCUSDT", exchange="paper", price=D(27000)), 1)
    stale = pending_record(Signal(action="buy", symbol="ETHUSDT", exchange="paper", price=D(1800)), 600)
    async with start() as sparky:  # a crash left two requests recorded but never executed
        await sparky.services.store.insert_webhook_request(fresh)
        await sparky.services.store.insert_webhook_request(stale)
    async with start() as sparky:
        fresh_row = await sparky.services.store.get_webhook_request(fresh.id)
        stale_row = await sparky.services.store.get_webhook_request(stale.id)
        assert fresh_row.status is RequestStatus.SUCCESS and fresh_row.result["action"] == "opened"
        assert stale_row.status is RequestStatus.EXPIRED
        assert [p.symbol for p in await sparky.paper.positions()] == ["BTCUSDT"]


async def test_restart_after_entry_was_sent_protects_it_and_never_reenters(start) -> None:
    signal = Signal(action="buy", symbol="BTCUSDT", exchange="paper", price=D(27000), stop_loss_percent=D(2))
    record = pending_record(signal, 600)  # too old to start over, but its entry is live
    async with start() as sparky:
        await sparky.services.store.insert_webhook_request(record)
        await sparky.paper.note_price("BTCUSDT", D(27000))
        await sparky.paper.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.022"),
                                                    client_order_id(record.id, "e")))
    async with start() as sparky:
        row = await sparky.services.store.get_webhook_request(record.id)
        assert row.status is RequestStatus.SUCCESS
        kinds = [r.kind for r in sparky.paper.requests]
        assert kinds == [OrderKind.STOP]  # protection only: no second entry
        stored = await sparky.services.store.get_position(LOCAL_USER_ID, "paper", "BTCUSDT")
        assert stored.stop_loss_price == D("26460.0") and stored.quantity == D("0.022")


async def test_positions_and_history_survive_a_restart(start) -> None:
    async with start() as sparky:
        await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, position_size_usd=2700, stop_loss_percent=2)
    async with start() as sparky:
        listing = (await sparky.admin_get("/positions")).json()
        assert listing["totalPositions"] == 1 and listing["positions"][0]["entryPrice"] == 27000
        body = (await sparky.alert(action="close", symbol="BTCUSDT", price=27270)).json()
        assert body["action"] == "closed" and body["pnl"] == {"usd": 27, "percent": 1}


async def test_a_signal_that_cannot_be_recorded_is_refused_with_503_and_not_executed(sparky: Sparky) -> None:
    await sparky.services.store.aclose()  # the database is gone
    response = await sparky.alert(action="buy", symbol="BTCUSDT", price=27000)
    assert response.status_code == 503
    assert response.json()["error"] == "Signal not recorded, nothing was executed; retry shortly"
    assert sparky.paper.requests == []
    health = await sparky.client.get("/health")
    assert health.status_code == 503 and health.json()["store"] == {"ok": False}


async def test_shutdown_finishes_in_flight_executions_before_closing(start) -> None:
    async with start(sync_budget_ms=0) as sparky:
        rid = (await sparky.alert(action="buy", symbol="BTCUSDT", price=27000)).json()["request_id"]
    # the lifespan has ended: the execution was allowed to finish and its outcome recorded
    async with start() as sparky:
        row = await sparky.services.store.get_webhook_request(rid)
        assert row.status is RequestStatus.SUCCESS
        assert [p.symbol for p in await sparky.paper.positions()] == ["BTCUSDT"]


async def test_a_market_entry_the_venue_does_not_fill_is_cancelled_and_reported(sparky: Sparky) -> None:
    await sparky.paper.note_price("BTCUSDT", D(27000))
    sparky.paper.fail("place_order", error=OutcomeUnknown("paper: no answer"), applied=False)
    response = await sparky.alert(action="buy", symbol="BTCUSDT", price=27000)
    body = response.json()
    # the order never reached the venue and a look-up by client id finds nothing: a failure, no position
    assert response.status_code == 200 and body["success"] is False and body["action"] == "failed"
    assert await sparky.paper.position("BTCUSDT") is None
