"""Crash recovery: a request interrupted after its orders reached the venue finishes with the answer
the uninterrupted request would have given, built from the venue and the store, sending nothing twice.

The crash is reproduced by losing the database at a chosen write: from that write on nothing is
recorded (as after kill -9), while the paper venue keeps what it filled. Then the app restarts on
the same data dir and recovers the pending request.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import httpx
import pytest
import respx

from sparky.exchanges.base import OrderKind, OrderRequest, Side
from sparky.execution.orders import client_order_id
from sparky.signals.auth import LOCAL_USER_ID
from sparky.store.base import RequestStatus, Store, StoreUnavailable, WebhookRequestRecord, utcnow
from tests.conftest import Sparky, make_settings, running
from tests.unit.exchanges.aster.test_aster import BASE, KEY, SECRET, FakeAster

WRITES = ("insert_webhook_request", "finish_webhook_request", "finish_execution", "record_execution",
          "upsert_position", "delete_position", "record_close", "put_resting_entry", "delete_resting_entry")

OPEN_LONG = {"action": "buy", "symbol": "BTCUSDT", "price": 27000, "position_size_usd": 2700, "stop_loss_percent": 2}
SIGNALS = {
    "close": {"action": "close", "symbol": "BTCUSDT", "price": 27270},
    "reverse": {"action": "sell", "symbol": "BTCUSDT", "price": 27270, "position_size_usd": 2700,
                "stop_loss_percent": 2},
}


def lose_database_from(monkeypatch: pytest.MonkeyPatch, store: Store, first_lost: str) -> None:
    """From the first `first_lost` write on, no write reaches the database (reads still do)."""
    lost = False
    for name in WRITES:
        write = getattr(store, name)

        async def guarded(*args: Any, _write: Any = write, _name: str = name, **kwargs: Any) -> Any:
            nonlocal lost
            lost = lost or _name == first_lost
            if lost:
                raise StoreUnavailable("database lost")
            return await _write(*args, **kwargs)

        monkeypatch.setattr(store, name, guarded)


def essentials(body: dict) -> dict:
    """What a user reads in an answer, without the ids and times that differ from run to run."""
    def order(o: dict) -> dict:
        return {k: o[k] for k in ("side", "type", "quantity", "status", "filledQuantity", "averagePrice")}

    def closing(c: dict) -> dict:
        return {"pnl": c["pnl"], "closeOrder": order(c["closeOrder"])}

    out = {k: body[k] for k in ("success", "action", "symbol", "exchange", "warning") if k in body}
    if "closeOrder" in body:
        out.update(closing(body))
    if "entryOrder" in body:
        out["entryOrder"] = order(body["entryOrder"])
    if "position" in body:
        out["position"] = {k: body["position"][k] for k in ("side", "quantity", "entryPrice", "stopLossPrice",
                                                            "takeProfitPrice")}
    if "reversed" in body:
        out["reversed"] = closing(body["reversed"])
    return out


async def book(sparky: Sparky) -> dict:
    """The trades, positions and venue state a user would look at."""
    return {
        "trades": [(t.side, t.exit_reason, t.quantity, t.entry_price, t.exit_price, t.pnl_usd)
                   for t in await sparky.services.store.list_trades()],
        "positions": [(p.side, p.quantity, p.entry_price, p.stop_loss_price)
                      for p in await sparky.services.store.list_positions()],
        "venue": await sparky.paper.positions(),
        "resting": sorted((o.side, o.kind, o.trigger_price) for o in await sparky.paper.open_orders("BTCUSDT")),
    }


@pytest.mark.parametrize(("signal", "crash_at"), [
    ("close", "finish_execution"),      # the close filled; neither its trade nor the request's status was written
    ("reverse", "record_close"),        # the reversal's close filled; nothing after it happened
    ("reverse", "finish_execution"),    # the new entry filled and is protected; its position, the status: not
])
async def test_a_request_resumed_after_its_close_filled_answers_as_if_uninterrupted(
        start, tmp_path, monkeypatch, signal: str, crash_at: str) -> None:
    async with running(make_settings(tmp_path / "uninterrupted")) as reference:
        assert (await reference.alert(**OPEN_LONG)).json()["action"] == "opened"
        expected = (await reference.alert(**SIGNALS[signal])).json()
        expected_book = await book(reference)
    assert expected["action"] == {"close": "closed", "reverse": "reversed"}[signal]

    async with start() as sparky:
        assert (await sparky.alert(**OPEN_LONG)).json()["action"] == "opened"
        lose_database_from(monkeypatch, sparky.services.store, crash_at)
        rid = (await sparky.alert(**SIGNALS[signal])).json()["request_id"]
        assert (await sparky.services.store.get_webhook_request(rid)).status is RequestStatus.PENDING
        sent_before = [r.client_order_id for r in sparky.paper.requests]

    async with start() as sparky:  # the restart recovers the pending request
        row = await sparky.services.store.get_webhook_request(rid)
        assert row.status is RequestStatus.SUCCESS
        assert essentials(row.result) == essentials(expected)
        assert await book(sparky) == expected_book
        # only what the crash kept from being sent goes out now, and no client id is ever sent twice
        resent = [(r.side, r.kind, r.client_order_id) for r in sparky.paper.requests]
        missing = signal == "reverse" and crash_at == "record_close"
        assert resent == ([(Side.SELL, OrderKind.MARKET, client_order_id(rid, "e"))] if missing else [])
        sent = sent_before + [r.client_order_id for r in sparky.paper.requests]
        assert len(sent) == len(set(sent))


async def test_a_request_resumed_after_its_emergency_close_filled_reports_the_failed_protection(
        start, monkeypatch) -> None:
    async with start() as sparky:
        sparky.paper.fail("stop_loss", times=10)  # the stop never goes on: the entry is closed at market
        lose_database_from(monkeypatch, sparky.services.store, "record_close")
        rid = (await sparky.alert(**OPEN_LONG)).json()["request_id"]
        assert (await sparky.services.store.get_webhook_request(rid)).status is RequestStatus.PENDING

    async with start() as sparky:
        row = await sparky.services.store.get_webhook_request(rid)
        assert (row.status, row.result["action"]) == (RequestStatus.FAILED, "protection_failed")
        assert row.result["error"] == "Stop-loss could not be placed; position closed at market"
        assert row.result["closeOrder"]["clientOrderId"] == client_order_id(rid, "f")
        assert row.result["pnl"] == {"usd": 0, "percent": 0}
        assert sparky.paper.requests == []  # no stop for a flat position, no second close
        assert await sparky.paper.open_orders() == []
        [trade] = await sparky.services.store.list_trades()
        assert (trade.exit_reason, trade.quantity, trade.exit_price) == ("PROTECTION_FAILED", D("0.1"), D(27000))
        assert await sparky.services.store.list_positions() == []


def pending(signal: dict, age_sec: float) -> WebhookRequestRecord:
    return WebhookRequestRecord(
        id=str(uuid.uuid4()), status=RequestStatus.PENDING, created_at=utcnow() - timedelta(seconds=age_sec),
        user_id=LOCAL_USER_ID, exchange=signal["exchange"], action=signal["action"], symbol=signal["symbol"],
        payload={}, signal=signal,
    )


async def test_one_request_that_cannot_be_recovered_does_not_stop_start_up(start, tmp_path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"aster": {"apiUrl": BASE, "apiKey": KEY, "apiSecret": SECRET}}))
    unreachable = pending({"action": "buy", "symbol": "BTCUSDT", "exchange": "aster"}, 600)  # did it act?
    unreadable = pending({"action": "teleport", "symbol": "BTCUSDT", "exchange": "paper"}, 1)
    fresh = pending({"action": "buy", "symbol": "ETHUSDT", "exchange": "paper", "price": "1800"}, 1)
    async with start() as sparky:
        for record in (unreachable, unreadable, fresh):  # oldest first: the unreachable one is recovered first
            await sparky.services.store.insert_webhook_request(record)

    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=httpx.ConnectError("connection refused"))
        async with start(config_path=config) as sparky:  # started: the failure stayed with its request
            rows = [await sparky.services.store.get_webhook_request(r.id) for r in (unreachable, unreadable, fresh)]
            assert [r.status for r in rows] == [RequestStatus.PENDING, RequestStatus.REJECTED, RequestStatus.SUCCESS]
            assert rows[1].error_message == "Recorded without a valid signal"
            assert [p.symbol for p in await sparky.paper.positions()] == ["ETHUSDT"]

    venue = FakeAster()
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        async with start(config_path=config) as sparky:  # the venue answers again: no order of it exists
            row = await sparky.services.store.get_webhook_request(unreachable.id)
            assert row.status is RequestStatus.EXPIRED
            assert venue.sent_orders() == []


async def test_a_resumed_close_never_takes_a_newer_position_for_the_one_it_closed(start) -> None:
    close = pending({"action": "close", "symbol": "BTCUSDT", "exchange": "paper", "price": "27270"}, 600)
    async with start() as sparky:
        assert (await sparky.alert(**OPEN_LONG)).json()["action"] == "opened"
        await sparky.services.store.insert_webhook_request(close)  # its close fills, then the crash
        await sparky.paper.note_price("BTCUSDT", D(27270))
        await sparky.paper.place_order(OrderRequest("BTCUSDT", Side.SELL, OrderKind.MARKET, D("0.1"),
                                                    client_order_id(close.id, "x"), reduce_only=True))
        # meanwhile (another server on the same database) a new long is opened and protected
        assert (await sparky.alert(**{**OPEN_LONG, "price": 27300})).json()["action"] == "opened"
        held = await book(sparky)
    assert held["positions"] == [("BUY", D("0.098"), D(27300), D("26754.0"))]

    async with start() as sparky:
        assert (await sparky.services.store.get_webhook_request(close.id)).status.is_terminal
        assert sparky.paper.requests == []
        assert await book(sparky) == held  # the new long keeps its row and its stop


@pytest.mark.parametrize("crash_at", [
    "put_resting_entry",       # the limit rests on the venue; its record was not written
    "finish_execution",        # the record was written; the request was not finished
])
async def test_a_limit_entry_resting_at_the_crash_is_recorded_at_restart_never_resent(
        start, tmp_path, monkeypatch, crash_at: str) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"riskManagement": {"maxPositions": 1}}))
    limit = {"action": "buy", "symbol": "BTCUSDT", "order_type": "limit", "price": 26000, "position_size_usd": 2600}
    async with start(config_path=config) as sparky:
        await sparky.paper.note_price("BTCUSDT", D(27000))
        lose_database_from(monkeypatch, sparky.services.store, crash_at)
        rid = (await sparky.alert(**limit)).json()["request_id"]
        assert (await sparky.services.store.get_webhook_request(rid)).status is RequestStatus.PENDING

    async with start(config_path=config) as sparky:
        row = await sparky.services.store.get_webhook_request(rid)
        # its own resting entry is neither cancelled nor counted against maxPositions a second time
        assert (row.status, row.result["action"], row.result["order"]["status"]) == (
            RequestStatus.SUCCESS, "order_placed", "OPEN")
        assert sparky.paper.requests == []
        [entry] = await sparky.services.store.list_resting_entries()
        assert (entry.client_order_id, entry.request_id) == (client_order_id(rid, "e"), rid)
        [resting] = await sparky.paper.open_orders("BTCUSDT")
        assert resting.client_order_id == entry.client_order_id
